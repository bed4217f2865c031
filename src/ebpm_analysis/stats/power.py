"""Planning an evaluation (事業立案): minimum detectable effect and the treated units × months it needs.

Design: ``n_treated`` areas start the measure together, ``n_control`` comparable areas do not; counts
are observed ``months_pre`` months before and ``months_post`` months after the start; every area has
``rate`` accidents a month on average. The DiD rate ratio (treated after/before ÷ comparison
after/before) has, on the log scale, approximately the variance of four Poisson totals::

    Var(log R) ≈ phi × (1/E_T,post + 1/E_T,pre + 1/E_C,post + 1/E_C,pre)

where ``E`` are expected counts (``E_T,post`` already reduced by the effect) and ``phi`` ≥ 1 is the
extra variance real areas show (areas' own ups and downs), measured on the city's data with placebo
designs (:func:`dispersion_from_placebos`). A reduction ``d`` is detected with probability ``power`` at
two-sided level ``alpha`` when ``|log(1 − d)| = (z_{1−alpha/2} + z_power) × sd(log R)``.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, stats

from . import did


def log_se(effect: float, n_treated, n_control, months_pre, months_post, rate: float, phi: float = 1.0):
    """Standard deviation of log R for a change ``effect`` (e.g. −0.2)."""
    e_tpost = np.asarray(n_treated) * rate * np.asarray(months_post) * (1 + effect)
    e_tpre = np.asarray(n_treated) * rate * np.asarray(months_pre)
    e_cpost = np.asarray(n_control) * rate * np.asarray(months_post)
    e_cpre = np.asarray(n_control) * rate * np.asarray(months_pre)
    return np.sqrt(phi * (1 / e_tpost + 1 / e_tpre + 1 / e_cpost + 1 / e_cpre))


def power(effect: float, n_treated, n_control, months_pre, months_post, rate: float, phi: float = 1.0,
          alpha: float = 0.05):
    """Probability that the two-sided test at ``alpha`` finds a change ``effect`` (normal approximation)."""
    se = log_se(effect, n_treated, n_control, months_pre, months_post, rate, phi)
    z = abs(np.log1p(effect)) / se
    c = stats.norm.ppf(1 - alpha / 2)
    return stats.norm.sf(c - z) + stats.norm.cdf(-c - z)


def mde(n_treated: int, n_control: int, months_pre: int, months_post: int, rate: float, phi: float = 1.0,
        alpha: float = 0.05, target_power: float = 0.8) -> float:
    """Smallest reduction (positive share, e.g. 0.2 = −20 %) detected with ``target_power``."""
    f = lambda d: power(-d, n_treated, n_control, months_pre, months_post, rate, phi, alpha) - target_power  # noqa: E731
    # Power first rises with the reduction, then falls again near −100 % (too few accidents left to
    # count): bracket the first crossing on a grid, then solve.
    grid = np.linspace(0.005, 0.95, 190)
    ok = np.flatnonzero(np.array([f(d) for d in grid]) >= 0)
    if not len(ok):
        return float("nan")
    if ok[0] == 0:
        return float(grid[0])
    return float(optimize.brentq(f, grid[ok[0] - 1], grid[ok[0]]))


def units_needed(reduction: float, n_candidates: int, months_pre: int, months_post: int, rate: float,
                 phi: float = 1.0, alpha: float = 0.05, target_power: float = 0.8) -> int | None:
    """Fewest treated areas (the rest of ``n_candidates`` being the comparison group) that detect
    ``reduction`` with ``target_power``; ``None`` if even half of the candidates are not enough."""
    for n in range(2, n_candidates // 2 + 1):
        if power(-reduction, n, n_candidates - n, months_pre, months_post, rate, phi, alpha) >= target_power:
            return n
    return None


def dispersion_from_placebos(y: np.ndarray, *, n_treated: int, start: int, months_pre: int, months_post: int,
                             reps: int = 200, seed: int = 0) -> float:
    """``phi`` on real counts (areas × months, candidate areas only): the variance of log R over random
    placebo 'treated' sets starting at ``start`` (no effect), divided by the Poisson formula's variance."""
    rng = np.random.default_rng(seed)
    window = np.arange(start - months_pre, start + months_post)
    if window[0] < 0 or window[-1] >= y.shape[1]:
        raise ValueError(f"months {window[0]}..{window[-1]} are outside the data (0..{y.shape[1] - 1})")
    yw = y[:, window]
    post = np.arange(len(window))[None, :] >= months_pre
    logs = []
    for _ in range(reps):
        treated = np.zeros(len(y), dtype=bool)
        treated[rng.choice(len(y), n_treated, replace=False)] = True
        groups = np.where(treated[:, None] & post, 0, did.UNTREATED)
        obs, exp_, *_ = did._imputation(yw, groups, 1)
        logs.append(np.log(obs[0] / exp_[0]))
    rate = yw.mean()
    return float(np.var(logs, ddof=1) / log_se(0.0, n_treated, len(y) - n_treated, months_pre, months_post, rate) ** 2)


