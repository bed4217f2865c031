"""location: distance matrices, coverage, MCLP and p-median against hand computation and brute force."""

import itertools

import numpy as np
import pytest

from ebpm_analysis.errors import ParameterError
from ebpm_analysis.location import (
    Solution,
    coverage,
    distance_matrix,
    greedy_max_coverage,
    mclp,
    mclp_exhaustive,
    mean_nearest,
    p_median,
)

# demand on a line at x = 0, 1, 2 (weight 1 each) and 10, 11 (weight 5 each); sites at x = 1, 10.5, 5
DEM = np.array([[0.0, 0], [1, 0], [2, 0], [10, 0], [11, 0]])
W = np.array([1.0, 1, 1, 5, 5])
SITES = np.array([[1.0, 0], [10.5, 0], [5, 0]])


def test_distance_matrix_by_hand():
    d = distance_matrix(np.array([[0.0, 0.0], [3.0, 4.0]]), np.array([[0.0, 0.0], [6.0, 8.0], [3.0, 0.0]]))
    np.testing.assert_allclose(d, [[0, 10, 3], [5, 5, 4]], rtol=0, atol=1e-12)
    sq = distance_matrix(DEM)
    assert sq.shape == (5, 5) and (np.diag(sq) == 0).all() and (sq == sq.T).all()
    assert sq[0, 4] == 11.0
    with pytest.raises(ParameterError, match="plane coordinates"):
        distance_matrix(np.zeros((3, 3)))


def test_coverage_and_mean_nearest_by_hand():
    cost = distance_matrix(DEM, SITES)
    assert coverage(cost, W, [1], 1.0) == pytest.approx(10 / 13)       # 10.5 covers 10 and 11
    assert coverage(cost, W, [0, 1], 1.0) == 1.0
    assert coverage(cost, W, [], 1.0) == 0.0
    # nearest of {1, 10.5}: 1, 0, 1 for the first three points, 0.5 for the last two (weight 5)
    assert mean_nearest(cost, W, [0, 1]) == pytest.approx((1 + 0 + 1 + 2.5 + 2.5) / 13)


def test_mclp_and_p_median_by_hand():
    cost = distance_matrix(DEM, SITES)
    one = mclp(cost, W, 1.0, 1)
    assert isinstance(one, Solution) and one.sites.tolist() == [1] and one.coverage == pytest.approx(10 / 13)
    assert mclp(cost, W, 1.0, 2).sites.tolist() == [0, 1]
    # keeping x = 5 open, the one free site goes to 10.5
    assert mclp(cost, W, 1.0, 2, fixed=[2]).sites.tolist() == [1, 2]
    # p-median, p = 1: total weighted distance 97 (x = 1), 33.5 (x = 10.5), 67 (x = 5)
    pm = p_median(cost, W, 1)
    assert pm.sites.tolist() == [1] and pm.mean_cost == pytest.approx(33.5 / 13) and np.isnan(pm.coverage)
    assert p_median(cost, W, 1, radius=1.0).coverage == pytest.approx(10 / 13)
    assert p_median(cost, W, 1, fixed=[0]).sites.tolist() == [0]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_mclp_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    cost = distance_matrix(rng.uniform(0, 10_000, (25, 2)), rng.uniform(0, 10_000, (8, 2))) / 1000
    w = rng.integers(1, 50, 25).astype(float)
    for p in (2, 3):
        sol = mclp(cost, w, 3.0, p)
        best, _ = mclp_exhaustive(cost, w, 3.0, p)
        assert len(sol.sites) == p
        assert sol.coverage == pytest.approx(best, abs=1e-9)
        greedy = coverage(cost, w, greedy_max_coverage(cost <= 3.0, w, p), 3.0)
        assert greedy <= sol.coverage + 1e-12 and greedy >= (1 - 1 / np.e) * sol.coverage


def test_fixed_sites_kept_and_p_median_is_optimal():
    rng = np.random.default_rng(11)
    cost = distance_matrix(rng.uniform(0, 8000, (20, 2)), rng.uniform(0, 8000, (7, 2))) / 1000
    w = rng.integers(1, 30, 20).astype(float)
    sol = mclp(cost, w, 2.5, 3, fixed=[0, 1])
    assert {0, 1} <= set(sol.sites.tolist()) and len(sol.sites) == 3
    best = min(mean_nearest(cost, w, c) for c in itertools.combinations(range(7), 3))
    assert p_median(cost, w, 3).mean_cost == pytest.approx(best, abs=1e-9)
    kept = p_median(cost, w, 3, fixed=[6])
    assert 6 in kept.sites and kept.mean_cost >= best - 1e-12


def test_greedy_is_exact_without_overlap():
    # sites 120 apart, radius 50: coverage sets are single points, greedy = heaviest first
    xy = np.column_stack([np.arange(6) * 120.0, np.zeros(6)])
    cover = distance_matrix(xy) <= 50
    assert greedy_max_coverage(cover, [5.0, 9, 1, 7, 3, 8], 3) == [1, 5, 3]
    assert greedy_max_coverage(cover, [5.0, 0, 0, 0, 0, 0], 3) == [0]           # stops when nothing is left


def test_bad_arguments_are_named():
    cost = distance_matrix(DEM, SITES)
    with pytest.raises(ParameterError, match="'p'"):
        mclp(cost, W, 1.0, 4)
    with pytest.raises(ParameterError, match="'fixed'"):
        p_median(cost, W, 1, fixed=[0, 1])
    with pytest.raises(ParameterError, match="'cost'"):
        mclp(cost, W[:3], 1.0, 1)
