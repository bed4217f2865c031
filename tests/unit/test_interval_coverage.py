"""Issue 13: the intervals the reports print cover the truth at their nominal rate. Each test simulates
data with a known truth the way the case's data arise, builds the 95 % interval the package gives, and
counts how often it contains the truth (93–97 % over enough replicates; seeds fixed, so the counts are
exact numbers, not flaky draws). Where an interval used to ignore clustering, the test also shows how
far the old one fell short."""

import numpy as np
import pytest

from ebpm_analysis.stats.intervals import cluster_ratio_interval, poisson_ci, wilson_ci


def test_cluster_interval_by_hand():
    # Identical clusters: nothing varies; a mean is its point, a share gets Wilson over the clusters.
    assert cluster_ratio_interval([2, 2, 2], [10, 10, 10]) == (0.2, 0.2)
    lo, hi = cluster_ratio_interval(np.zeros(24), np.full(24, 30.0), share=True)
    assert lo == pytest.approx(0.0, abs=1e-12) and hi == pytest.approx(0.1380, abs=1e-4)   # Wilson: 0 of 24
    assert np.isnan(cluster_ratio_interval([1], [4])[0])                  # one cluster: no interval
    assert np.isnan(cluster_ratio_interval([0, 0], [0, 0])[0])            # nothing observed
    lo, hi = cluster_ratio_interval([0, 0, 0, 0, 10], [10, 10, 10, 10, 10])
    assert lo == pytest.approx(0.0) and 0.2 < hi <= 1.0                   # one child of five leaves the route


def test_school_route_share_clustered_by_child():
    """05: a segment walked by 24 children, a third of whom take a detour on a quarter of their trips
    (the rest almost never). Off-route fixes of one child are not independent: the child-cluster
    bootstrap covers the true share 95.0 % of the time over 400 segments; the Wilson interval over
    fixes, which the report printed before, 60.5 %."""
    rng = np.random.default_rng(5)
    truth = 0.35 * 0.25 + 0.65 * 0.005
    reps, covered, wilson = 400, 0, 0
    for r in range(reps):
        deviates = rng.random(24) < 0.35
        fixes = rng.poisson(30, 24) + 1
        off = rng.binomial(fixes, np.where(deviates, 0.25, 0.005))
        lo, hi = cluster_ratio_interval(off, fixes, seed=r)
        covered += lo <= truth <= hi
        wl, wh = wilson_ci(off.sum(), fixes.sum())
        wilson += wl <= truth <= wh
    assert 0.93 <= covered / reps <= 0.97
    assert wilson / reps < 0.70


def test_crew_saving_clustered_by_day():
    """04: minutes saved per call share a day effect (the crews are busy together). Over 300 simulated
    periods of 150 days the day-cluster bootstrap covers the true mean saving 93–97 % of the time; the
    SD/√n interval the report printed before covers it far less often."""
    rng = np.random.default_rng(1)
    reps, covered, naive = 300, 0, 0
    for r in range(reps):
        per_day = rng.poisson(4, 150) + 1
        day_effect = rng.normal(0, 1.0, 150)
        day = np.repeat(np.arange(150), per_day)
        saved = 1.5 + day_effect[day] + rng.normal(0, 1.0, len(day))
        sums = np.bincount(day, weights=saved)
        lo, hi = cluster_ratio_interval(sums, per_day.astype(float), seed=r)
        covered += lo <= 1.5 <= hi
        naive += abs(saved.mean() - 1.5) <= 1.96 * saved.std(ddof=1) / np.sqrt(len(saved))
    assert 0.93 <= covered / reps <= 0.97
    assert naive / reps < 0.80


def test_wilson_interval_for_independent_trials():
    """01/04: shares of independent people or calls (市内従業率, the 8–20 h share) use Wilson."""
    rng = np.random.default_rng(11)
    p, n, reps = 0.12, 400, 4000
    k = rng.binomial(n, p, reps)
    lo, hi = wilson_ci(k, np.full(reps, n))
    assert 0.93 <= np.mean((lo <= p) & (p <= hi)) <= 0.97


def test_exact_poisson_interval_for_counts():
    """04: district rates per 1,000 use the exact Poisson interval of the count (conservative by design:
    at least 95 %, at most 97 % at these counts)."""
    rng = np.random.default_rng(12)
    mu, reps = 37.0, 4000
    c = rng.poisson(mu, reps)
    lo, hi = poisson_ci(c)
    assert 0.95 <= np.mean((lo <= mu) & (mu <= hi)) <= 0.97
