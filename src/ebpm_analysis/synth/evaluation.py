"""Planted measures in the real police accident records, for case 7 (policy evaluation).

No city has published an evaluated road-safety measure with its accident records, so this module takes
the **real** 本票 records of the city (2019–2021) and removes records as a measure would have prevented
them (binomial thinning, which keeps the records' real times, places and every other column; the records
of the other municipalities of the prefecture are written unchanged):

- **ゾーン30-style measures in 500 m meshes with staggered starts**: ``n_treated`` meshes drawn at
  random from the candidate meshes (those with at least ``min_accidents`` accidents in the period),
  spread evenly over ``start_months``; from its start month, each accident in a treated mesh is kept
  with probability ``1 + effect`` (default −20 %). The other candidates stay untreated (the comparison
  group a city would have: candidate sites not yet treated).
- **A city-wide measure** from ``city_start`` with ``city_effect`` (every accident of the city), for the
  synthetic-control example: the other municipalities of the prefecture keep their real records and
  are the donor pool. (The city-wide factor multiplies treated and comparison meshes alike, so it
  does not change the ゾーン30 effect relative to its counterfactual.)
- **A violation of parallel trends** (switch ``violation``) in the treated meshes only:
  ``"trend"`` — their accidents change by ``violation_size`` per year over the whole period (e.g. −0.25:
  already falling before the measure); ``"selection"`` — they were chosen after a bad spell: accidents
  are ``1 + violation_size`` times the usual level in the ``selection_months`` before the start
  (regression to the mean follows). The planted effect is relative to this counterfactual.

Files (``FILES``): the thinned records as a published ``honhyo`` CSV (cp932, 2019–2021 layout, read by
:func:`ebpm_analysis.io.npa_accidents.read_honhyo_csv`), the measure register ``measures.csv`` (read by
:func:`ebpm_analysis.io.measures.read_measures`), ``truth.json`` and ``truth_meshes.csv`` (read with
:func:`ebpm_analysis.synth.read_truth`).
Deterministic for a seed. Labelled synthetic everywhere. The planted sizes are our choice, not published
effects (docs/sources.md#planted-measures).

The same assignment and keep probabilities work on count matrices (:func:`plant_counts`), which the
tests and the power simulation use: thinning each record independently with probability *p* gives a
cell count distributed Binomial(n, p), exactly what :func:`plant_counts` draws.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .. import lookups, paths
from ..cases import evaluation as ce
from ..errors import ParameterError
from ..io import npa_accidents as na
from ..io.common import build_dir_once, write_csv
from ..provenance import suspended
from . import TRUTH_FILE

#: Bump when the written data change (cache key).
GENERATOR_VERSION = 3
FILES = {"accidents": "honhyo_2019-2021_planted.csv", "measures": "measures.csv"}
VIOLATIONS = ("none", "trend", "selection")


@dataclass(frozen=True)
class PlantDesign:
    """What the generator plants (all of it goes to ``truth.json``)."""

    start: str = "2019-01"
    end: str = "2021-12"
    mesh_level: int = 4
    min_accidents: int = 8
    n_treated: int = 40
    start_months: tuple = ("2020-07", "2021-01", "2021-07")
    effect: float = -0.20
    violation: str = "none"
    violation_size: float = 0.0
    selection_months: int = 6
    city_effect: float = -0.20
    city_start: str = "2020-10"

    def check(self) -> None:
        if self.violation not in VIOLATIONS:
            raise ParameterError("violation", f"got {self.violation!r}", expected=f"one of {VIOLATIONS}")
        for name in ("effect", "city_effect"):
            v = getattr(self, name)
            if not -1 < v <= 0:
                raise ParameterError(name, f"got {v!r}", expected="a change between −100 % and 0 % (e.g. -0.2); "
                                     "thinning removes accidents, it cannot add them")
        if self.n_treated < 2:
            raise ParameterError("n_treated", f"got {self.n_treated!r}", expected="at least 2 treated meshes")
        if self.violation == "selection" and self.violation_size < 0:
            raise ParameterError("violation_size", f"got {self.violation_size!r}",
                                 expected="the extra share of accidents before selection, ≥ 0 (e.g. 0.5)")


# ----------------------------------------------------------------------------------- counts
def assign_measures(n_candidates: int, n_treated: int, start_idx, rng: np.random.Generator) -> np.ndarray:
    """Start month index per candidate (−1 = not treated): ``n_treated`` drawn at random, cohorts as even
    as possible over ``start_idx``."""
    start_idx = np.asarray(start_idx, dtype=int)
    if n_treated > n_candidates // 2:
        raise ParameterError("n_treated", f"{n_treated} treated of {n_candidates} candidate meshes",
                             expected="at most half of the candidates (the rest are the comparison group)")
    g = np.full(n_candidates, -1)
    chosen = rng.choice(n_candidates, n_treated, replace=False)
    g[chosen] = start_idx[np.arange(n_treated) % len(start_idx)]
    return g


def keep_probability(g: np.ndarray, n_months: int, *, effect: float, violation: str = "none",
                     violation_size: float = 0.0, selection_months: int = 6) -> np.ndarray:
    """Probability that an accident of unit *i* in month *t* stays in the data (N × T)."""
    t = np.arange(n_months)[None, :]
    treated = g[:, None] >= 0
    p = np.ones((len(g), n_months))
    if violation == "trend" and violation_size:
        f = np.exp(np.log1p(violation_size) * t / 12.0)
        p = np.where(treated, f / f.max(), p)
    elif violation == "selection" and violation_size:
        spell = (t >= g[:, None] - selection_months) & (t < g[:, None])
        p = np.where(treated & ~spell, 1.0 / (1.0 + violation_size), p)
    return np.where(treated & (t >= g[:, None]), p * (1.0 + effect), p)


def plant_counts(y: np.ndarray, p: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Thin a count matrix: Binomial(y, p) per cell (what record-level thinning gives)."""
    return rng.binomial(np.asarray(y, dtype=np.int64), p).astype(float)


