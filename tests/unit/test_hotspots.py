"""stats.hotspots: Gi* z and p against hand computation, the sidedness of esda's p-values, FDR, weights."""

import math
import warnings

import numpy as np
import pytest
from scipy import stats

from ebpm_analysis.errors import ParameterError
from ebpm_analysis.stats import hotspots as H
from ebpm_analysis.stats.hotspots import distance_band_weights, gi_star, grid_weights, knn_weights

LINE = np.column_stack([np.arange(5.0), np.zeros(5)])   # five points 1 apart on a line
SPIKE = [0, 0, 0, 0, 10]


def test_z_and_normal_p_by_hand():
    # Gi* with binary weights incl. self: z_i = (Σ_j w_ij x_j − x̄ W_i) / (s √((n W_i − W_i²)/(n − 1))),
    # s² = Σx²/n − x̄². Here n = 5, x̄ = 2, s = 4; end points W = 2, inner points W = 3, and every
    # denominator is 4·√1.5. Point 4 (the spike): (10 − 4) / (4√1.5) = √1.5; point 3: 4 / (4√1.5);
    # point 0: −4 / (4√1.5); points 1, 2: −6 / (4√1.5).
    r = gi_star(SPIKE, distance_band_weights(LINE, 1.0))
    k = 1 / math.sqrt(1.5)
    np.testing.assert_allclose(r.z, [-k, -1.5 * k, -1.5 * k, k, 1.5 * k], rtol=1e-12)
    np.testing.assert_array_equal(r.n_neighbours, [1, 2, 2, 2, 1])
    # one-sided p in the tail of the observation, P(Z > |z|); two-sided doubles it
    np.testing.assert_allclose(r.p_one_sided, stats.norm.sf(np.abs(r.z)), rtol=1e-12)
    assert r.p_one_sided[4] == pytest.approx(0.110336, abs=1e-6)
    np.testing.assert_allclose(r.p_two_sided, 2 * r.p_one_sided, rtol=1e-12)
    np.testing.assert_array_equal(r.p, r.p_one_sided)                  # sided='one' is the default
    assert not r.hot.any() and not r.cold.any()      # five points cannot reach p < 0.05
    two = gi_star(SPIKE, distance_band_weights(LINE, 1.0), sided="two")
    np.testing.assert_array_equal(two.p, r.p_two_sided)


def test_benjamini_hochberg_by_hand():
    # one-sided p: 0.2071 (points 0, 3) and 0.1103 (points 1, 2, 4). BH: sorted p_(j) · n / j, then the
    # running minimum from the top: ranks 1–3 → min(0.1103·5/3, 0.2071·5/4, 0.2071) = 0.18389.
    r = gi_star(SPIKE, distance_band_weights(LINE, 1.0), correction="fdr_bh")
    p1 = stats.norm.sf(1.5 / math.sqrt(1.5))
    p2 = stats.norm.sf(1 / math.sqrt(1.5))
    np.testing.assert_allclose(r.p, [p2, p1 * 5 / 3, p1 * 5 / 3, p2, p1 * 5 / 3], rtol=1e-12)
    np.testing.assert_allclose(r.p_one_sided, [p2, p1, p1, p2, p1], rtol=1e-12)   # unadjusted kept


def _planted(n=12, seed=3):
    rng = np.random.default_rng(seed)
    row, col = np.divmod(np.arange(n * n), n)
    v = rng.poisson(5, n * n).astype(float)
    high = (abs(row - 3) <= 1) & (abs(col - 3) <= 1)
    low = (abs(row - 8) <= 1) & (abs(col - 8) <= 1)
    v[high] += 12
    v[low] = 0
    return row, col, v, high, low


def test_planted_hot_and_cold_cluster_found_and_fdr_is_stricter():
    row, col, v, high, low = _planted()
    r = gi_star(v, grid_weights(row, col))
    centre_hot = (row == 3) & (col == 3)
    centre_cold = (row == 8) & (col == 8)
    assert r.hot[centre_hot].all() and r.cold[centre_cold].all()
    assert r.z[centre_hot][0] == r.z.max()
    assert list(r.label[centre_hot]) == ["ホットスポット"] and list(r.label[centre_cold]) == ["コールドスポット"]
    fdr = gi_star(v, grid_weights(row, col), correction="fdr_bh")
    two = gi_star(v, grid_weights(row, col), sided="two")
    assert fdr.hot[centre_hot].all()
    assert fdr.hot.sum() + fdr.cold.sum() <= r.hot.sum() + r.cold.sum()
    assert two.hot.sum() + two.cold.sum() <= r.hot.sum() + r.cold.sum()
    assert (fdr.p >= r.p - 1e-15).all()
    f = r.frame()
    assert list(f.columns) == ["gi_z", "gi_p", "hot", "cold", "label", "n_neighbours"]


