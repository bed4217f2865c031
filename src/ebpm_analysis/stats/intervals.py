"""Confidence intervals for proportions and counts."""

from __future__ import annotations

import numpy as np
from scipy import stats
from statsmodels.stats.proportion import proportion_confint


def wilson_ci(successes, trials, alpha: float = 0.05):
    """Wilson score interval for ``successes / trials`` (vectorised). NaN where trials == 0."""
    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        lo, hi = proportion_confint(k, np.where(n > 0, n, np.nan), alpha=alpha, method="wilson")
    return np.asarray(lo), np.asarray(hi)


def poisson_ci(count, alpha: float = 0.05):
    """Exact (Garwood) interval for a Poisson count (vectorised)."""
    c = np.asarray(count, dtype=float)
    lo = np.where(c > 0, stats.chi2.ppf(alpha / 2, 2 * c) / 2, 0.0)
    hi = stats.chi2.ppf(1 - alpha / 2, 2 * (c + 1)) / 2
    return lo, hi


def cluster_ratio_interval(num, den, *, level: float = 0.95, reps: int = 999, seed: int = 0,
                           method: str = "BCa", share: bool = False) -> tuple[float, float]:
    """Interval for ``sum(num) / sum(den)`` when the units are clusters (one value of each per cluster:
    a child's off-route fixes and fixes, a day's minutes saved and calls).

    Observations inside a cluster are not independent (a child who takes a detour takes it most days;
    calls of one day share crews), so the clusters are resampled, not the observations: scipy's
    bootstrap with the two arrays paired. NaN when there are fewer than two clusters or no denominator.

    When every cluster has the same ratio (e.g. no child left the route) resampling cannot vary; for a
    ``share`` the Wilson interval with the clusters as the sample size is returned then (the most a
    sample of that many independent children can say: 0 of 24 children → 0–13.8 %), else the point.
    """
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    if len(num) < 2 or den.sum() <= 0:
        return float("nan"), float("nan")
    per = num[den > 0] / den[den > 0]
    if np.ptp(per) == 0:
        r = float(num.sum() / den.sum())
        if share:
            lo, hi = wilson_ci(r * len(per), len(per), alpha=1 - level)
            return float(lo), float(hi)
        return r, r

    def ratio(n, d, axis=-1):
        s = d.sum(axis=axis)
        return np.where(s > 0, n.sum(axis=axis) / np.where(s > 0, s, 1), np.nan)

    with np.errstate(invalid="ignore", divide="ignore"):
        res = stats.bootstrap((num, den), ratio, paired=True, vectorized=True, n_resamples=reps,
                              confidence_level=level, method=method, random_state=np.random.default_rng(seed))
    lo, hi = res.confidence_interval
    return float(lo), float(hi)
