"""Case 4, where to base crews: travel-time model from the log, demand points, candidate sites and the
response-time cost matrix for the location models of :mod:`ebpm_analysis.location` (MCLP, p-median)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...location import distance_matrix
from .demand import attach_xy


def travel_model(log: pd.DataFrame, stations: pd.DataFrame, crs) -> dict:
    """Fit travel minutes (出場→現着) = a + b·km (straight-line distance from the responding station,
    in the plane ``crs``), and the median call-processing time (覚知→出場)."""
    st = attach_xy(stations, crs).set_index("station_code")
    lx = attach_xy(log, crs)
    sx = st.loc[lx["station_code"], "x"].to_numpy()
    sy = st.loc[lx["station_code"], "y"].to_numpy()
    d = np.hypot(lx["x"].to_numpy() - sx, lx["y"].to_numpy() - sy) / 1000
    tr = lx["travel_min"].to_numpy()
    b, a = np.polyfit(d, tr, 1)
    proc = float(((log["t_dispatch"] - log["t_call"]).dt.total_seconds() / 60).median())
    return {"a": float(a), "b": float(b), "proc_min": proc, "r2": float(np.corrcoef(d, tr)[0, 1] ** 2),
            "crs": crs}


def response_cost(dem_xy: np.ndarray, site_xy: np.ndarray, tm: dict) -> np.ndarray:
    """Modelled response minutes (覚知→現着) from each site to each demand point."""
    d = distance_matrix(dem_xy, site_xy) / 1000
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


def candidate_sites(demand: pd.DataFrame, existing_xy: np.ndarray, n: int = 20,
                    min_gap_m: float = 2000.0) -> np.ndarray:
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