def test_permutation_p_is_the_directed_one_sided_pseudo_p():
    # esda's p_sim: (m + 1) / (P + 1), m = simulated statistics at least as extreme in the tail the
    # observed value lies in. Recompute m from esda's own simulations with the same seed.
    from esda.getisord import G_Local

    row, col, v, high, low = _planted()
    P = 199
    r = gi_star(v, grid_weights(row, col), inference="permutation", permutations=P, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = G_Local(v, grid_weights(row, col), transform="B", permutations=P, star=True, seed=5)
    larger = (g.sim.T >= g.Gs[:, None]).sum(axis=1)
    m = np.minimum(larger, P - larger)
    np.testing.assert_array_equal(r.p_one_sided, (m + 1) / (P + 1))
    np.testing.assert_array_equal(r.p_two_sided, np.minimum(1, 2 * (m + 1) / (P + 1)))
    assert r.p_one_sided.max() <= (P // 2 + 1) / (P + 1) + 1e-9       # one-sided: never above ≈ 0.5
    centre_hot = (row == 3) & (col == 3)
    assert r.p_one_sided[centre_hot][0] == 1 / (P + 1)
    assert r.hot[centre_hot].all()


def test_grid_and_knn_weights():
    row, col = np.divmod(np.arange(12), 4)                 # a 3 × 4 grid
    queen = grid_weights(row, col)
    rook = grid_weights(row, col, queen=False)
    card = lambda w: [w.cardinalities[i] for i in w.id_order]  # noqa: E731
    assert card(queen) == [3, 5, 5, 3, 5, 8, 8, 5, 3, 5, 5, 3]
    assert card(rook) == [2, 3, 3, 2, 3, 4, 4, 3, 2, 3, 3, 2]
    assert sorted(queen.neighbors[0]) == [1, 4, 5]
    # missing cells are not units: drop the centre (1, 1) and its neighbours lose it
    keep = ~((row == 1) & (col == 1))
    assert card(grid_weights(row[keep], col[keep]))[0] == 2
    k = knn_weights(LINE, k=8)                             # capped at n − 1
    assert card(k) == [4] * 5
    assert sorted(knn_weights(LINE, k=2).neighbors[0]) == [1, 2]


def test_bad_arguments_are_named():
    w = distance_band_weights(LINE, 1.0)
    with pytest.raises(ParameterError, match="weights"):
        gi_star([1, 2, 3], w)
    with pytest.raises(ParameterError, match="correction"):
        gi_star(SPIKE, w, correction="bonferroni")
    with pytest.raises(ParameterError, match="sided"):
        gi_star(SPIKE, w, sided="left")
    with pytest.raises(ParameterError, match="inference"):
        gi_star(SPIKE, w, inference="bootstrap")
    with pytest.raises(ParameterError, match="row/col"):
        grid_weights([0.5, 1.0], [0, 1])


def test_greater_sided_p_is_the_upper_tail_and_flags_no_cold_spot():
    """For hot spots only: p = P(Z ≥ z), so a low value's folded p (its own tail) does not count as a discovery
    in the Benjamini–Hochberg ranking, and nothing is labelled cold."""
    low = [10, 10, 10, 10, 0]
    r = gi_star(low, distance_band_weights(LINE, 1.0), sided="greater", alpha=0.5)
    np.testing.assert_allclose(r.p, stats.norm.sf(r.z), rtol=1e-12)
    assert r.p[4] > 0.5 and not r.cold.any()
    folded = gi_star(low, distance_band_weights(LINE, 1.0), sided="one", alpha=0.5)
    assert folded.cold[4] and folded.p[4] < 0.5


def test_excess_test_exact_binomial_and_fdr_by_hand():
    """Per-unit test: P(X ≥ x) with X ~ Binomial(N, exposure share), N = events of the tested units; BH over
    the tested units; an untested unit is left out of N and of the adjustment."""
    from math import comb

    x = np.array([9, 2, 1, 0, 7])
    e = np.array([1.0, 1.0, 2.0, 1.0, 5.0])
    tested = np.array([True, True, True, True, False])
    res = H.excess_test(x, e, tested=tested, alpha=0.05)
    n, share = 12, e[:4] / 5.0
    by_hand = [sum(comb(n, k) * s ** k * (1 - s) ** (n - k) for k in range(xi, n + 1)) for xi, s in zip(x[:4], share,
                                                                                                         strict=True)]
    assert np.allclose(res.p[:4], by_hand, rtol=1e-12) and np.isnan(res.p[4])
    assert np.allclose(res.expected[:4], n * share) and res.ratio[0] == pytest.approx(9 / 2.4)
    order = np.argsort(by_hand)
    ranked = np.array(by_hand)[order] * 4 / np.arange(1, 5)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    assert np.allclose(res.q[:4][order], np.minimum(q, 1), rtol=1e-12)
    assert res.flag.tolist() == [True, False, False, False, False]   # 9 of 12 events on a fifth of the exposure
    assert res.tested.tolist() == tested.tolist()
    # zero exposure is never tested (its expected count would be 0)
    assert not H.excess_test([1, 3, 4], [0.0, 1.0, 1.0]).tested[0]
    with pytest.raises(ParameterError, match="observed"):
        H.excess_test([1.5, 2], [1.0, 1.0])
    with pytest.raises(ParameterError, match="exposure"):
        H.excess_test([1, 2], [-1.0, 1.0])
    with pytest.raises(ParameterError, match="correction"):
        H.excess_test([1, 2], [1.0, 1.0], correction="bonferroni")
