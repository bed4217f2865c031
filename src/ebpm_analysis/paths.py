"""Where things live. Every relative path a notebook or parameter names is resolved
against the project root (not the working directory), so notebooks run the same under
papermill, nbval, JupyterLab and the CLI.

Override with environment variables: ``EBPM_PROJECT_ROOT`` (the whole tree) or
``EBPM_DATA_DIR`` (only ``data/``, e.g. a pre-seeded share on a closed network).
"""

from __future__ import annotations

import os
from pathlib import Path


def _find_root() -> Path:
    env = os.environ.get("EBPM_PROJECT_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists() and (parent / "notebooks").is_dir():
            return parent
    # Installed without the source tree: fall back to the working directory.
    return Path.cwd().resolve()


PROJECT_ROOT = _find_root()
DATA_DIR = Path(os.environ.get("EBPM_DATA_DIR", PROJECT_ROOT / "data")).resolve()
RAW_DIR = DATA_DIR / "raw"
PROCESSED_DIR = DATA_DIR / "processed"
INTERIM_DIR = DATA_DIR / "interim"
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
PARAMS_DIR = NOTEBOOKS_DIR / "params"
REPORTS_DIR = PROJECT_ROOT / "reports"
BUILD_DIR = PROJECT_ROOT / "build"
CATALOG_DIR = DATA_DIR / "catalog"  # one YAML file per dataset (io.catalog)
BENCH_DIR = BUILD_DIR / "bench"  # `make bench`: <name>.json per benchmarks/bench_<name>.py, summary.md


def resolve(path: str | os.PathLike) -> Path:
    """Resolve ``path`` against the project root unless it is absolute.

    ``data/...`` paths honour ``EBPM_DATA_DIR``.
    """
    p = Path(path)
    if p.is_absolute():
        return p
    parts = p.parts
    if parts and parts[0] == "data":
        return DATA_DIR.joinpath(*parts[1:])
    return PROJECT_ROOT / p


def raw(*parts: str) -> Path:
    return RAW_DIR.joinpath(*parts)


def processed(*parts: str) -> Path:
    return PROCESSED_DIR.joinpath(*parts)


def interim(*parts: str) -> Path:
    return INTERIM_DIR.joinpath(*parts)


def relative(path: str | os.PathLike) -> str:
    """Path relative to the project root when inside it (for reports: no machine paths)."""
    p = Path(path).resolve()
    for base in (PROJECT_ROOT, DATA_DIR.parent):
        try:
            return p.relative_to(base).as_posix()
        except ValueError:
            continue
    return p.name
