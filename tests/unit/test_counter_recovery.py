"""Planted truth recovered: weekday and rain rate ratios within 10 % of the generator's; the expiry
re-spread scenario lowers the peak month; the synthetic files go through the real loaders."""

import json

import numpy as np
import pandas as pd
import pytest

from ebpm_analysis.cases import counter as cc
from ebpm_analysis.io.counter_log import read_counter_log, read_expiry_register
from ebpm_analysis.io.jma import read_jma_daily
from ebpm_analysis.jpcalendar import office_calendar
from ebpm_analysis.synth.counter import FILES, CounterTruth, ensure_counter, generate_counter_log, monthly_levels
from ebpm_analysis.synth.weather import generate_daily_weather

START, END = "2021-04-01", "2026-03-31"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = ensure_counter(7, out_dir=tmp_path_factory.mktemp("counter"), start=START, end=END)
    return {k: folder / name for k, name in FILES.items()}


@pytest.fixture(scope="module")
def loaded(files):
    log = read_counter_log(files["log"], nature="synthetic")
    weather = read_jma_daily(files["weather"], nature="synthetic")
    reg = read_expiry_register(files["expiry"], nature="synthetic")
    truth = json.loads(files["truth"].read_text(encoding="utf-8"))
    days = cc.prepare_days(log, weather, rain_threshold_mm=truth["rain_threshold_mm"])
    return days, reg, truth


def _relative_errors(model, truth):
    rr = cc.weekday_rate_ratios(model)
    errs = {w: abs(rr[w] / truth["weekday_rr"][w] - 1) for w in truth["weekday_rr"]}
    errs["rain"] = abs(np.exp(model.result.params["rain"]) / truth["rain_rr"] - 1)
    return errs


def test_files_are_in_the_real_format_and_labelled_synthetic(files):
    raw = files["log"].read_bytes()
    raw.decode("cp932")
    assert raw.decode("cp932").startswith("日付,曜日,受付件数,平均待ち時間(分),最大待ち時間(分),窓口職員数,備考")
    truth = json.loads(files["truth"].read_text(encoding="utf-8"))
    assert truth["synthetic"] is True and truth["seed"] == 7
    assert files["weather"].read_bytes().decode("cp932").splitlines()[3].startswith("年月日,")


def test_generator_is_deterministic_and_cached(files):
    again = ensure_counter(7, out_dir=files["log"].parent.parent, start=START, end=END)
    assert again == files["log"].parent and again.name.startswith("43100_seed7_")
    assert {k: again / name for k, name in FILES.items()} == files
    w = generate_daily_weather("2024-04-01", "2024-06-30", seed=3)
    a = generate_counter_log(w, seed=5, with_waits=False)
    b = generate_counter_log(w, seed=5, with_waits=False)
    c = generate_counter_log(w, seed=6, with_waits=False)
    pd.testing.assert_frame_equal(a, b)
    assert not a["count"].equals(c["count"])


def test_generator_only_writes_open_days(loaded):
    days, _, _ = loaded
    assert (days["date"].dt.day_of_week < 5).all()
    md = days["date"].dt.strftime("%m-%d")
    assert not md.isin(["12-29", "12-30", "12-31", "01-01", "01-02", "01-03"]).any()
    assert not days["date"].isin(pd.to_datetime(["2024-05-03", "2025-11-03", "2023-01-09"])).any()


@pytest.mark.parametrize("family", ["negbin", "poisson"])
def test_weekday_and_rain_effects_recovered_from_files(loaded, family):
    days, _, truth = loaded
    model = cc.fit_count_model(days, family=family)
    errs = _relative_errors(model, truth)
    assert max(errs.values()) <= 0.10, errs


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_weekday_and_rain_effects_recovered_other_seeds(seed):
    w = generate_daily_weather(START, END, seed=seed + 1000)
    log = generate_counter_log(w, seed=seed, scale=2.0, with_waits=False)
    days = cc.prepare_days(log[["date", "count"]], w)
    model = cc.fit_count_model(days)
    tr = CounterTruth()
    errs = _relative_errors(model, {"weekday_rr": tr.weekday_rr, "rain_rr": tr.rain_rr})
    assert max(errs.values()) <= 0.10, errs
    # and the other planted effects land near their truth too (looser: fewer such days)
    assert np.exp(model.result.params["holiday_adjacent"]) == pytest.approx(tr.holiday_adjacent_rr, rel=0.15)
    assert np.exp(model.result.params["year_end"]) == pytest.approx(tr.year_end_rr, rel=0.2)


