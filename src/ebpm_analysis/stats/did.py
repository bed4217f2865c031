"""Difference-in-differences for counts with staggered adoption: the Poisson imputation estimator.

Model for untreated outcomes (accidents of unit *i* in period *t*)::

    E[y_it(0)] = exp(a_i + b_t)            (parallel trends on the log scale)

1. **First stage** — fit ``a`` and ``b`` by Poisson maximum likelihood on the *untreated* cells only
   (never-treated units, and treated units before their start). With two sets of fixed effects and no
   covariates this is the log-linear model of quasi-independence; its maximum likelihood solution is
   found by iterative proportional fitting (row and column totals of the fitted table equal the
   observed ones).
2. **Imputation** — every held-out cell gets its untreated expectation ``mu_it = exp(a_i + b_t)``.
3. **Effect** of a group *g* of held-out cells (all treated cells, one event-time bin, one cohort…):
   the rate ratio ``r_g = sum_g y / sum_g mu`` (observed ÷ expected without the measure); ``r_g − 1`` is
   the percentage change.

This is the imputation estimator of Borusyak, Jaravel & Spiess (2024) with the Poisson first stage of
Wooldridge (2023); it is valid under staggered adoption and effects that differ by cohort or time
(already-treated cells never serve as controls).

Inference: cluster-robust (by unit) sandwich variance of the stacked estimating equations
(first-stage scores for ``a`` and ``b`` and one score per group), i.e. the delta-method variance that
accounts for the estimated counterfactual, with a leave-one-unit-out scaling of each unit's group score
(jackknife-type, as CR3) and intervals from the t distribution with (units in the group − 1) degrees of
freedom. On the real Kumamoto records with planted −20 % effects (1,000 replicates) the 95 % interval
covered the truth 94.4 % of the time with 40 treated meshes (2019-01..2021-10; 94.2 % with 20 over 2019–2021).

Why by hand: pyfixest's ``fepois`` with a dummy per treated cell gives the same rate ratios (checked in
tests/unit/test_evaluation_did.py), but takes about a second per fit here, and its ``did2s`` is the
linear (additive) version. This closed-form version takes a few milliseconds, so the interval
coverage can be measured over a thousand replicates in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

#: Cell codes in the ``groups`` array.
UNTREATED = -1   # used in the first stage
EXCLUDED = -2    # neither fitted nor estimated (e.g. a treated unit's cells in a pre-trend check)


@dataclass
class ImputationResult:
    """Rate ratios of the held-out groups with their cluster-robust covariance (log scale)."""

    #: one row per group: group, n_cells, n_units, observed, expected, ratio, log_se, lo, hi, p
    table: pd.DataFrame
    cov: np.ndarray            # covariance matrix of the log rate ratios (groups in table order)
    mu: np.ndarray             # fitted untreated expectation for every cell (N × T)
    n_clusters: int
    iterations: int

    def wald(self, which=None) -> dict:
        """Joint test that the chosen groups' rate ratios are all 1 (chi-square on the log scale)."""
        idx = np.arange(len(self.table)) if which is None else np.asarray(which)
        with np.errstate(divide="ignore"):
            beta = np.log(self.table["ratio"].to_numpy()[idx])
        v = self.cov[np.ix_(idx, idx)]
        if not (np.all(np.isfinite(beta)) and np.all(np.isfinite(v))):
            return {"chi2": float("nan"), "df": int(len(idx)), "p": float("nan")}
        stat = float(beta @ np.linalg.solve(v, beta))
        return {"chi2": stat, "df": int(len(idx)), "p": float(stats.chi2.sf(stat, len(idx)))}


def fit_untreated(y: np.ndarray, used: np.ndarray, *, tol: float = 1e-10, max_iter: int = 5000):
    """Poisson two-way fixed effects on the cells where ``used`` is True, by iterative proportional fitting.

    Returns ``(ea, eb, iterations)`` with ``exp(a_i + b_t) = ea[i] * eb[t]``. Units (periods) without any
    count in the used cells get ``ea = 0`` (``eb = 0``): their expectation is zero.
    """
    u = used.astype(float)
    row = (y * u).sum(axis=1)
    col = (y * u).sum(axis=0)
    eb = np.where(col > 0, col / max(col.sum(), 1.0), 0.0)
    ea = np.zeros(len(row))
    for it in range(1, max_iter + 1):
        den = u @ eb
        ea = np.divide(row, den, out=np.zeros_like(row), where=den > 0)
        den = ea @ u
        eb_new = np.divide(col, den, out=np.zeros_like(col), where=den > 0)
        if np.max(np.abs(eb_new - eb) / np.maximum(eb_new, 1e-300)) < tol:
            return ea, eb_new, it
        eb = eb_new
    raise RuntimeError(f"iterative proportional fitting did not converge in {max_iter} iterations")