def planted_mask(rng: np.random.Generator, replicates: int, n_units: int, n_planted: int) -> np.ndarray:
    """A (replicates × units) boolean mask with ``n_planted`` units drawn at random in each replicate: where a
    power simulation plants its effect (04's districts, 05's segments)."""
    planted = np.zeros((replicates, n_units), bool)
    idx = rng.random((replicates, n_units)).argsort(axis=1)[:, :n_planted]
    np.put_along_axis(planted, idx, True, axis=1)
    return planted


def recovery_summary(flagged, planted, exposure, *, exposure_name: str = "exposure_median") -> dict:
    """One row of a planted-effect simulation from its replicates: ``flagged`` (replicates × units, bool: the
    rule's flags), ``planted`` (replicates × n_planted unit indices), ``exposure`` (per replicate, the planted
    units' exposure). ``recall`` = planted units flagged (mean over replicates), ``false_flags`` = unplanted
    units flagged (mean per replicate), ``false_share`` = false / all flags pooled (0 with no flag),
    ``exposure_name`` (default ``exposure_median``) = the median over replicates of the planted units' median
    exposure, ``replicates``; in that order."""
    flagged = np.asarray(flagged, dtype=bool)
    planted = np.asarray(planted, dtype=np.int64)
    hits = np.take_along_axis(flagged, planted, axis=1)
    false = flagged.sum(axis=1) - hits.sum(axis=1)
    flags = int(flagged.sum())
    return {"recall": float(hits.mean(axis=1).mean()), "false_flags": float(false.mean()),
            "false_share": float(false.sum() / flags) if flags else 0.0,
            exposure_name: float(np.median([np.median(e) for e in exposure])), "replicates": len(flagged)}


def recovery_grid(power, *, effect: str, recall: str, false: str, effect_label: str, effect_text,
                  volume_label: str, volume_text=None):
    """A recovery (power) simulation for a report: one row per planted effect size (column ``effect``, shown by
    ``effect_text`` under ``effect_label``), one column per data volume (``volume_label`` with the multiple),
    each cell 「検出率%（誤検出 x.x）」 from the columns ``recall`` and ``false``; ``volume_text`` (a function of the
    volume) names the columns instead of 「<volume_label> N倍」 (e.g. 「出動記録 3年分」). One layout for every case's
    power table (02 facilities, 03 hot spots, 04 districts, 05 route segments)."""
    t = power.assign(cell=[f"{100 * r:.0f}%（誤検出 {f:.1f}）" for r, f in zip(power[recall], power[false],
                                                                        strict=True)])
    t = t.pivot(index=effect, columns="volume", values="cell")
    t.columns = [volume_text(v) if volume_text else f"{volume_label} {v:g}倍" for v in t.columns]
    t = t.reset_index().rename(columns={effect: effect_label})
    t[effect_label] = t[effect_label].map(effect_text)
    return t

