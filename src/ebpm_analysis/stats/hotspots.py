"""Getis–Ord Gi* hot spots: the one implementation every case calls (PySAL ``esda.G_Local`` underneath).

:func:`gi_star` takes the values and explicit spatial weights (a ``libpysal`` ``W``) and returns a
:class:`GiStar` with stable attributes. Weights are built by the caller, usually with one of

- :func:`knn_weights` — each unit's ``k`` nearest neighbours (points, or polygon centroids);
- :func:`distance_band_weights` — every unit within ``threshold`` (same units as the coordinates);
- :func:`grid_weights` — contiguity on integer grid indices (row, column of a mesh or raster):
  queen (8 surrounding cells) or rook (4).

Gi* (``star=True``) counts each unit as its own neighbour; weights are binary. The statistic is
reported as the z-score ``z`` (analytic expectation and variance, Getis & Ord 1995); z > 0 is a cluster
of high values, z < 0 of low values.

p-values and sidedness:

- ``inference="normal"``: p from the normal approximation of z. esda's ``p_norm`` is
  ``P(Z > |z|)``, the one-sided p in the tail the observation lies in.
- ``inference="permutation"``: conditional permutation pseudo p (esda's ``p_sim``): with ``P`` random
  relabellings of the other units, ``(m + 1) / (P + 1)`` where ``m`` counts the simulated statistics
  at least as extreme *in the tail the observed value lies in* (esda's "directed" alternative). It is
  therefore also one-sided, never above about 0.5. Conditional permutation keeps the focal value
  fixed, which for Gi* (focal unit included) hides isolated single-unit spikes.
- ``p_one_sided`` is that p; ``p_two_sided = min(1, 2 · p_one_sided)`` is the p of the question "is
  this unit extreme in either direction". ``sided`` chooses which one the hot/cold flags use;
  ``sided="greater"`` asks only "is this a cluster of high values": p = P(Z ≥ z) (normal), or the
  one-sided permutation p where z > 0 and 1 − it + 1/(P + 1) elsewhere, and no unit is flagged cold. With an FDR
  correction this is the right p when only hot spots are reported: the folded p of the other tail would
  enter the Benjamini–Hochberg ranking as discoveries.
- ``correction="fdr_bh"`` adjusts the chosen p over all units with the Benjamini–Hochberg false
  discovery rate (statsmodels); ``"none"`` tests each unit at ``alpha`` on its own, so with many units
  some flags are expected by chance.

Flags: ``hot`` = z > 0 and p < alpha, ``cold`` = z < 0 and p < alpha, with p the chosen (and, if
asked, adjusted) p-value.

Gi* smooths each unit with its neighbours, so it finds areas, not single units: a spike in one unit
with quiet neighbours is diluted. :func:`excess_test` asks the per-unit question instead (does this
unit have more events than its exposure explains: an exact one-sided conditional binomial test with
Benjamini–Hochberg FDR over the units tested).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ParameterError

LABELS = {"hot": "ホットスポット", "cold": "コールドスポット", "none": "有意差なし"}
INFERENCE = ("normal", "permutation")
SIDED = ("one", "two", "greater")
CORRECTIONS = ("none", "fdr_bh")


@dataclass(frozen=True)
class GiStar:
    """Result of :func:`gi_star`; arrays are in the order of the input values."""

    z: np.ndarray              # Gi* z-score
    p: np.ndarray              # p the flags use: one- or two-sided as ``sided``, adjusted as ``correction``
    p_one_sided: np.ndarray    # p in the tail the observation lies in (see module doc)
    p_two_sided: np.ndarray    # min(1, 2 · p_one_sided)
    hot: np.ndarray            # z > 0 and p < alpha
    cold: np.ndarray           # z < 0 and p < alpha
    n_neighbours: np.ndarray   # neighbours of each unit in the weights, itself not counted
    inference: str
    sided: str
    correction: str
    alpha: float
    permutations: int

    @property
    def label(self) -> np.ndarray:
        """ホットスポット / コールドスポット / 有意差なし for each unit."""
        return np.where(self.hot, LABELS["hot"], np.where(self.cold, LABELS["cold"], LABELS["none"]))

    def frame(self, index=None) -> pd.DataFrame:
        """Columns ``gi_z``, ``gi_p`` (= ``p``), ``hot``, ``cold``, ``label``, ``n_neighbours``."""
        return pd.DataFrame({"gi_z": self.z, "gi_p": self.p, "hot": self.hot, "cold": self.cold,
                             "label": self.label, "n_neighbours": self.n_neighbours}, index=index)


def _choice(name: str, value: str, allowed: tuple) -> None:
    if value not in allowed:
        raise ParameterError(name, f"unknown value {value!r}", expected=" or ".join(repr(a) for a in allowed))


def gi_star(values, weights, *, inference: str = "normal", permutations: int = 999, seed: int = 0,
            alpha: float = 0.05, sided: str = "one", correction: str = "none") -> GiStar:
    """Getis–Ord Gi* of ``values`` with spatial ``weights`` (a libpysal ``W`` in the same order).

    ``inference``: ``"normal"`` (analytic z) or ``"permutation"`` (``permutations`` conditional
    permutations, seeded by ``seed``). ``sided``: ``"one"``, ``"two"`` or ``"greater"``; ``correction``: ``"none"``
    or ``"fdr_bh"``. See the module documentation for what each p-value means.
    """
    from esda.getisord import G_Local

    _choice("inference", inference, INFERENCE)
    _choice("sided", sided, SIDED)
    _choice("correction", correction, CORRECTIONS)
    if not 0 < alpha < 1:
        raise ParameterError("alpha", f"{alpha}", expected="a significance level between 0 and 1, e.g. 0.05")
    y = np.asarray(values, dtype=float)
    if y.ndim != 1 or len(y) != weights.n:
        raise ParameterError("weights", f"{weights.n} units in the weights for {len(y)} values",
                             expected="weights built from the same units, in the same order, as the values")
    if len(y) < 3:
        raise ParameterError("values", f"only {len(y)} units", expected="at least 3 units for Gi*")
    if inference == "permutation" and permutations < 1:
        raise ParameterError("permutations", f"{permutations}", expected="a positive number, e.g. 999")
    n_neighbours = np.array([weights.cardinalities[i] for i in weights.id_order], dtype=int)
    perms = permutations if inference == "permutation" else 0
    with warnings.catch_warnings():
        # esda's own deprecation notices (numpy aliases; its default permutation alternative will change:
        # we rely on "directed" in the pinned version, checked in tests/unit/test_hotspots.py)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"esda(\.|$)")
        g = G_Local(y, weights, transform="B", permutations=perms, star=True, seed=seed)
    z = np.asarray(g.Zs, dtype=float)
    if inference == "permutation":
        # esda stores p_sim as float32; (m + 1) / (P + 1) is recovered exactly in float64
        p_one = np.round(np.asarray(g.p_sim, dtype=float) * (perms + 1)) / (perms + 1)
    else:
        p_one = np.asarray(g.p_norm, dtype=float)
    p_two = np.minimum(1.0, 2.0 * p_one)
    if sided == "greater":
        if inference == "permutation":
            p = np.where(z > 0, p_one, np.minimum(1.0, 1.0 - p_one + 1.0 / (perms + 1)))
        else:
            from scipy.stats import norm

            p = norm.sf(z)
    else:
        p = p_one if sided == "one" else p_two
    if correction == "fdr_bh":
        from statsmodels.stats.multitest import multipletests

        ok = np.isfinite(p)
        adj = np.full_like(p, np.nan)
        if ok.any():
            adj[ok] = multipletests(p[ok], alpha=alpha, method="fdr_bh")[1]
        p = adj
    sig = p < alpha
    return GiStar(z=z, p=p, p_one_sided=p_one, p_two_sided=p_two, hot=sig & (z > 0),
                  cold=sig & (z < 0) & (sided != "greater"),
                  n_neighbours=n_neighbours, inference=inference, sided=sided, correction=correction,
                  alpha=alpha, permutations=perms)


# --------------------------------------------------------------------------- weights


def _xy(points) -> np.ndarray:
    """(n, 2) coordinates from a GeoDataFrame/GeoSeries (points, or polygon centroids) or an array."""
    geom = getattr(points, "geometry", None)
    if geom is not None:
        if not (geom.geom_type == "Point").all():
            geom = geom.centroid
        return np.column_stack([geom.x.to_numpy(), geom.y.to_numpy()])
    xy = np.asarray(points, dtype=float)
    if xy.ndim != 2 or xy.shape[1] != 2:
        raise ParameterError("points", f"array of shape {xy.shape}", expected="(n, 2) plane coordinates")
    return xy


def knn_weights(points, k: int):
    """Binary weights: each unit's ``k`` nearest neighbours (``k`` is capped at n − 1)."""
    from libpysal.weights import KNN

    xy = _xy(points)
    if len(xy) < 2:
        raise ParameterError("points", f"only {len(xy)} unit(s)", expected="at least 2 units")
    return KNN(xy, k=min(int(k), len(xy) - 1))


