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
