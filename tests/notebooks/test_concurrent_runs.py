"""Two `ebpm run` of the same notebook at once (issue 15): both succeed and export identical tables.

The two runs share ``data/interim`` (generated data sets are built once: a second writer keeps the first complete
copy) and each stages its exports before moving them into place; each has its own temporary folder. Small sizes
(tests/national/national_sample.SMALL) keep the test cheap; sizes other than the defaults also mean that on a fresh
checkout both runs generate their synthetic set at the same moment.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ebpm_analysis.pipeline import params as P

import baseline  # tests/notebooks/baseline.py (pytest puts this folder on sys.path)
import national_sample  # tests/national (tests/conftest.py puts it on sys.path)

pytestmark = pytest.mark.notebooks

ROOT = Path(__file__).resolve().parents[2]
#: 07 reads the real police records; smaller power grids are its cheap setting.
EXTRA = {"07_policy_evaluation": ["-p", "months_post=[12]", "-p", "n_grid=[20, 40]"]}


#: folium names each map element with a random uuid4 hex (map_ad4f…): different in every run, concurrent or not.
FOLIUM_ID = re.compile(rb"([a-z_]+)_[0-9a-f]{32}")


def _differences(a: Path, b: Path, rel: Path) -> list[str]:
    """CSV exports compared as the baseline test does (numbers within its rtol: pyfixest's sums differ in the
    last digits between any two runs); maps with folium's random element ids blanked; other files byte for byte."""
    x, y = (a / rel).read_bytes(), (b / rel).read_bytes()
    if rel.suffix == ".csv":
        return baseline.compare_table(baseline._read(x), baseline._read(y), str(rel))
    if rel.suffix == ".html":
        x, y = FOLIUM_ID.sub(rb"\1_ID", x), FOLIUM_ID.sub(rb"\1_ID", y)
    return [] if x == y else [f"{rel}: files differ"]


def _small(name: str) -> list[str]:
    return national_sample.override_args(name) if name in national_sample.SMALL else EXTRA.get(name, [])


@pytest.mark.parametrize("name", P.list_notebooks())
def test_two_concurrent_runs_succeed_with_identical_exports(name, tmp_path):
    env = os.environ | {"TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    procs = []
    for side in ("a", "b"):
        cmd = [sys.executable, "-m", "ebpm_analysis.cli", "run", name, *_small(name),
               "-p", f"output_dir={tmp_path / side / 'exports'}", "--out-dir", str(tmp_path / side / "reports")]
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    for p in procs:
        out, err = p.communicate(timeout=1200)
        assert p.returncode == 0, f"{name}: a concurrent run failed:\n{out}\n{err}"
    a, b = (tmp_path / side / "exports" for side in ("a", "b"))
    files = sorted(f.relative_to(a) for f in a.rglob("*") if f.is_file())
    assert files, f"{name} exported nothing"
    assert files == sorted(f.relative_to(b) for f in b.rglob("*") if f.is_file())
    different = [d for f in files for d in _differences(a, b, f)]
    assert not different, f"{name}: the two runs exported different files: {different[:5]}"
    assert not list((tmp_path / "tmp").iterdir()), "a run left temporary files behind"
    for side in ("a", "b"):   # no staging folder left beside the exports
        assert sorted(p.name for p in (tmp_path / side).iterdir()) == ["exports", "reports"]