def _imputation(y: np.ndarray, groups: np.ndarray, n_groups: int):
    """Numerical core of :func:`poisson_imputation` (arrays in, arrays out; a few milliseconds)."""
    used = groups == UNTREATED
    ea, eb, iterations = fit_untreated(y, used)
    mu = np.outer(ea, eb)
    # Units in the first stage (a finite a_i); the reference period b_0 is the first with eb > 0.
    keep_a = ea > 0
    keep_b = eb > 0
    keep_b[np.flatnonzero(keep_b)[0]] = False
    mu_u = mu * used
    A = mu_u.sum(axis=1)[keep_a]
    M = mu_u[np.ix_(keep_a, keep_b)]
    # Schur complement of the (a, b) Hessian (signs dropped: every block is the negative of these).
    S = np.diag(mu_u.sum(axis=0)[keep_b]) - M.T @ (M / A[:, None])
    v = ((y - mu) * used)[:, keep_b]              # each unit's contribution to the b scores
    obs, exp_, infl = np.zeros(n_groups), np.zeros(n_groups), np.zeros((len(y), n_groups))
    clusters = used.any(axis=1) & (ea > 0)
    for g in range(n_groups):
        cell = groups == g
        mu_g = mu * cell
        obs[g], exp_[g] = y[cell].sum(), mu_g.sum()
        if exp_[g] <= 0:
            raise ValueError(f"group {g}: no untreated expectation (its units or periods have no counts "
                             "in the untreated cells)")
        r = obs[g] / exp_[g]
        if r == 0:                                # nothing observed: no interval on the log scale
            infl[:, g] = np.nan
            continue
        h_a, h_b = r * mu_g.sum(axis=1)[keep_a], r * mu_g.sum(axis=0)[keep_b]
        x_b = np.linalg.solve(S, h_b - M.T @ (h_a / A))
        w = ((y - r * mu) * cell).sum(axis=1)     # each unit's contribution to the group's score
        # Leave-one-unit-out (jackknife, "CR3"-type) scaling of the group score: a unit holding a share h
        # of the group's expected count moves the ratio by w / (E (1 - h)), not w / E.
        h = np.minimum(mu_g.sum(axis=1) / exp_[g], 0.99)
        infl[:, g] = (w / (1.0 - h) - v @ x_b) / (r * exp_[g])
        clusters |= cell.any(axis=1)
    n_cl = int(clusters.sum())
    cov = infl.T @ infl * n_cl / max(n_cl - 1, 1)
    return obs, exp_, cov, mu, n_cl, iterations


def poisson_imputation(y, groups, labels=None, *, level: float = 0.95) -> ImputationResult:
    """Rate ratios (observed ÷ imputed untreated expectation) of groups of held-out cells.

    Parameters
    ----------
    y : array (N units × T periods)
        Counts.
    groups : int array like ``y``
        ``UNTREATED`` (-1) for cells of the first stage, ``EXCLUDED`` (-2) for cells left out entirely,
        ``g >= 0`` for cells of group *g* (their effect is estimated).
    labels : sequence, optional
        A label for each group 0..G-1 (default 0..G-1).
    level : float
        Confidence level of the intervals.
    """
    y = np.asarray(y, dtype=float)
    groups = np.asarray(groups)
    if y.shape != groups.shape or y.ndim != 2:
        raise ValueError(f"y and groups must be N × T arrays of the same shape, got {y.shape} and {groups.shape}")
    if np.any(y < 0) or not np.all(np.isfinite(y)):
        raise ValueError("y must hold non-negative finite counts")
    n_groups = int(groups.max()) + 1 if (groups >= 0).any() else 0
    labels = list(range(n_groups)) if labels is None else list(labels)
    if len(labels) != n_groups:
        raise ValueError(f"{len(labels)} labels for {n_groups} groups")
    obs, exp_, cov, mu, n_cl, iterations = _imputation(y, groups, n_groups)
    se = np.sqrt(np.diag(cov))
    n_units = np.array([int((groups == g).any(axis=1).sum()) for g in range(n_groups)])
    df = np.maximum(n_units - 1, 1)
    q = stats.t.ppf(0.5 + level / 2, df)
    ratio = obs / exp_
    with np.errstate(divide="ignore", invalid="ignore"):
        log_r = np.log(ratio)
        table = pd.DataFrame({
            "group": labels,
            "n_cells": [int((groups == g).sum()) for g in range(n_groups)],
            "n_units": n_units, "observed": obs, "expected": exp_, "ratio": ratio, "log_se": se,
            "lo": np.exp(log_r - q * se), "hi": np.exp(log_r + q * se),
            "p": 2 * stats.t.sf(np.abs(log_r) / np.where(se > 0, se, np.nan), df),
        })
    return ImputationResult(table=table, cov=cov, mu=mu, n_clusters=n_cl, iterations=iterations)