def test_overdispersion_detected(loaded):
    days, _, truth = loaded
    model = cc.fit_count_model(days, family="auto")
    assert model.family == "negbin" and model.dispersion > 1.2
    assert model.alpha == pytest.approx(truth["nb_alpha"], abs=0.03)


def test_expiry_link_finds_the_planted_lead(loaded):
    days, reg, truth = loaded
    link = cc.fit_expiry_link(days, reg)
    assert link.lead_months == truth["renewal_lead_months"]
    assert link.r2 > 0.9


def test_expiry_link_recovers_applications_per_permit():
    """One renewal per permit every cycle, times the average day effect (Mondays, rain, holidays and the
    year end raise counts: the generator's mean multiplier over open days is ~1.19), is what a, the
    applications per permit and year, estimates. Its noise-free value (the fit on the generator's expected
    counts) is within 4 % of that (months differ in their mix of day effects, which a 12-point fit weights
    unevenly); the estimate on counts is within 3 standard errors of the noise-free value (the standard
    error is 5 %, measured over seeds 1–10: the NB day-to-day noise of ~90 February days drives it)."""
    t = CounterTruth()
    reg = pd.DataFrame({"month": range(1, 13), "permits": [t.expiry_register[m] for m in range(1, 13)]})
    w = generate_daily_weather(START, END, seed=7)
    log = generate_counter_log(w, seed=7, with_waits=False)
    days = cc.prepare_days(log[["date", "count"]], w)
    cal = office_calendar(w["date"].min(), w["date"].max()).merge(w, on="date", how="left")
    lev = monthly_levels(t, cal)
    multiplier = log["mu"] / np.array([lev[(d.year, d.month)] for d in log["date"]])
    target = float(multiplier.mean()) / t.renewal_cycle_years
    noise_free = cc.fit_expiry_link(days.assign(count=log["mu"].to_numpy()), reg).per_permit
    assert noise_free == pytest.approx(target, rel=0.04)
    assert abs(cc.fit_expiry_link(days, reg).per_permit / noise_free - 1) < 3 * 0.05


def test_expiry_link_is_not_biased_by_a_log_that_starts_mid_year(loaded):
    """A log from 15 January counted January twice over a span of 4.2 "years": a rose by ~20 % (0.393 →
    0.471 on the default data). Rates per open day of each month times its usual open days do not."""
    days, reg, _ = loaded
    full = cc.fit_expiry_link(days, reg).per_permit
    for start in ("2022-01-15", "2021-06-01", "2021-04-15"):
        assert cc.fit_expiry_link(days[days["date"] >= start], reg).per_permit == pytest.approx(full, rel=0.02)
    obs, open_days = cc.monthly_per_year(days)
    per_day = days.groupby("month")["count"].mean()
    assert (obs / open_days).to_numpy() == pytest.approx(per_day.reindex(range(1, 13)).to_numpy(), rel=1e-12)


def test_expiry_link_refuses_a_log_missing_months(loaded):
    from ebpm_analysis.errors import ParameterError
    days, reg, _ = loaded
    with pytest.raises(ParameterError, match=r"no data for month\(s\) \[7, 8\]"):
        cc.fit_expiry_link(days[~days["month"].isin([7, 8])], reg)


def _link(lead: int) -> cc.ExpiryLink:
    return cc.ExpiryLink(lead_months=lead, per_permit=0.3, other_per_open_day=3.0, r2=0.97, fitted=pd.DataFrame())


def test_expiry_timing_sentence_follows_the_data():
    reg = pd.DataFrame({"month": range(1, 13), "permits": [100] * 2 + [900] + [100] * 9})   # March: 900 of 2,000
    said = cc.expiry_timing_sentence(2, reg, _link(1))
    assert said.startswith("2月は、使用者証の有効期限が最も多い3月（全体の45%）の1か月前にあたります")
    assert "決定係数0.97" in said
    same = cc.expiry_timing_sentence(3, reg, _link(0))
    assert same.startswith("3月は、使用者証の有効期限が最も多い3月（全体の45%）のその月")
    other = cc.expiry_timing_sentence(8, reg, _link(1))
    assert "その申請が来る2月は最も混む8月と一致しません" in other and "8月の混雑には有効期限以外の要因" in other
    assert cc.application_month(1, 2) == 11 and cc.application_month(3, 0) == 3


@pytest.mark.parametrize("share", [0.3, 0.6, 1.0])
def test_scenario_lowers_the_peak_month(loaded, share):
    days, reg, _ = loaded
    link = cc.fit_expiry_link(days, reg)
    new = cc.respread_register(reg, link, share)
    assert new["permits"].sum() == reg["permits"].sum()
    sc = cc.expiry_scenario(link, reg, new)
    m0, peak0 = cc.peak_month(sc, "per_day_before")
    m1, peak1 = cc.peak_month(sc, "per_day_after")
    assert sc.loc[sc["month"] == m0, "per_day_after"].item() < peak0
    assert peak1 < peak0
    # total workload is unchanged by moving expiry months
    assert sc["apps_after"].sum() == pytest.approx(sc["apps_before"].sum(), rel=1e-9)


