"""Case 7: interrupted time series, synthetic control and the power calculation — on the real Kumamoto
records, with planted effects where the truth must be known."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from ebpm_analysis.cases import evaluation as ce
from ebpm_analysis.errors import ParameterError
from ebpm_analysis.io import npa_accidents as na
from ebpm_analysis.stats import power as pw
from ebpm_analysis.stats import scm
from ebpm_analysis.synth import evaluation as se

KUMAMOTO_WARDS = ["43101", "43102", "43103", "43104", "43105"]


@pytest.fixture(scope="module")
def city(kumamoto_accidents):
    acc = kumamoto_accidents
    return acc[acc["occurred_at"] < "2021-11-01"]


# ----------------------------------------------------------------------------------- ITS
@pytest.mark.parametrize("pref,start,end", [
    ("43", dt.date(2020, 4, 16), dt.date(2020, 5, 14)),   # 熊本: expansion to all prefectures, lifted with 39
    ("16", dt.date(2020, 4, 16), dt.date(2020, 5, 14)),   # 富山
    ("13", dt.date(2020, 4, 7), dt.date(2020, 5, 25)),    # 東京: first seven, lifted last
    ("27", dt.date(2020, 4, 7), dt.date(2020, 5, 21)),    # 大阪
    ("40", dt.date(2020, 4, 7), dt.date(2020, 5, 14)),    # 福岡: first seven, lifted with 39
    ("01", dt.date(2020, 4, 16), dt.date(2020, 5, 25)),   # 北海道
])
def test_emergency_periods(pref, start, end):
    assert ce.emergency_period(pref) == (start, end)


@pytest.mark.parametrize("bad", ["43100", "48", 43, ""])
def test_emergency_period_needs_a_prefecture_code(bad):
    with pytest.raises(ParameterError, match="pref_code"):
        ce.emergency_period(bad)


def test_weekly_counts_are_full_weeks_and_sum_to_the_records(city):
    w = ce.weekly_counts(city, start="2019-01-01", end="2021-10-31")
    assert w["week"].iloc[0] == pd.Timestamp("2019-01-07") and w["week"].dt.day_of_week.eq(0).all()
    assert w["week"].iloc[-1] == pd.Timestamp("2021-10-25")
    inside = city["occurred_at"].between("2019-01-07", "2021-10-31 23:59")
    assert w["y"].sum() == inside.sum()


def test_its_on_the_real_records_finds_the_emergency_and_no_placebo_effect(city):
    its = ce.its_analysis(city, pref_code="43", start="2019-01-01", end="2021-10-31")
    t = its.table.set_index("term")
    em = t.loc["emergency"]
    assert em["hi"] < 1.0 and 0.4 < em["ratio"] < 0.7          # fewer accidents during the emergency
    assert t.loc["holiday", "ratio"] < 1.0                       # fewer accidents on national holidays
    pl = its.placebo
    assert set(pl["year"]) == {2019, 2021}
    assert ((pl["lo"] < 1.0) & (pl["hi"] > 1.0)).all()           # the same dates in other years: no effect
    cf = its.counterfactual
    during = cf["week"].between("2020-04-13", "2020-05-11")
    assert (cf.loc[during, "counterfactual"] > cf.loc[during, "fitted"]).all()


def test_its_recovers_a_planted_change_in_the_real_series(city):
    """Records thinned to 70 % in an 8-week window of 2019: the ITS ratio for the window, relative to
    the same fit on the untouched records, is 0.7 (mean over 8 thinnings within ±0.05; the thinning
    noise alone gives an SD of about 0.04 per replicate)."""
    window = pd.DataFrame({"term": ["planted"], "label": ["planted"], "start": [dt.date(2019, 6, 3)],
                           "end": [dt.date(2019, 7, 28)]})
    events = pd.concat([ce.covid_events("43"), window], ignore_index=True)
    terms = ["school_closure", "emergency", "after", "planted"]

    def ratio(acc):
        frame = ce.its_frame(ce.weekly_counts(acc, start="2019-01-01", end="2021-10-31"), events)
        with threadpool_limits(1):
            return ce.fit_its(frame, terms)[0].set_index("term").loc["planted"]

    base = ratio(city)
    in_window = city["occurred_at"].between("2019-06-03", "2019-07-28 23:59").to_numpy()
    rel = []
    for s in range(8):
        keep = ~in_window | (np.random.default_rng(s).random(len(city)) < 0.7)
        r = ratio(city[keep])
        rel.append(r["ratio"] / base["ratio"])
    assert np.mean(rel) == pytest.approx(0.7, abs=0.05)


# ----------------------------------------------------------------------------------- synthetic control
def test_synthetic_control_recovers_a_planted_effect_in_a_factor_model():
    """Donors follow three common patterns; the treated unit is a mix of three donors (plus a little
    noise) and loses 20 % after month 24: the effect is recovered and the unit ranks first."""
    rng = np.random.default_rng(0)
    t = np.arange(36)
    factors = np.stack([1 + 0.3 * np.sin(2 * np.pi * t / 12), 1 - 0.01 * t, 1 + 0.2 * (t > 15)])
    load = rng.dirichlet(np.ones(3), size=15)
    Y = pd.DataFrame((load @ factors).T * 50 * (1 + rng.normal(0, 0.02, (36, 15))),
                     columns=[f"d{i}" for i in range(15)])
    Y["treated"] = (0.5 * Y["d0"] + 0.3 * Y["d1"] + 0.2 * Y["d2"]) * np.where(t >= 24, 0.8, 1.0)
    with threadpool_limits(1):
        res = scm.placebo_in_space(scm.index_series(Y, 24), "treated", 24)
    assert res["effect"] == pytest.approx(-0.2, abs=0.03)
    assert res["rank"] == 1 and res["p"] == pytest.approx(1 / 16)
    assert res["weights"].sum() == pytest.approx(1.0, abs=1e-6) and (res["weights"] >= -1e-9).all()


def test_synthetic_control_needs_counts_before_the_start():
    Y = pd.DataFrame({"a": [0.0, 0.0, 5.0], "b": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="no counts before the start"):
        scm.index_series(Y, 2)


def test_synthetic_control_on_the_real_records_and_with_the_planted_city_measure():
    """Real records: no city-wide measure, and the city does not stand out (p > 0.1). The planted set
    (−20 % from 2020-10): relative to the real-record fit, the city's post-period falls by 20 % (±5 %)."""
    real = na.load_accidents(na.GPKG_FILE, pref_code="93")
    kw = dict(city_code="43100", city_parts=KUMAMOTO_WARDS, start_month="2020-10", start="2019-01", end="2021-10")
    base = ce.sc_analysis(real, **kw)
    assert base.p > 0.1 and base.n_units >= 15
    folder = se.ensure_evaluation(2026, city_code="43100", end="2021-10")
    planted = ce.sc_analysis(na.read_honhyo_csv(folder / se.FILES["accidents"], pref_code="93",
                                                nature="synthetic"), **kw)
    assert (1 + planted.effect) / (1 + base.effect) == pytest.approx(0.8, abs=0.05)
    assert planted.rank <= 3


