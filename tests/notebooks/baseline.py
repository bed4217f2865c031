"""Exported tables of each notebook's default run, kept as a baseline so that a refactor can
prove it changed no number (issue 10), and a method change shows exactly what it changed.

    python tests/notebooks/baseline.py update   # after `make reports`: copy the default runs' CSVs

The baseline is every CSV a default run writes to its ``output_dir``, gzipped, under
``tests/fixtures/baseline_exports/<notebook>/``. Regenerate it only together with a change that is
meant to change numbers (a method or data change), and say so in the commit message.
00_data_catalog is left out: its tables describe the files in data/raw (sizes, rows, checks), which
change whenever a dataset is added, not when an analysis changes.
"""

from __future__ import annotations

import gzip
import shutil
import sys
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
BASELINE_DIR = ROOT / "tests" / "fixtures" / "baseline_exports"
EXCLUDED = {"00_data_catalog"}
RTOL = 1e-9  # floating-point reordering only; any real change of a number is far larger


def output_dir(notebook: str) -> Path:
    from ebpm_analysis import paths
    from ebpm_analysis.pipeline import params as P

    nb = P.notebook_path(notebook)
    values = {k: p.default for k, p in P.inspect_parameters(nb).items()}
    f = P.params_file(notebook, "default")
    if f is not None:
        values.update(P.load_params_file(f))
    return paths.resolve(values["output_dir"])


def baseline_files(notebook: str) -> list[Path]:
    return sorted((BASELINE_DIR / notebook).glob("*.csv.gz"))


def _read(data: bytes) -> pd.DataFrame:
    return pd.read_csv(BytesIO(data), dtype=str, keep_default_na=False, encoding="utf-8-sig")


def compare_table(expected: pd.DataFrame, actual: pd.DataFrame, label: str) -> list[str]:
    """Differences between two tables read as text: same columns and rows; numbers within RTOL."""
    if list(expected.columns) != list(actual.columns):
        return [f"{label}: columns {list(actual.columns)} != baseline {list(expected.columns)}"]
    if len(expected) != len(actual):
        return [f"{label}: {len(actual)} rows != baseline {len(expected)}"]
    problems = []
    for col in expected.columns:
        e, a = expected[col], actual[col]
        if (e == a).all():
            continue
        en, an = pd.to_numeric(e, errors="coerce"), pd.to_numeric(a, errors="coerce")
        numeric = en.notna() & an.notna()
        text_diff = ~numeric & (e != a)
        close = np.isclose(en[numeric].astype(float), an[numeric].astype(float), rtol=RTOL, atol=0)
        bad_rows = list(e.index[text_diff]) + list(en[numeric].index[~close])
        if bad_rows:
            i = bad_rows[0]
            problems.append(f"{label}: column {col!r} differs in {len(bad_rows)} rows, first row {i}: "
                            f"{a[i]!r} != baseline {e[i]!r}")
    return problems


def compare(notebook: str, out_dir: Path | None = None) -> list[str]:
    out_dir = out_dir or output_dir(notebook)
    problems = []
    expected_names = {p.name[:-3] for p in baseline_files(notebook)}
    actual_names = {p.name for p in out_dir.glob("*.csv")}
    if expected_names - actual_names:
        problems.append(f"{notebook}: missing exports {sorted(expected_names - actual_names)}")
    if actual_names - expected_names:
        problems.append(f"{notebook}: new exports not in the baseline {sorted(actual_names - expected_names)}")
    for name in sorted(expected_names & actual_names):
        expected = _read(gzip.decompress((BASELINE_DIR / notebook / f"{name}.gz").read_bytes()))
        actual = _read((out_dir / name).read_bytes())
        problems += compare_table(expected, actual, f"{notebook}/{name}")
    return problems


def update(notebooks: list[str]) -> None:
    for nb in notebooks:
        src = output_dir(nb)
        dest = BASELINE_DIR / nb
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        for f in sorted(src.glob("*.csv")):
            # mtime=0: the same table gives the same bytes, so git sees no change.
            (dest / f"{f.name}.gz").write_bytes(gzip.compress(f.read_bytes(), mtime=0))
        print(f"{nb}: {len(list(dest.iterdir()))} tables from {src}")


if __name__ == "__main__":
    from ebpm_analysis.pipeline import params as P

    if sys.argv[1:2] != ["update"]:
        sys.exit(__doc__)
    update(sys.argv[2:] or [n for n in P.list_notebooks() if n not in EXCLUDED])
