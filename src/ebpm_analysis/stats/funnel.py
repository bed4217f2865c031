"""Funnel-plot control limits and empirical-Bayes shrinkage for unit-level proportions.

Used to compare facilities (schools, clinics, …) with an overall rate without flagging small
units by chance.

- :func:`binomial_limits` — exact binomial control limits around ``p0`` for a unit of size
  ``n`` (Spiegelhalter 2005, *Statistics in Medicine* 24:1185, interpolated so the limits are
  smooth in ``n``); with ``tau2 > 0`` the normal-approximation limits widened by an additive
  between-unit variance (random-effects limits for over-dispersed data).
- :func:`overdispersion` — Spiegelhalter's winsorised estimate of the dispersion factor φ and
  the additive between-unit variance τ².
- :func:`z_scores` — (O − E)/√Var for units whose expected count comes from
  (age-)standardisation.
- :func:`eb_beta_binomial` — beta-binomial empirical-Bayes shrinkage (maximum likelihood for
  the prior), posterior means, intervals and P(rate > p0) on crude counts.
- :func:`eb_poisson_gamma` — Poisson–gamma empirical-Bayes shrinkage of standardised ratios O/E
  (expected counts from age-specific rates), posterior means, intervals and P(O/E > 1).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, stats
from scipy.special import betaln, gammaln


def _level_z(level: float) -> float:
    return float(stats.norm.ppf(1 - (1 - level) / 2))


def binomial_limits(n, p0: float, level: float = 0.998, tau2: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Lower/upper control limits for a proportion at sample size(s) ``n`` around ``p0``.

    ``level`` is two-sided coverage (0.95 → about 2.5 % above the upper limit under the null; the
    exact limits are interpolated between binomial counts, so the tail is slightly larger).
    Exact binomial (interpolated) when ``tau2 == 0``; otherwise p0 ± z·√(p0(1−p0)/n + τ²).
    """
    n = np.asarray(n, dtype=float)
    if not 0 < p0 < 1:
        raise ValueError(f"p0 must be in (0, 1), not {p0}")
    a = (1 - level) / 2
    if tau2 > 0:
        z = _level_z(level)
        s = np.sqrt(p0 * (1 - p0) / n + tau2)
        return np.clip(p0 - z * s, 0, 1), np.clip(p0 + z * s, 0, 1)
    out = []
    for prob in (a, 1 - a):
        r = stats.binom.ppf(prob, n, p0)
        c_r = stats.binom.cdf(r, n, p0)
        c_r1 = stats.binom.cdf(r - 1, n, p0)
        with np.errstate(invalid="ignore", divide="ignore"):
            alpha = np.where(c_r > c_r1, (c_r - prob) / (c_r - c_r1), 0.0)
        out.append(np.clip((r - alpha) / n, 0, 1))
    return out[0], out[1]


def z_scores(observed, expected, variance) -> np.ndarray:
    """(O − E)/√Var (NaN where the variance is 0)."""
    o, e, v = (np.asarray(x, dtype=float) for x in (observed, expected, variance))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(v > 0, (o - e) / np.sqrt(v), np.nan)


def overdispersion(z, n, p0: float, winsor: float = 0.10) -> dict:
    """Spiegelhalter's over-dispersion estimates from unit z-scores.

    z-scores are winsorised at ``winsor`` / ``1 − winsor`` (so a few real outliers do not
    inflate the estimate). Returns φ (multiplicative factor), τ² (additive between-unit variance
    on the proportion scale; 0 when φ̂ ≤ (I−1)/I) and I (units used).
    """
    z = np.asarray(z, dtype=float)
    n = np.asarray(n, dtype=float)
    ok = np.isfinite(z) & (n > 0)
    z, n = z[ok], n[ok]
    i = len(z)
    if i < 3:
        return {"phi": 1.0, "tau2": 0.0, "units": i}
    lo, hi = np.quantile(z, [winsor, 1 - winsor])
    zw = np.clip(z, lo, hi)
    phi = float(np.mean(zw ** 2))
    w = n / (p0 * (1 - p0))  # 1 / s_i^2
    if i * phi <= i - 1:
        tau2 = 0.0
    else:
        tau2 = float((i * phi - (i - 1)) / (w.sum() - (w ** 2).sum() / w.sum()))
    return {"phi": phi, "tau2": tau2, "units": i}


def _bb_negloglik(params, k, n):
    a, b = np.exp(params)
    ll = (gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1) + betaln(k + a, n - k + b) - betaln(a, b))
    return -ll.sum()