def candidates(panel: ce.CountPanel, min_accidents: int, exclude=()) -> np.ndarray:
    """Rows of meshes with at least ``min_accidents`` accidents over the panel (excluding ``exclude`` codes)."""
    ok = (panel.y.sum(axis=1) >= min_accidents) & ~np.isin(panel.units, np.asarray(list(exclude), dtype=np.int64))
    return np.flatnonzero(ok)


def _streams(seed: int):
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)]


# ----------------------------------------------------------------------------------- records
def plant(acc: pd.DataFrame, city_rows: np.ndarray, design: PlantDesign, seed: int) -> dict:
    """Decide which real records stay. ``acc``: the prefecture's records; ``city_rows``: bool, the city's.

    Returns ``keep`` (bool per row of ``acc``), the register rows, the truth and the per-mesh truth table.
    """
    design.check()
    rng_assign, rng_thin = _streams(seed)[:2]
    months = ce.months_between(design.start, design.end)
    city = acc[city_rows]
    mesh = ce.count_panel(city, start=design.start, end=design.end, level=design.mesh_level)
    cand = candidates(mesh, design.min_accidents)
    start_idx = months.get_indexer(pd.PeriodIndex(list(design.start_months), freq="M"))
    if (start_idx < 1).any():
        raise ParameterError("start_months", f"{list(design.start_months)} not inside {design.start}..{design.end}",
                             expected="months after the first month of the period")
    g_c = assign_measures(len(cand), design.n_treated, start_idx, rng_assign)
    g = np.full(len(mesh.units), -2)
    g[cand] = g_c
    p = keep_probability(g, len(months), effect=design.effect, violation=design.violation,
                         violation_size=design.violation_size, selection_months=design.selection_months)
    # Record-level thinning; records outside the period or without coordinates keep their mesh factor 1.
    loc = months.get_indexer(pd.PeriodIndex(acc["occurred_at"], freq="M"))
    ok = city_rows & (loc >= 0) & acc["lat"].notna().to_numpy() & acc["lon"].notna().to_numpy()
    row = np.full(len(acc), -1)
    row[ok] = mesh.index_of(ce.mesh_code(acc.loc[ok, "lat"], acc.loc[ok, "lon"], design.mesh_level))
    prob = np.ones(len(acc))
    prob[ok] = p[row[ok], loc[ok]]
    city_start = months.get_indexer(pd.PeriodIndex([design.city_start], freq="M"))[0]
    if city_start < 1:
        raise ParameterError("city_start", f"{design.city_start} not inside {design.start}..{design.end}",
                             expected="a month after the first month of the period")
    prob = np.where(city_rows & (loc >= city_start), prob * (1.0 + design.city_effect), prob)
    keep = rng_thin.random(len(acc)) < prob
    truth = {
        "did": {"ratio": 1.0 + design.effect, "n_treated": int((g_c >= 0).sum()), "n_candidates": int(len(cand)),
                "cohorts": {str(months[s]): int((g_c == s).sum()) for s in np.unique(g_c[g_c >= 0])},
                "violation": design.violation, "violation_size": design.violation_size},
        "city": {"ratio": 1.0 + design.city_effect, "start": design.city_start},
        "n_records": int(city_rows.sum()), "n_removed": int((~keep).sum()),
    }
    meshes = pd.DataFrame({"mesh_code": mesh.units.astype(str), "candidate": np.isin(np.arange(len(g)), cand),
                           "start": [str(months[s]) if s >= 0 else "" for s in g]})
    return {"keep": keep, "register": _register(mesh.units[cand], g_c, months), "truth": truth,
            "meshes": meshes}


