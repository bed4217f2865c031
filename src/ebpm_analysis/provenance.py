"""Provenance: which input files a run read (with sha256), package versions, git state.

Loaders call :func:`record_input` for every file they read. When the CLI executes a
notebook it sets ``EBPM_RUN_LOG`` to a file; each record is appended there as one JSON
line so the parent process can put the list into the report's provenance footer.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
from importlib import metadata
from pathlib import Path

from . import paths

_RECORDED: dict[str, dict] = {}
_SUSPENDED = 0

REPORTED_PACKAGES = (
    "ebpm-analysis", "pandas", "numpy", "geopandas", "shapely", "pyproj", "statsmodels",
    "matplotlib", "duckdb", "pyarrow", "esda", "spopt", "scikit-learn", "papermill", "nbconvert",
    "pyfixest", "highspy", "pyspark",   # named in no report text: the provenance says which versions computed it
)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


@contextlib.contextmanager
def suspended():
    """Do not record reads inside this block (a generator reading calibration data is not an
    input of the analysis; otherwise a report's label would depend on whether a cache existed)."""
    global _SUSPENDED
    _SUSPENDED += 1
    try:
        yield
    finally:
        _SUSPENDED -= 1


def record_input(path: str | os.PathLike, nature: str = "real", dataset: str | None = None) -> dict | None:
    """Record that this run read ``path``. ``nature`` is ``"real"`` or ``"synthetic"``."""
    if nature not in ("real", "synthetic"):
        raise ValueError(f"nature must be 'real' or 'synthetic', not {nature!r}")
    if _SUSPENDED:
        return None
    p = Path(path)
    files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    entries = []
    for f in files:
        entry = {
            "path": paths.relative(f),
            "sha256": sha256_file(f),
            "bytes": f.stat().st_size,
            "nature": nature,
            "dataset": dataset or f.parent.name,
        }
        _RECORDED[entry["path"]] = entry
        entries.append(entry)
        log = os.environ.get("EBPM_RUN_LOG")
        if log:   # the run's log also keeps the full path (for "up to date" checks; never printed in reports)
            with open(log, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry | {"resolved": str(f.resolve())}, ensure_ascii=False) + "\n")
    return entries[0] if len(entries) == 1 else {"path": paths.relative(p), "files": entries}


def recorded_inputs() -> list[dict]:
    return list(_RECORDED.values())


def data_nature(entries: list[dict]) -> str:
    """'real', 'synthetic' or 'mixed' for a list of recorded inputs."""
    kinds = {e["nature"] for e in entries}
    if not kinds:
        return "none"
    if kinds == {"real"}:
        return "real"
    if kinds == {"synthetic"}:
        return "synthetic"
    return "mixed"


def package_versions(names=REPORTED_PACKAGES) -> dict[str, str]:
    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_state(root: Path | None = None) -> dict:
    root = root or paths.PROJECT_ROOT
    def _git(*args):
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
    try:
        head = _git("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"commit": None, "dirty": None}
        status = _git("status", "--porcelain", "--untracked-files=no")
        return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