def fit_beta_prior(k, n) -> tuple[float, float]:
    """Maximum-likelihood Beta(α, β) prior for beta-binomial counts (method-of-moments start)."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    m = k.sum() / n.sum()
    p = k / n
    s2 = np.sum(n * (p - m) ** 2) / n.sum()
    tau2 = max(s2 - m * (1 - m) / n.mean(), 1e-4)
    ab = max(m * (1 - m) / tau2 - 1, 1.0)
    x0 = np.log([max(m * ab, 1e-3), max((1 - m) * ab, 1e-3)])
    res = optimize.minimize(_bb_negloglik, x0, args=(k, n), method="Nelder-Mead",
                            options={"xatol": 1e-6, "fatol": 1e-8, "maxiter": 2000})
    a, b = np.exp(res.x)
    return float(a), float(b)


def eb_beta_binomial(k, n, p0: float | None = None, level: float = 0.95, prior=None) -> pd.DataFrame:
    """Empirical-Bayes shrunken proportions.

    Returns a frame with ``eb_rate`` (posterior mean), ``eb_lo``/``eb_hi`` (equal-tailed
    posterior interval), ``shrinkage`` (weight on the prior mean, (α+β)/(α+β+n)) and
    ``p_above`` = P(rate > p0 | data) (``p0`` defaults to the pooled rate). ``attrs`` holds
    α, β and the prior mean.
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    a, b = prior if prior is not None else fit_beta_prior(k, n)
    p0 = k.sum() / n.sum() if p0 is None else p0
    pa, pb = a + k, b + n - k
    q = (1 - level) / 2
    out = pd.DataFrame({
        "eb_rate": pa / (pa + pb),
        "eb_lo": stats.beta.ppf(q, pa, pb),
        "eb_hi": stats.beta.ppf(1 - q, pa, pb),
        "shrinkage": (a + b) / (a + b + n),
        "p_above": stats.beta.sf(p0, pa, pb),
    })
    out.attrs.update(alpha=a, beta=b, prior_mean=a / (a + b), p0=p0)
    return out


def _nb_negloglik(params, o, e):
    a, b = np.exp(params)
    # marginal of O ~ Poisson(E·θ), θ ~ Gamma(shape a, rate b): negative binomial
    ll = (gammaln(a + o) - gammaln(a) - gammaln(o + 1) + a * np.log(b / (b + e)) + o * np.log(e / (b + e)))
    return -ll.sum()


def fit_gamma_prior(observed, expected) -> tuple[float, float]:
    """Maximum-likelihood Gamma(shape α, rate β) prior of relative risks θ for Poisson counts
    O ~ Poisson(E·θ) (the negative-binomial marginal; Clayton & Kaldor 1987, *Biometrics* 43:671).
    Method-of-moments start; hand-written because no pinned library fits this two-parameter marginal
    directly (statsmodels' NegativeBinomial uses a mean-dispersion form with an exposure term, which is
    the same model but does not return α, β on this scale)."""
    o = np.asarray(observed, dtype=float)
    e = np.asarray(expected, dtype=float)
    ok = e > 0
    o, e = o[ok], e[ok]
    if len(o) < 3:
        raise ValueError(f"need at least 3 units with expected > 0 to fit the prior, got {len(o)}")
    m = o.sum() / e.sum()
    r = o / e
    v = max(np.sum(e * (r - m) ** 2) / e.sum() - m / e.mean(), 1e-3 * m * m)
    x0 = np.log([m * m / v, m / v])
    res = optimize.minimize(_nb_negloglik, x0, args=(o, e), method="Nelder-Mead",
                            options={"xatol": 1e-7, "fatol": 1e-9, "maxiter": 4000})
    a, b = np.exp(res.x)
    return float(a), float(b)


def eb_poisson_gamma(observed, expected, *, level: float = 0.95, prior=None) -> pd.DataFrame:
    """Empirical-Bayes shrunken standardised ratios (O/E) under the Poisson–gamma model.

    ``expected`` comes from standardisation (e.g. Σ_age n_age × city rate_age), so a unit's age mix is
    already in E and the estimate compares like with like. θ ~ Gamma(α, β) (fitted by
    :func:`fit_gamma_prior` unless ``prior`` is given); the posterior is Gamma(α + O, β + E).

    Returns ``eb_ratio`` (posterior mean of θ), ``eb_ratio_lo``/``eb_ratio_hi`` (equal-tailed posterior
    interval at ``level``), ``shrinkage`` (weight on the prior mean, β/(β+E)) and ``p_above`` =
    P(θ > 1 | data), the posterior probability that the unit is above the standard. ``attrs`` holds α, β
    and the prior mean α/β.
    """
    o = np.asarray(observed, dtype=float)
    e = np.asarray(expected, dtype=float)
    a, b = prior if prior is not None else fit_gamma_prior(o, e)
    pa, pb = a + o, b + e
    q = (1 - level) / 2
    out = pd.DataFrame({
        "eb_ratio": pa / pb,
        "eb_ratio_lo": stats.gamma.ppf(q, pa, scale=1 / pb),
        "eb_ratio_hi": stats.gamma.ppf(1 - q, pa, scale=1 / pb),
        "shrinkage": b / (b + e),
        "p_above": stats.gamma.sf(1.0, pa, scale=1 / pb),
    })
    out.attrs.update(alpha=a, beta=b, prior_mean=a / b)
    return out