def _register(cand_codes, g_c, months) -> pd.DataFrame:
    """The measure register: every candidate mesh, implemented (with its start) or not."""
    return pd.DataFrame({"施策ID": [f"Z30-{i + 1:03d}" for i in range(len(cand_codes))],
                         "施策名": "生活道路対策（ゾーン30型）", "区域種別": "500mメッシュ",
                         "区域コード": [str(c) for c in cand_codes],
                         "状態": np.where(g_c >= 0, "実施", "候補（未実施）"),
                         "開始年月": [str(months[s]) if s >= 0 else "" for s in g_c]})


def generate(out_dir: str | os.PathLike, *, seed: int, city_code: str, design: PlantDesign,
             accidents_path: str | os.PathLike = na.GPKG_FILE) -> dict:
    """Write the planted records, the register and the truth into ``out_dir``. ``accidents_path``: the real
    本票 GeoPackage of the city's prefecture (police codes derived by :func:`ebpm_analysis.lookups.police_area`)."""
    out = Path(out_dir)
    source = paths.resolve(accidents_path)
    police = lookups.police_area(city_code)
    with suspended():   # the calibration read is not an input of the analysis (the notebook reads the real file itself)
        acc = na.load_accidents(source, pref_code=police.pref_code)
        raw, layout = _raw_rows(source)
    res = plant(acc, acc["municipality_code"].isin(police.municipality_codes).to_numpy(), design, seed)
    removed = set(acc.loc[~res["keep"], "source_row"].astype(int))
    pref = raw[(raw["都道府県コード"] == police.pref_code) & ~raw["source_row"].isin(removed)]
    na.to_honhyo_csv(pref, out / FILES["accidents"], layout=layout)
    register = pd.concat([res["register"], pd.DataFrame([{
        "施策ID": "CITY-001", "施策名": "市全域の交通安全対策", "区域種別": "市区町村", "区域コード": city_code,
        "状態": "実施", "開始年月": design.city_start}])], ignore_index=True)
    write_csv(register, out / FILES["measures"])
    res["meshes"].to_csv(out / "truth_meshes.csv", index=False)   # plain UTF-8: read by synth.read_truth
    meta = {"generator": "ebpm_analysis.synth.evaluation", "version": GENERATOR_VERSION, "seed": seed,
            "city_code": city_code, "source": paths.relative(source), "design": _jsonable(asdict(design)),
            **res["truth"], "n_written": int(len(pref))}
    (out / TRUTH_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
    return meta


def _raw_rows(source: Path) -> tuple[pd.DataFrame, str]:
    """The source's 本票 rows as published text with ``source_row`` as the loader numbers them, and the layout."""
    if source.suffix.lower() == ".gpkg":
        return na.read_gpkg_raw(source, with_source_row=True), "2019-2021"
    raw = pd.read_csv(source, encoding="cp932", dtype=str, keep_default_na=False, na_values=[])
    raw.columns = [str(c).strip() for c in raw.columns]
    raw["source_row"] = np.arange(2, len(raw) + 2)   # file line numbers, as read_honhyo_csv gives them
    return raw, na.detect_layout(raw.columns)


def _jsonable(d: dict) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


def ensure_evaluation(seed: int = 0, *, city_code: str = "43100", out_dir: str | os.PathLike | None = None,
                      accidents_path: str | os.PathLike = na.GPKG_FILE, **design) -> Path:
    """Generate the planted set once into ``out_dir/<key>`` (default ``data/interim/07_policy_evaluation/
    synthetic``) and return that folder. ``accidents_path`` is the real 本票 GeoPackage of the city's
    prefecture; other keyword arguments are :class:`PlantDesign` fields."""
    d = PlantDesign(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in design.items()})
    d.check()
    source = paths.relative(paths.resolve(accidents_path))
    digest = hashlib.sha1(json.dumps([_jsonable(asdict(d)), source], sort_keys=True).encode()).hexdigest()[:10]
    key = f"{city_code}_s{seed}_v{GENERATOR_VERSION}_{digest}"
    base = Path(out_dir) if out_dir else paths.interim("07_policy_evaluation", "synthetic")
    return build_dir_once(base / key, [TRUTH_FILE, *FILES.values()],
                          lambda tmp: generate(tmp, seed=seed, city_code=city_code, design=d,
                                               accidents_path=accidents_path))
