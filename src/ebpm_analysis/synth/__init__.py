"""Seeded generators, one per case. Each writes data in the *real* file format a city would
receive (so the synthetic path exercises the real loader) plus its planted truth beside it.
Everything they produce is labelled synthetic.

Conventions every generator follows (census, dental, probe do; new ones must):

- ``ensure_<case>(seed, *, city_code, out_dir=None, **sizes) -> Path``: writes the set once through
  :func:`ebpm_analysis.io.common.build_dir_once` into ``out_dir / <key>`` (``<key>`` encodes every
  parameter and the module's ``GENERATOR_VERSION``, so a changed parameter gives a new folder) and
  returns that folder. ``out_dir`` defaults to ``data/interim/<notebook>/synthetic``.
- The module's ``FILES`` maps each input kind to its name inside the folder; notebooks pass it to
  :func:`ebpm_analysis.inputs.resolve_input` (``name=FILES["…"]``).
- Planted truth: ``truth.json`` (a JSON object) plus tables ``truth_<name>.csv`` / ``.parquet``,
  in the folder itself or in its ``truth/`` sub-folder (there any ``<name>.csv`` / ``.parquet``
  is a truth table). Columns ending in ``_code`` or ``_id`` are codes (text). Read it with the one
  :func:`read_truth`.
- Bump ``GENERATOR_VERSION`` whenever the written data change; :func:`set_key` also folds the
  boundary file's hash and the generator's own source into the key, so a set written before the
  polygons or the code changed is never reused.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

__all__ = ["Truth", "read_truth", "TRUTH_FILE", "set_key"]

TRUTH_FILE = "truth.json"


@dataclass(frozen=True)
class Truth:
    """The planted truth of a synthetic set.

    Attributes
    ----------
    meta : dict
        Contents of ``truth.json`` (generator, seed, city and the planted facts).
    tables : dict of str to DataFrame
        Truth tables by name (``truth_districts.csv`` → ``"districts"``; in a ``truth/`` folder
        ``hazards.csv`` → ``"hazards"``). GeoParquet files are read as GeoDataFrames.
    folder : Path
        Where the truth was read from.
    """

    meta: dict
    tables: dict = field(default_factory=dict)
    folder: Path | None = None

    def __getitem__(self, key: str):
        """``truth["x"]``: the key of ``truth.json``."""
        return self.meta[key]

    def get(self, key: str, default=None):
        return self.meta.get(key, default)


def set_key(label: str, spec: dict, *modules: str) -> str:
    """Folder name of a generated set: ``<label>_<digest>``. The digest covers ``spec`` (every
    parameter that changes the output, with the module's ``GENERATOR_VERSION``), the hash of the
    national boundary file and the source text of ``modules`` (e.g. ``"ebpm_analysis.synth.census"``,
    ``"ebpm_analysis.geo"``): data written before the polygons or the generator changed get another
    folder and are never reused."""
    from .. import geo
    from ..provenance import sha256_file
    h = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode())
    h.update(sha256_file(geo.BOUNDARIES_FILE).encode())
    for m in modules:
        h.update(Path(importlib.import_module(m).__file__).read_bytes())
    return f"{label}_{h.hexdigest()[:12]}"


def _truth_dir(folder_or_file: str | os.PathLike) -> Path:
    p = Path(folder_or_file)
    if p.is_file():
        return p.parent
    if (p / TRUTH_FILE).exists():
        return p
    if (p / "truth" / TRUTH_FILE).exists():
        return p / "truth"
    raise FileNotFoundError(f"no {TRUTH_FILE} in {p} or {p / 'truth'}")


def _read_table(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        import geopandas as gpd
        import pyarrow.parquet as pq
        if b"geo" in (pq.read_schema(path).metadata or {}):
            return gpd.read_parquet(path)
        return pd.read_parquet(path)
    head = pd.read_csv(path, nrows=0).columns
    text = {c: str for c in head if c.endswith("_code") or c.endswith("_id")}
    return pd.read_csv(path, dtype=text)


def read_truth(folder_or_file: str | os.PathLike) -> Truth:
    """Read a generated set's planted truth.

    Parameters
    ----------
    folder_or_file : path
        The set's folder (as returned by ``ensure_<case>``), its ``truth/`` sub-folder, or the
        ``truth.json`` file itself (e.g. :attr:`ebpm_analysis.inputs.ResolvedInput.truth`).

    Returns
    -------
    Truth
        ``meta`` from ``truth.json`` and the truth ``tables``.
    """
    d = _truth_dir(folder_or_file)
    meta = json.loads((d / TRUTH_FILE).read_text(encoding="utf-8"))
    dedicated = d.name == "truth"
    tables = {}
    for f in sorted(d.iterdir()):
        if f.suffix not in (".csv", ".parquet") or f.name.startswith("."):
            continue
        if f.stem.startswith("truth_"):
            tables[f.stem[len("truth_"):]] = _read_table(f)
        elif dedicated:
            tables[f.stem] = _read_table(f)
    return Truth(meta=meta, tables=tables, folder=d)
