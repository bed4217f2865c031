"""Funnel-plot limits, over-dispersion and empirical-Bayes shrinkage (stats.funnel)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from ebpm_analysis.stats.funnel import binomial_limits, eb_beta_binomial, fit_beta_prior, overdispersion, z_scores


@pytest.mark.parametrize("n", [20, 57, 150, 800])
@pytest.mark.parametrize("level", [0.95, 0.998])
def test_exact_limits_have_the_nominal_tail_probability(n, level):
    p0 = 0.2
    lo, hi = binomial_limits(n, p0, level)
    tail = (1 - level) / 2
    # Spiegelhalter's interpolated exact limits: n*hi lies in (r-1, r] where r is the binomial
    # (1-tail) quantile, i.e. r = the smallest count with P(X <= r) >= 1 - tail (same for the lower limit)
    r_hi = stats.binom.ppf(1 - tail, n, p0)
    r_lo = stats.binom.ppf(tail, n, p0)
    assert r_hi - 1 < n * hi <= r_hi + 1e-9
    assert r_lo - 1 < n * lo <= r_lo + 1e-9
    assert stats.binom.cdf(r_hi, n, p0) >= 1 - tail > stats.binom.cdf(r_hi - 1, n, p0)
    assert lo < p0 < hi


def test_limits_narrow_with_n_and_998_outside_95():
    n = np.array([10, 30, 100, 300, 1000])
    lo95, hi95 = binomial_limits(n, 0.3, 0.95)
    lo998, hi998 = binomial_limits(n, 0.3, 0.998)
    assert np.all(np.diff(hi998) < 0) and np.all(np.diff(lo998[lo998 > 0]) > 0)
    assert np.all(hi998 > hi95) and np.all(lo998 <= lo95)
    # large n: close to the normal approximation
    z = stats.norm.ppf(0.999)
    assert hi998[-1] == pytest.approx(0.3 + z * np.sqrt(0.21 / 1000), abs=0.004)


def test_tau2_widens_limits():
    lo0, hi0 = binomial_limits(200, 0.2, 0.998)
    lo1, hi1 = binomial_limits(200, 0.2, 0.998, tau2=0.002)
    assert hi1 > hi0 and lo1 < lo0
    assert hi1 == pytest.approx(0.2 + stats.norm.ppf(0.999) * np.sqrt(0.16 / 200 + 0.002))


def test_bad_p0():
    with pytest.raises(ValueError, match="p0"):
        binomial_limits(10, 0.0)


def test_overdispersion_near_one_for_binomial_and_above_for_overdispersed():
    rng = np.random.default_rng(1)
    n = rng.integers(40, 300, 400)
    k = rng.binomial(n, 0.2)
    z = z_scores(k, 0.2 * n, n * 0.16)
    od = overdispersion(z, n, 0.2)
    assert 0.7 < od["phi"] < 1.2
    p = np.clip(0.2 + rng.normal(0, 0.06, len(n)), 0.01, 0.99)
    k2 = rng.binomial(n, p)
    od2 = overdispersion(z_scores(k2, 0.2 * n, n * 0.16), n, 0.2)
    assert od2["phi"] > 2 and 0.0015 < od2["tau2"] < 0.006  # true between-unit variance 0.0036 (winsorised)


def test_eb_shrinks_small_units_more_and_recovers_prior():
    rng = np.random.default_rng(3)
    a, b = 12.0, 48.0  # prior mean 0.2
    n = rng.integers(10, 400, 600)
    p = rng.beta(a, b, len(n))
    k = rng.binomial(n, p)
    ah, bh = fit_beta_prior(k, n)
    assert ah / (ah + bh) == pytest.approx(0.2, abs=0.01)
    assert 25 < ah + bh < 150
    eb = eb_beta_binomial(k, n)
    crude = k / n
    mean = eb.attrs["prior_mean"]
    # posterior mean lies between the crude rate and the prior mean
    assert np.all((eb["eb_rate"] - crude) * (eb["eb_rate"] - mean) <= 1e-12)
    small, large = n < 30, n > 300
    assert eb.loc[small, "shrinkage"].min() > eb.loc[large, "shrinkage"].max()
    # EB is closer to the true rates than the crude rates are
    assert np.mean((eb["eb_rate"] - p) ** 2) < np.mean((crude - p) ** 2)
    assert np.all((eb["eb_lo"] <= eb["eb_rate"]) & (eb["eb_rate"] <= eb["eb_hi"]))
    assert eb["p_above"].between(0, 1).all()


def test_poisson_gamma_recovers_the_prior_and_shrinks_by_expected_count():
    from ebpm_analysis.stats.funnel import eb_poisson_gamma, fit_gamma_prior

    rng = np.random.default_rng(11)
    a, b = 20.0, 20.0  # relative risks θ around 1, sd 0.22
    e = rng.uniform(2, 60, 800)
    theta = rng.gamma(a, 1 / b, len(e))
    o = rng.poisson(e * theta)
    ah, bh = fit_gamma_prior(o, e)
    assert ah / bh == pytest.approx(1.0, abs=0.04)
    assert 10 < ah < 40 and 10 < bh < 40
    eb = eb_poisson_gamma(o, e)
    crude = o / e
    # posterior mean lies between O/E and the prior mean; weight on the prior = β / (β + E)
    assert np.all((eb["eb_ratio"] - crude) * (eb["eb_ratio"] - ah / bh) <= 1e-12)
    assert eb["shrinkage"].to_numpy() == pytest.approx(bh / (bh + e))
    assert np.mean((eb["eb_ratio"] - theta) ** 2) < np.mean((crude - theta) ** 2)
    assert np.all((eb["eb_ratio_lo"] < eb["eb_ratio"]) & (eb["eb_ratio"] < eb["eb_ratio_hi"]))
    # the 95 % posterior interval covers the true θ about 95 % of the time (800 units)
    cover = np.mean((eb["eb_ratio_lo"] <= theta) & (theta <= eb["eb_ratio_hi"]))
    assert 0.93 <= cover <= 0.97
    # P(θ > 1): a unit exactly at its expected count is near one half, far above it near one
    one = eb_poisson_gamma([30, 60], [30, 30], prior=(20.0, 20.0))
    assert one.loc[0, "p_above"] == pytest.approx(stats.gamma.sf(1, 50, scale=1 / 50))
    assert 0.45 < one.loc[0, "p_above"] < 0.6 and one.loc[1, "p_above"] > 0.999