def test_full_respread_levels_the_load(loaded):
    days, reg, _ = loaded
    link = cc.fit_expiry_link(days, reg)
    sc = cc.expiry_scenario(link, reg, cc.respread_register(reg, link, 1.0))
    assert sc["per_day_after"].max() / sc["per_day_after"].min() < 1.1


def test_scenario_lowers_staffing_in_the_peak_month(loaded):
    days, reg, _ = loaded
    model = cc.fit_count_model(days)
    link = cc.fit_expiry_link(days, reg)
    sc = cc.expiry_scenario(link, reg, cc.respread_register(reg, link, 0.6))
    q = cc.QueueSettings()
    rain = cc.rain_share_by_month(days)
    before = cc.plan_calendar(model, q, 2026, rain)
    after = cc.plan_calendar(model, q, 2026, rain, month_factor=sc.set_index("month")["month_factor"])
    m0, _ = cc.peak_month(sc, "per_day_before")
    assert after.loc[after["month"] == m0, "staff_dry"].max() < before.loc[before["month"] == m0, "staff_dry"].max()


def test_heat_map_table(loaded):
    days, _, _ = loaded
    mean, n = cc.month_weekday_means(days)
    assert list(mean.columns) == ["月", "火", "水", "木", "金"] and mean.index[0] == "4月"
    assert int(n.to_numpy().sum()) == len(days)
    # Monday mean above Wednesday mean in most months (planted +30 %)
    assert (mean["月"] > mean["水"]).sum() >= 9


def test_effects_table_has_intervals(loaded):
    days, _, _ = loaded
    eff = cc.effects_table(cc.fit_count_model(days))
    assert {"曜日", "天候", "祝日前後", "年末", "月"} <= set(eff["group"])
    assert ((eff["lo"] < eff["rate_ratio"]) & (eff["rate_ratio"] < eff["hi"])).all()


def test_short_log_fits_and_refuses_to_predict_unseen_months():
    from ebpm_analysis.errors import ParameterError
    w = generate_daily_weather("2024-04-01", "2024-08-31", seed=21)
    log = generate_counter_log(w, seed=21, scale=2.0, with_waits=False)
    days = cc.prepare_days(log[["date", "count"]], w)
    model = cc.fit_count_model(days)
    assert model.months == (4, 5, 6, 7, 8)
    assert set(cc.effects_table(model)["label"]) >= {"月曜（水曜比）", "5月（4月比）"}
    with pytest.raises(ParameterError, match=r"no data for month\(s\) \[1, 2, 3, 9, 10, 11, 12\]"):
        cc.plan_calendar(model, cc.QueueSettings(), 2024, cc.rain_share_by_month(days))


def test_days_without_weather_are_left_out_of_the_model():
    w = generate_daily_weather("2022-04-01", "2024-03-31", seed=22)
    log = generate_counter_log(w, seed=22, with_waits=False)
    days = cc.prepare_days(log[["date", "count"]], w[w["date"] >= "2022-06-01"])
    assert days["rain"].isna().sum() == ((days["date"] < "2022-06-01").sum())
    assert cc.fit_count_model(days).n_days == int(days["rain"].notna().sum())


@pytest.fixture(scope="module")
def result(files):
    return cc.analyse_counter_log(read_counter_log(files["log"], nature="synthetic"),
                                  weather=read_jma_daily(files["weather"], nature="synthetic"),
                                  register=read_expiry_register(files["expiry"], nature="synthetic"))


