"""Where things live. Every relative path a notebook or parameter names is resolved
against the project root (not the working directory), so notebooks run the same under
papermill, nbval, JupyterLab and the CLI.

Override with environment variables: ``EBPM_PROJECT_ROOT`` (the whole tree) or
``EBPM_DATA_DIR`` (only ``data/``, e.g. a pre-seeded share on a closed network).
"""

from __future__ import annotations

import functools
import json
import os
import tempfile
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


#: ``{final folder: staging folder}`` (JSON) of the run in progress: ``ebpm run`` has a notebook write its
#: ``output_dir`` into a staging folder that replaces the final one only when the run succeeds
#: (:func:`ebpm_analysis.pipeline.execute.run_notebook`), so a failed or killed run leaves the previous
#: outputs in place. :func:`resolve` sends paths inside the final folder to the staging one;
#: :func:`relative` names them by the final folder (reports never show the staging name).
STAGE_ENV = "EBPM_STAGE_DIRS"


@functools.lru_cache(maxsize=8)
def _stages(spec: str) -> tuple[tuple[Path, Path], ...]:
    return tuple((Path(k), Path(v)) for k, v in json.loads(spec).items()) if spec else ()


def _restage(p: Path, back: bool = False) -> Path:
    for final, stage in _stages(os.environ.get(STAGE_ENV, "")):
        src, dst = (stage, final) if back else (final, stage)
        if p == src or src in p.parents:
            return dst / p.relative_to(src)
    return p


def resolve(path: str | os.PathLike) -> Path:
    """Resolve ``path`` against the project root unless it is absolute.

    ``data/...`` paths honour ``EBPM_DATA_DIR``; during an ``ebpm run``, the run's output folder is its
    staging folder (:data:`STAGE_ENV`).
    """
    p = Path(path)
    if not p.is_absolute():
        parts = p.parts
        p = DATA_DIR.joinpath(*parts[1:]) if parts and parts[0] == "data" else PROJECT_ROOT / p
    return _restage(p)


def raw(*parts: str) -> Path:
    return RAW_DIR.joinpath(*parts)


def processed(*parts: str) -> Path:
    return PROCESSED_DIR.joinpath(*parts)


def interim(*parts: str) -> Path:
    return INTERIM_DIR.joinpath(*parts)


def relative(path: str | os.PathLike) -> str:
    """Path relative to the project root when inside it (for reports: no machine paths)."""
    p = _restage(Path(path).resolve(), back=True)
    for base in (PROJECT_ROOT, DATA_DIR.parent):
        try:
            return p.relative_to(base).as_posix()
        except ValueError:
            continue
    return p.name


_SCRATCH: list = []


def scratch(prefix: str) -> Path:
    """A folder of this process's own for intermediate files (e.g. 03's ingested Parquet), removed when the
    process ends; under ``ebpm run`` it lies in the run's temporary folder. Two runs never share one."""
    d = tempfile.TemporaryDirectory(prefix=prefix)
    _SCRATCH.append(d)   # kept alive until the process (the notebook's kernel) ends
    return Path(d.name)
