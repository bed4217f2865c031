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
    return national_sample.override_args(name)


#: Notebooks run twice at once. Every generator writes its set through one function (io.common.build_dir_once,
#: unit-tested with a racing writer in tests/unit/test_io_common.py, which also checks that every generator's
#: ensure_* returns it) and every run stages its exports the same way
#: (pipeline.execute), so two notebooks stand for all: 02 (workbooks of one sheet per facility) and 03 (one
#: generated probe set, which each run ingests into its own scratch Parquet dataset). That the same
#: inputs give the same numbers is checked for every notebook by test_run_all's comparison with the baseline.
CONCURRENT = ("02_dental_checkups", "03_probe_slowdowns")


def test_concurrent_notebooks_exist():
    assert set(CONCURRENT) <= set(P.list_notebooks())


@pytest.mark.parametrize("name", CONCURRENT)
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