def distance_band_weights(points, threshold: float):
    """Binary weights: every unit whose coordinates lie within ``threshold`` (inclusive).

    Units without any neighbour (islands) are allowed; Gi* then compares them with themselves only.
    """
    from libpysal.weights import DistanceBand

    if not threshold > 0:
        raise ParameterError("threshold", f"{threshold}",
                             expected="a positive distance in the units of the coordinates")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # libpysal warns about islands and disconnected components
        return DistanceBand(_xy(points), threshold=float(threshold), binary=True, silence_warnings=True)


def grid_weights(row, col, *, queen: bool = True):
    """Contiguity on integer grid indices (e.g. mesh row/column): queen = the 8 surrounding cells,
    rook = the 4 sharing an edge. Cells may be missing (only listed cells are units)."""
    r = np.asarray(row)
    c = np.asarray(col)
    if r.shape != c.shape or r.ndim != 1:
        raise ParameterError("row/col", f"shapes {r.shape} and {c.shape}", expected="two 1-d arrays of equal length")
    if not (np.issubdtype(r.dtype, np.integer) and np.issubdtype(c.dtype, np.integer)):
        raise ParameterError("row/col", f"dtypes {r.dtype}, {c.dtype}", expected="integer grid indices")
    # queen neighbours lie at distance 1 or √2 on the index grid, the next ring at 2; rook at exactly 1
    return distance_band_weights(np.column_stack([r, c]).astype(float), 1.5 if queen else 1.0)


