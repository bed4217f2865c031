"""`ruff check` (configuration in pyproject.toml) passes on the package, the tests, the benchmarks and the notebooks."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
LINTED = ["src", "tests", "benchmarks", "notebooks"]


def test_ruff_check_passes():
    ruff = Path(sys.executable).with_name("ruff")
    cmd = [str(ruff) if ruff.exists() else "ruff", "check", "--no-cache", *LINTED]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, f"{' '.join(cmd[1:])} failed:\n{r.stdout}{r.stderr}"
