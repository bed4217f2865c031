"""Facility location on plane coordinates: distance matrices, coverage, MCLP and p-median.

Used wherever a case asks "where should N of something be": ambulance bases (case 4) and school-route
volunteers (case 5). Costs are a demand point × candidate site matrix (metres, or minutes from a travel
model); weights are the demand at each point.

- :func:`distance_matrix` — straight-line distances between two sets of points.
- :func:`coverage`, :func:`mean_nearest` — share of demand within a radius of the open sites, and the
  demand-weighted mean cost to the nearest open site.
- :func:`mclp` — maximal covering location (Church & ReVelle 1974): ``p`` sites covering the most
  demand within ``radius``. :func:`p_median` — p-median (Hakimi 1964): ``p`` sites minimising the
  demand-weighted cost to the nearest one. Both can keep some sites open (``fixed``), are solved to
  optimality with PySAL ``spopt`` and PuLP's CBC, and return a :class:`Solution`.
- :func:`greedy_max_coverage` — the greedy heuristic for maximal coverage (within 1 − 1/e of the
  optimum; exact when coverage areas do not overlap), and :func:`mclp_exhaustive` — every combination,
  for checking the solver on small instances.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import numpy as np

from .errors import EbpmError, ParameterError


def distance_matrix(a, b=None) -> np.ndarray:
    """Euclidean distances between the rows of ``a`` (n × 2) and of ``b`` (m × 2; default ``a``): n × m.

    Computed with ``np.hypot`` (no overflow or cancellation for large coordinates), which every earlier
    result of the project used; ``scipy.spatial.distance.cdist`` rounds differently in the last bit.
    """
    a = np.asarray(a, dtype=float)
    b = a if b is None else np.asarray(b, dtype=float)
    for name, v in (("a", a), ("b", b)):
        if v.ndim != 2 or v.shape[1] != 2:
            raise ParameterError(name, f"array of shape {v.shape}", expected="(n, 2) plane coordinates x, y")
    return np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])


def coverage(cost: np.ndarray, weights, open_sites, radius: float) -> float:
    """Share of demand weight within ``radius`` of at least one of ``open_sites`` (column indices)."""
    open_sites = np.asarray(open_sites, dtype=int)
    if len(open_sites) == 0:
        return 0.0
    w = np.asarray(weights, dtype=float)
    cov = (cost[:, open_sites] <= radius).any(1)
    return float((w * cov).sum() / w.sum())


def mean_nearest(cost: np.ndarray, weights, open_sites) -> float:
    """Demand-weighted mean cost from each point to its nearest open site."""
    w = np.asarray(weights, dtype=float)
    return float((w * cost[:, np.asarray(open_sites, dtype=int)].min(1)).sum() / w.sum())


@dataclass(frozen=True)
class Solution:
    """A chosen set of sites.

    ``sites``: column indices of the cost matrix, ascending. ``coverage``: share of demand within the
    radius (:func:`coverage`; NaN when no radius was given). ``mean_cost``: demand-weighted mean cost to
    the nearest chosen site (:func:`mean_nearest`)."""

    sites: np.ndarray
    coverage: float
    mean_cost: float


def _check(cost, weights, p, fixed) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    cost = np.asarray(cost, dtype=float)
    w = np.asarray(weights, dtype=float)
    if cost.ndim != 2 or cost.shape[0] != len(w):
        raise ParameterError("cost", f"shape {cost.shape} for {len(w)} demand weights",
                             expected="a demand point × candidate site matrix with one row per weight")
    if not 1 <= p <= cost.shape[1]:
        raise ParameterError("p", f"{p} sites from {cost.shape[1]} candidates",
                             expected=f"between 1 and {cost.shape[1]}")
    pre = None
    if fixed is not None and len(fixed):
        if len(fixed) > p:
            raise ParameterError("fixed", f"{len(fixed)} sites kept open", expected=f"at most p = {p}")
        pre = np.zeros(cost.shape[1], dtype=int)
        pre[np.asarray(fixed, dtype=int)] = 1
    return cost, w, pre


def _solve(model, kind: str) -> np.ndarray:
    import pulp

    with warnings.catch_warnings():
        # PuLP 3.3 warns that spopt's API goes away in PuLP 4 (pinned pulp<4): keep reports clean.
        warnings.simplefilter("ignore", DeprecationWarning)
        model = model.solve(pulp.PULP_CBC_CMD(msg=False))
    status = pulp.LpStatus[model.problem.status]
    if status != "Optimal":
        raise EbpmError(f"{kind}: the CBC solver ended with status {status!r}, not an optimal solution")
    return np.array([j for j, v in enumerate(model.fac_vars) if v.value() is not None and v.value() > 0.5],
                    dtype=int)


def mclp(cost, weights, radius: float, p: int, *, fixed=None) -> Solution:
    """Maximal covering location: the ``p`` sites covering the most demand weight within ``radius``
    (same units as ``cost``), keeping the ``fixed`` site indices open."""
    from spopt.locate import MCLP

    cost, w, pre = _check(cost, weights, p, fixed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model = MCLP.from_cost_matrix(cost, w, service_radius=radius, p_facilities=p, predefined_facilities_arr=pre)
    sites = _solve(model, "MCLP")
    return Solution(sites, coverage(cost, w, sites, radius), mean_nearest(cost, w, sites))


def p_median(cost, weights, p: int, *, fixed=None, radius: float | None = None) -> Solution:
    """p-median: the ``p`` sites minimising the demand-weighted cost to the nearest one, keeping the
    ``fixed`` site indices open. ``radius`` (optional) only fills :attr:`Solution.coverage`."""
    from spopt.locate import PMedian

    cost, w, pre = _check(cost, weights, p, fixed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model = PMedian.from_cost_matrix(cost, w, p_facilities=p, predefined_facilities_arr=pre)
    sites = _solve(model, "p-median")
    cov = coverage(cost, w, sites, radius) if radius is not None else float("nan")
    return Solution(sites, cov, mean_nearest(cost, w, sites))


def greedy_max_coverage(cover: np.ndarray, weights, n: int) -> list[int]:
    """Greedy maximal coverage on a boolean demand × site ``cover`` matrix: repeatedly add the site
    covering the most uncovered weight (stops early when no site adds any).

    Exact when coverage areas do not overlap; otherwise within (1 − 1/e) of the optimum. Written here
    because it is also used to order an optimal set by marginal gain."""
    covered = np.zeros(cover.shape[0], dtype=bool)
    chosen: list[int] = []
    w = np.asarray(weights, dtype=float)
    for _ in range(min(n, cover.shape[1])):
        gain = (cover & ~covered[:, None]).T.astype(float) @ w
        if chosen:
            gain[chosen] = -1
        j = int(np.argmax(gain))
        if gain[j] <= 0:
            break
        chosen.append(j)
        covered |= cover[:, j]
    return chosen


def mclp_exhaustive(cost, weights, radius: float, p: int) -> tuple[float, tuple]:
    """Best coverage share and site combination by trying every combination of ``p`` sites (small
    instances only: for checking :func:`mclp`)."""
    best = (-1.0, ())
    for combo in itertools.combinations(range(np.shape(cost)[1]), p):
        c = coverage(cost, weights, combo, radius)
        if c > best[0] + 1e-12:
            best = (c, combo)
    return best
