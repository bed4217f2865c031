"""Issue 13 defects of 04 fixed in the package: the model choice and its sentence agree with the
validation table, the crew saving's interval respects the day clustering of calls, and the weekday
chart's bars start at zero."""

import matplotlib
import numpy as np
import pandas as pd
import pytest

from ebpm_analysis.cases import emergency as ce

matplotlib.use("Agg")

NAMES = {"GLM": "GLM（負の二項回帰）", "SARIMAX": "SARIMAX（回帰＋ARMA誤差）"}


def _bt(glm: float, sarimax: float, naive: float = 14.0) -> pd.DataFrame:
    rows = []
    for origin in ("2023-07-01", "2024-01-01"):
        rows += [{"origin": origin, "model": "GLM", "mae": glm, "mape": 8.0, "days": 364},
                 {"origin": origin, "model": "SARIMAX", "mae": sarimax, "mape": 8.0, "days": 364},
                 {"origin": origin, "model": "季節ナイーブ", "mae": naive, "mape": 12.0, "days": 364}]
    return pd.DataFrame(rows)


def test_equal_errors_keep_the_simpler_model_and_say_so():
    """SARIMAX 0.5 % better is within the printed precision: before the fix it was chosen as 'the smallest
    error' while the table showed 10.4 for both."""
    s = ce.backtest_summary(_bt(10.45, 10.40))
    assert s.set_index("model")["chosen"].to_dict() == {"GLM": True, "SARIMAX": False, "季節ナイーブ": False}
    said = ce.choice_sentence(s, NAMES)
    assert said.startswith("GLM（負の二項回帰）とSARIMAX（回帰＋ARMA誤差）の検証誤差は同程度"
                           "（MAE 10.4・10.4件/日、差0.5%）")
    assert "より単純な **GLM（負の二項回帰）** を採用" in said


def test_a_clearly_better_model_is_chosen_with_its_margin():
    s = ce.backtest_summary(_bt(10.8, 9.72))
    assert s.loc[s["chosen"], "model"].item() == "SARIMAX"
    assert ce.choice_sentence(s, NAMES) == (
        "予測モデルは検証誤差がGLM（負の二項回帰）より10%小さい **SARIMAX（回帰＋ARMA誤差）** を"
        "採用（ローリング・オリジン検証の平均絶対誤差（MAE）9.7件/日）。")
    s = ce.backtest_summary(_bt(9.72, 10.8))
    assert s.loc[s["chosen"], "model"].item() == "GLM"
    assert "SARIMAX（回帰＋ARMA誤差）より10%小さい **GLM（負の二項回帰）**" in ce.choice_sentence(s, NAMES)


def test_day_bootstrap_interval_by_hand():
    # Two days: resampling gives means of day A only (1.0), day B only (3.0) or both (weighted by calls).
    lo, hi = ce.day_bootstrap_interval(np.array([1.0, 1.0, 1.0, 3.0]), np.array([0, 0, 0, 1]), reps=4000, seed=3)
    assert (lo, hi) == (1.0, 3.0)
    assert np.isnan(ce.day_bootstrap_interval(np.array([1.0, 2.0]), np.array([5, 5]))[0])


def test_day_bootstrap_covers_the_truth_at_its_nominal_rate():
    """Calls of one day share a day effect (crews busy together). Over 1,000 simulated periods of 150
    days the 95 % day-bootstrap interval covers the true mean 93.9 % of the time; the SD/√n interval
    the report printed before covered it 69 % of the time."""
    rng = np.random.default_rng(1)
    covered = naive = 0
    reps = 1000
    for r in range(reps):
        per_day = rng.poisson(4, 150) + 1
        day_effect = rng.normal(0, 1.0, 150)
        days = np.repeat(np.arange(150), per_day)
        v = 1.5 + day_effect[days] + rng.normal(0, 1.0, len(days))
        lo, hi = ce.day_bootstrap_interval(v, days, reps=1000, seed=r)
        covered += lo <= 1.5 <= hi
        naive += abs(v.mean() - 1.5) <= 1.96 * v.std(ddof=1) / np.sqrt(len(v))
    assert 0.93 <= covered / reps <= 0.97
    assert naive / reps < 0.80


def test_weekday_bars_start_at_zero():
    from ebpm_analysis.plots import emergency as pe
    hourly = pd.DataFrame({"hour": range(24), "share": np.full(24, 1 / 24)})
    weekday = pd.DataFrame({"day": ["月", "火", "水", "木", "金", "土", "日"],
                            "index_vs_mean": [1.05, 1.0, 0.99, 0.98, 1.01, 0.97, 0.96]})
    fig = pe.profiles(hourly, weekday, {"share": 0.5}, source="test", synthetic=True)
    ax = fig.axes[1]
    heights = [b.get_height() for b in ax.patches]
    assert heights == pytest.approx([5.0, 0.0, -1.0, -2.0, 1.0, -3.0, -4.0])
    lo, hi = ax.get_ylim()
    assert lo < 0 < hi and lo == -hi            # symmetric around no difference: bars start at 0
    assert "差（%）" in ax.get_ylabel()