# --------------------------------------------------------------------------- per-unit excess counts


@dataclass(frozen=True)
class Excess:
    """Result of :func:`excess_test`; arrays are in the order of the input counts (NaN / False where a unit
    was not tested)."""

    expected: np.ndarray   # total observed × the unit's share of the exposure (tested units)
    ratio: np.ndarray      # observed / expected
    p: np.ndarray          # exact one-sided p, P(X ≥ observed) under a common rate
    q: np.ndarray          # p adjusted by Benjamini–Hochberg over the tested units ("none": = p)
    flag: np.ndarray       # tested and q < alpha (and observed above expected)
    tested: np.ndarray     # units that entered the test
    alpha: float
    correction: str


def excess_test(observed, exposure, *, tested=None, alpha: float = 0.05, correction: str = "fdr_bh") -> Excess:
    """Which units have more events than their exposure explains: an exact one-sided test per unit, with a
    false discovery rate over the units tested.

    Under the null hypothesis every unit has the same rate per unit of exposure; conditional on the total
    number of events N of the units tested, a unit's count is then binomial with N trials and probability
    = its share of the exposure (Poisson counts conditioned on their sum are multinomial). The p is
    P(X ≥ observed) (scipy's binomial survival function), so it needs no estimate of the common rate and is
    exact for small counts, where a normal approximation is not. ``correction="fdr_bh"`` adjusts the p-values
    of the tested units by Benjamini–Hochberg (statsmodels); ``tested`` (boolean mask) leaves the others out of
    the test and of the total (e.g. units with too little exposure to say anything).
    """
    from scipy.stats import binom

    _choice("correction", correction, CORRECTIONS)
    if not 0 < alpha < 1:
        raise ParameterError("alpha", f"{alpha}", expected="a significance level between 0 and 1, e.g. 0.05")
    x = np.asarray(observed, dtype=float)
    e = np.asarray(exposure, dtype=float)
    if x.shape != e.shape or x.ndim != 1:
        raise ParameterError("observed/exposure", f"shapes {x.shape} and {e.shape}",
                             expected="two 1-d arrays of equal length")
    if (~np.isfinite(x)).any() or (x < 0).any() or (x != np.round(x)).any():
        raise ParameterError("observed", "a negative, fractional or missing count", expected="whole counts ≥ 0")
    if (~np.isfinite(e)).any() or (e < 0).any():
        raise ParameterError("exposure", "a negative or missing exposure", expected="exposures ≥ 0")
    t = np.ones(len(x), bool) if tested is None else np.asarray(tested, dtype=bool).copy()
    t &= e > 0
    n = len(x)
    expected, ratio, p, q = (np.full(n, np.nan) for _ in range(4))
    total_x, total_e = x[t].sum(), e[t].sum()
    if t.any() and total_e > 0:
        share = e[t] / total_e
        expected[t] = total_x * share
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio[t] = x[t] / expected[t]
        p[t] = binom.sf(x[t] - 1, total_x, share) if total_x > 0 else 1.0
        if correction == "fdr_bh":
            from statsmodels.stats.multitest import multipletests

            q[t] = multipletests(p[t], alpha=alpha, method="fdr_bh")[1]
        else:
            q[t] = p[t]
    flag = t & (q < alpha) & (x > expected)
    return Excess(expected=expected, ratio=ratio, p=p, q=q, flag=flag, tested=t, alpha=alpha, correction=correction)