def test_entry_point_gives_the_numbers_of_the_report(result):
    """The default synthetic set (seed 7) with the notebook's default parameters: the numbers the
    report showed when they were computed in the notebook (06 at 53c0e74)."""
    import dataclasses
    assert isinstance(result, cc.CounterResult)
    for f in dataclasses.fields(result):
        assert f.name in cc.CounterResult.__doc__, f"CounterResult.{f.name} is not documented"
    assert (result.n_days, result.n_applications) == (1213, 13277)
    assert (result.peak_month, result.low_month, result.normal_month) == (2, 5, 9)
    assert result.monday_rr == pytest.approx((1.316799103469914, 1.2328755167591903, 1.4064354878724166), rel=1e-9)
    assert result.rain_rr == pytest.approx((1.2360578137361051, 1.18073832997597, 1.2939691040005228), rel=1e-9)
    assert result.year_end_rr[0] == pytest.approx(1.5241846901841223, rel=1e-9)
    # The scenario's levels are the plan year's (issue 13: the KPI said 31.1 and the plan table 32.4 件/日).
    assert result.scenario_peak_before == (2, pytest.approx(32.42482998418039, rel=1e-12))
    assert result.scenario_peak_after == (2, pytest.approx(19.80086986392889, rel=1e-12))
    assert result.scenario_peak_month_after == pytest.approx(19.80086986392889, rel=1e-12)
    assert result.register_peak_share == pytest.approx((0.27896995708154504, 0.15686695278969956), rel=1e-12)
    assert result.max_staff == (7, 5)
    assert (int(result.plan["staff_dry"].sum()), int(result.plan_after["staff_dry"].sum())) == (590, 607)
    assert result.staffing_for("通常月", "水", "晴・曇")["staff"] == 2
    assert result.staffing_for("最繁忙月", "月", "雨")["staff"] == 8
    assert result.staff_by_month.set_index("month").loc[2].tolist() == [7, 5]
    assert result.has_waits and result.over_target_share == pytest.approx(0.16488046166529266, rel=1e-12)
    d = result.days
    assert result.queue_check["days"].sum() == int(((d["staff"] > 0) & d["wait_mean_min"].notna()).sum()) == 1212


def test_one_number_per_month_in_the_plan_the_scenario_and_the_kpis(result):
    """Every figure the report quotes for a month comes from one object: the scenario's per-day levels
    are the plan table's means, after = before × the month factor, and the windows by month are the plan's."""
    plan_mean = result.plan.groupby("month")["expected"].mean()
    after_mean = result.plan_after.groupby("month")["expected"].mean()
    sc = result.scenario.set_index("month")
    assert sc["per_day_before"].to_numpy() == pytest.approx(plan_mean.reindex(range(1, 13)).to_numpy(), rel=1e-12)
    assert sc["per_day_after"].to_numpy() == pytest.approx(after_mean.reindex(range(1, 13)).to_numpy(), rel=1e-12)
    m, before = result.scenario_peak_before
    assert before == pytest.approx(plan_mean[m], rel=1e-12) and m == int(plan_mean.idxmax())
    assert result.scenario_peak_month_after == pytest.approx(after_mean[m], rel=1e-12)
    staff = result.staff_by_month.set_index("month")
    assert staff["before"].tolist() == result.plan.groupby("month")["staff_dry"].max().reindex(range(1, 13)).tolist()
    assert result.max_staff == (int(staff["before"].max()), int(staff["after"].max()))


def test_entry_point_rejects_bad_settings(files):
    from ebpm_analysis.errors import ParameterError
    log = read_counter_log(files["log"], nature="synthetic")
    reg = read_expiry_register(files["expiry"], nature="synthetic")
    with pytest.raises(ParameterError, match="opening_sessions"):
        cc.analyse_counter_log(log, weather=None, register=reg, sessions=["9時から11時"])
    with pytest.raises(ParameterError, match="staffing_method"):
        cc.analyse_counter_log(log, weather=None, register=reg, staffing_method="queue")
    assert cc.parse_sessions(["09:00-11:00", "13:30-16:00"]) == ((9.0, 11.0), (13.5, 16.0))


def test_plan_by_day_is_the_plan_as_shown():
    """06 told readers the day-by-day plan was in a working folder they never get; the report now shows it as a
    searchable table (and so a download): one row per open day, the plan's values, the kind of day in words."""
    import pandas as pd

    from ebpm_analysis.cases import counter as cc
    plan = pd.DataFrame({"date": pd.to_datetime(["2026-04-01", "2026-12-28", "2027-01-05"]),
                         "weekday_ja": ["水", "月", "火"], "holiday_adjacent": [0, 1, 1], "year_end": [0, 1, 0],
                         "expected_dry": [6.981, 20.5, 12.0], "expected_rain": [8.634, 24.0, 14.0],
                         "staff_dry": [2, 5, 3], "staff_rain": [2, 6, 4]})
    t = cc.plan_by_day(plan)
    assert t["日付"].tolist() == ["2026-04-01", "2026-12-28", "2027-01-05"]
    assert t["日の種類"].tolist() == ["通常", "年末", "祝日・休みの前後"]
    assert t["見込み件数：晴れ（件）"].tolist() == [6.98, 20.5, 12.0] and t["見込み件数：雨（件）"].iloc[0] == 8.63
    assert t["必要窓口数：晴れ"].tolist() == [2, 5, 3] and t["必要窓口数：雨"].tolist() == [2, 6, 4]
