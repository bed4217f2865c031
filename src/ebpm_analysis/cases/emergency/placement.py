"""Case 4, where to base crews: travel-time model from the log, demand points, candidate sites,
coverage, and MCLP / p-median (PySAL spopt)."""

from __future__ import annotations

import contextlib
import itertools
import warnings

import numpy as np
import pandas as pd

from .demand import attach_xy


def travel_model(log: pd.DataFrame, stations: pd.DataFrame) -> dict:
    """Fit travel minutes (出場→現着) = a + b·km (straight-line distance from the responding station),
    and the median call-processing time (覚知→出場)."""
    st = attach_xy(stations).set_index("station_code")
    lx = attach_xy(log)
    sx = st.loc[lx["station_code"], "x"].to_numpy()
    sy = st.loc[lx["station_code"], "y"].to_numpy()
    d = np.hypot(lx["x"].to_numpy() - sx, lx["y"].to_numpy() - sy) / 1000
    tr = lx["travel_min"].to_numpy()
    b, a = np.polyfit(d, tr, 1)
    proc = float(((log["t_dispatch"] - log["t_call"]).dt.total_seconds() / 60).median())
    return {"a": float(a), "b": float(b), "proc_min": proc, "r2": float(np.corrcoef(d, tr)[0, 1] ** 2)}


def response_cost(dem_xy: np.ndarray, site_xy: np.ndarray, tm: dict) -> np.ndarray:
    """Modelled response minutes (覚知→現着) from each site to each demand point."""
    d = np.hypot(dem_xy[:, None, 0] - site_xy[None, :, 0], dem_xy[:, None, 1] - site_xy[None, :, 1]) / 1000
    return tm["proc_min"] + tm["a"] + tm["b"] * d


def demand_points(x, y, cell_m: float = 1500.0, weights=None) -> pd.DataFrame:
    """Aggregate dispatches to grid-cell centres (the demand points of the location models)."""
    ix = np.floor(np.asarray(x) / cell_m).astype(np.int64)
    iy = np.floor(np.asarray(y) / cell_m).astype(np.int64)
    w = np.ones(len(ix)) if weights is None else np.asarray(weights, float)
    g = pd.DataFrame({"ix": ix, "iy": iy, "w": w}).groupby(["ix", "iy"], as_index=False)["w"].sum()
    g["x"] = (g["ix"] + 0.5) * cell_m
    g["y"] = (g["iy"] + 0.5) * cell_m
    return g


def candidate_sites(demand: pd.DataFrame, existing_xy: np.ndarray, n: int = 20, min_gap_m: float = 2000.0) -> np.ndarray:
    """Candidate sites: centres of the busiest cells at least ``min_gap_m`` from existing and chosen sites."""
    chosen = [tuple(p) for p in existing_xy]
    out = []
    for r in demand.sort_values("w", ascending=False).itertuples():
        p = (r.x, r.y)
        if min(np.hypot(p[0] - q[0], p[1] - q[1]) for q in chosen) >= min_gap_m:
            chosen.append(p)
            out.append(p)
        if len(out) >= n:
            break
    return np.array(out).reshape(-1, 2)


def coverage(cost: np.ndarray, weights: np.ndarray, open_sites, radius: float) -> float:
    """Share of demand within ``radius`` of at least one open site."""
    open_sites = np.asarray(open_sites)
    if len(open_sites) == 0:
        return 0.0
    cov = (cost[:, open_sites] <= radius).any(1)
    return float((weights * cov).sum() / weights.sum())


def mean_nearest(cost: np.ndarray, weights: np.ndarray, open_sites) -> float:
    return float((weights * cost[:, np.asarray(open_sites)].min(1)).sum() / weights.sum())


@contextlib.contextmanager
def _quiet():
    """PuLP 3.3 warns that spopt's API goes away in PuLP 4 (pinned pulp<4): keep reports clean."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _solver():
    import pulp
    return pulp.PULP_CBC_CMD(msg=False)


def solve_mclp(cost: np.ndarray, weights: np.ndarray, radius: float, p: int, fixed=None) -> dict:
    """Maximal covering location (Church & ReVelle) with spopt: ``p`` sites, optionally keeping the
    ``fixed`` site indices open. Returns selected indices and the covered share."""
    from spopt.locate import MCLP
    pre = None
    if fixed is not None and len(fixed):
        pre = np.zeros(cost.shape[1], dtype=int)
        pre[np.asarray(fixed)] = 1
    with _quiet():
        m = MCLP.from_cost_matrix(cost, np.asarray(weights, float), service_radius=radius, p_facilities=p,
                                  predefined_facilities_arr=pre)
    with _quiet():
        m = m.solve(_solver())
    sel = np.array([j for j, v in enumerate(m.fac_vars) if v.value() and v.value() > 0.5])
    return {"sites": sel, "coverage": coverage(cost, weights, sel, radius)}


def solve_pmedian(cost: np.ndarray, weights: np.ndarray, p: int, fixed=None) -> dict:
    """p-median (Hakimi) with spopt: minimise demand-weighted response minutes."""
    from spopt.locate import PMedian
    pre = None
    if fixed is not None and len(fixed):
        pre = np.zeros(cost.shape[1], dtype=int)
        pre[np.asarray(fixed)] = 1
    with _quiet():
        m = PMedian.from_cost_matrix(cost, np.asarray(weights, float), p_facilities=p, predefined_facilities_arr=pre)
    with _quiet():
        m = m.solve(_solver())
    sel = np.array([j for j, v in enumerate(m.fac_vars) if v.value() and v.value() > 0.5])
    return {"sites": sel, "mean_min": mean_nearest(cost, weights, sel)}


def mclp_bruteforce(cost: np.ndarray, weights: np.ndarray, radius: float, p: int) -> tuple[float, tuple]:
    """Exhaustive MCLP for small instances (for checking the solver)."""
    best = (-1.0, ())
    for combo in itertools.combinations(range(cost.shape[1]), p):
        c = coverage(cost, weights, combo, radius)
        if c > best[0] + 1e-12:
            best = (c, combo)
    return best