def test_municipality_series_sums_the_wards_into_the_city(city):
    pref = na.load_accidents(na.GPKG_FILE, pref_code="93")
    Y = ce.municipality_series(pref, city_code="43100", city_parts=KUMAMOTO_WARDS, start="2019-01", end="2021-10")
    assert "43100" in Y.columns and not set(KUMAMOTO_WARDS) & set(Y.columns)
    assert Y["43100"].sum() == len(city[city["occurred_at"] >= "2019-01-01"])
    assert list(Y.index[:2]) == ["2019-01", "2019-02"] and len(Y) == 34


# ----------------------------------------------------------------------------------- power
@pytest.fixture(scope="module")
def candidates(city):
    panel = ce.count_panel(city, start="2019-01", end="2021-10")
    return panel.y[se.candidates(panel, 8)]


def test_power_calculation_agrees_with_simulation_on_the_real_records(candidates):
    """At the treated-mesh count the formula says detects −20 % with 80 % power (24 months before, 10
    after, the rest of the candidates as comparison), 400 simulated evaluations on the real counts
    (random meshes, binomial thinning, the report's estimator) detect it as often as predicted, within
    3 Monte Carlo SE (about ±0.06)."""
    y = candidates
    rate = float(y[:, :34].mean())
    with threadpool_limits(1):
        phi = pw.dispersion_from_placebos(y, n_treated=40, start=24, months_pre=24, months_post=10, reps=500)
        n = pw.units_needed(0.2, len(y), 24, 10, rate, phi)
        assert n is not None and 20 <= n <= len(y) // 2
        predicted = float(pw.power(-0.2, n, len(y) - n, 24, 10, rate, phi))
        rng = np.random.default_rng(1)
        hits = []
        for _ in range(400):
            g = np.full(len(y), -1)
            g[rng.choice(len(y), n, replace=False)] = 24
            panel = ce.CountPanel(se.plant_counts(y, se.keep_probability(g, 34, effect=-0.2), rng),
                                  np.arange(len(y)), pd.period_range("2019-01", periods=34, freq="M"))
            hits.append(ce.did_overall(panel, g).table["p"].iloc[0] < 0.05)
    assert abs(np.mean(hits) - predicted) <= 3 * np.sqrt(predicted * (1 - predicted) / 400), (np.mean(hits), predicted)


def test_mde_falls_with_more_areas_and_months():
    m = [[pw.mde(n, 150, 24, k, 0.5, 0.9) for n in (10, 20, 40, 80)] for k in (6, 12, 24)]
    assert all(a > b for row in m for a, b in zip(row, row[1:], strict=False))
    assert all(a > b for a, b in zip([r[1] for r in m], [r[1] for r in m][1:], strict=False))
    n = pw.units_needed(0.2, 200, 24, 12, 0.5, 0.9)
    assert pw.mde(n, 200 - n, 24, 12, 0.5, 0.9) <= 0.2 < pw.mde(n - 1, 201 - n, 24, 12, 0.5, 0.9)


def test_units_needed_says_when_the_candidates_are_not_enough():
    assert pw.units_needed(0.05, 40, 12, 6, 0.2) is None


# ----------------------------------------------------------------------------------- KPI (issue 13: one number)
def test_kpi_accidents_is_03s_count_of_the_year(kumamoto_accidents):
    """The KPI 人身事故件数 of 07 is 03's (same label, register name and definition): every record of the year of
    the last analysis month, not only the analysis months. Before, 07 counted 2021-01..2021-10 and said 1,293 件
    while 03 said 1,463 件 for 熊本市 2021."""
    from ebpm_analysis.cases import probe as cp
    acc = kumamoto_accidents
    trend = cp.accident_trend(acc, years=(2019, 2020, 2021), by=None)["city"].set_index("year")["n"]
    assert ce.kpi_accidents(acc, "2021-10") == (2021, int(trend[2021])) == (2021, 1463)
    assert ce.kpi_accidents(acc, "2020-03") == (2020, int(trend[2020])) == (2020, 1538)
    # by hand: records of other years, and of the year's months after the period, are (not) counted
    toy = pd.DataFrame({"year": [2020, 2021, 2021, 2021, 2022]})
    assert ce.kpi_accidents(toy, "2021-01") == (2021, 3)
