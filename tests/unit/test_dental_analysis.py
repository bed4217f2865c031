"""Analysis functions of case 2 (cases.dental) on small frames whose answers are known."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from ebpm_analysis.cases import dental as cd
from ebpm_analysis.errors import ParameterError
from ebpm_analysis.io.dental_sheet import FDI_TEETH


def _exams_and_teeth(spec):
    """spec: list of (facility, age, {tooth: status}); returns exams and teeth frames like the loader's."""
    ex, te = [], []
    for i, (fac, age, st) in enumerate(spec):
        cid, date = f"K{i:05d}", pd.Timestamp("2026-05-12")
        d = sum(v == "decayed" for v in st.values())
        f = sum(v == "filled" for v in st.values())
        ex.append({"child_id": cid, "exam_date": date, "facility_code": fac, "age": age, "d": d, "f": f,
                   "dmft": d + f, "caries": d + f > 0})
        for t in FDI_TEETH:
            te.append({"child_id": cid, "exam_date": date, "tooth": t, "status": st.get(t, "sound")})
    return pd.DataFrame(ex), pd.DataFrame(te)


def test_prevalence_by_counts_intervals_and_suppression():
    spec = [("A", 3, {51: "decayed"})] * 3 + [("A", 3, {})] * 17 + [("B", 3, {75: "filled", 74: "decayed"})] * 2 \
        + [("B", 3, {})] * 3
    ex, _ = _exams_and_teeth(spec)
    t = cd.prevalence_by(ex, "facility_code", min_cell=10).set_index("facility_code")
    assert t.loc["A", "examined"] == 20
    assert pd.isna(t.loc["A", "with_caries"])  # 3 < min_cell: suppressed count
    # … and everything that gives it back (prevalence × examined = 3) is hidden with it (issue 12)
    assert t.loc[["A"], ["prevalence", "prev_lo", "prev_hi", "untreated_share"]].isna().all().all()
    assert t.loc["A", "dmft_mean"] == pytest.approx(0.15)   # a mean over the 20 examined reveals no count
    assert bool(t.loc["B", "suppressed"]) and pd.isna(t.loc["B", "prevalence"])  # 5 examined < 10
    assert pd.isna(t.loc["B", "examined"])                  # the 5 examined themselves are a small count
    t2 = cd.prevalence_by(ex, "facility_code", min_cell=2).set_index("facility_code")
    assert t2.loc["A", "with_caries"] == 3 and t2.loc["B", "prevalence"] == pytest.approx(40.0)
    assert t2.loc["A", "prevalence"] == pytest.approx(15.0)
    assert t2.loc["A", "prev_lo"] < 15 < t2.loc["A", "prev_hi"]
    assert t2.loc["A", "untreated_share"] == pytest.approx(100.0)


def test_tooth_shares_ranking_and_pattern_type():
    spec = ([("F", 3, {51: "decayed", 61: "filled"})] * 6 + [("F", 3, {75: "decayed"})] * 2
            + [("F", 3, {81: "absent", 71: "absent", 74: "decayed", 52: "decayed"})] * 1
            + [("F", 3, {82: "decayed", 54: "decayed"})] * 1 + [("F", 3, {})] * 10)
    ex, te = _exams_and_teeth(spec)
    sh = cd.tooth_shares(te, ex)
    s51 = sh[(sh["age"] == 3) & (sh["tooth"] == 51)].iloc[0]
    assert s51["carious"] == 6 and s51["present"] == 20 and s51["share"] == pytest.approx(30.0)
    s81 = sh[(sh["age"] == 3) & (sh["tooth"] == 81)].iloc[0]
    assert s81["present"] == 19  # one absent tooth excluded from the denominator
    rk = cd.tooth_ranking(sh, top=3)
    assert rk["tooth"].tolist()[:2] == [51, 61] and rk.iloc[0]["jp"] == "右上A" and rk.iloc[0]["kind"] == "上顎乳中切歯"
    assert cd.top_teeth(sh) == {3: (51, 61)}
    pt = cd.caries_pattern_type(te, ex, age=3).set_index("type")["children"]
    # O: 10; A: 6 (upper front only) + 2 (molar only) ; B: 1 (74 + 52) ; C: 1 (82 lower front + molar 54)
    assert pt.to_dict() == {"O": 10, "A": 8, "B": 1, "C": 1}


def _facility_frame():
    rng = np.random.default_rng(0)
    n = 60
    fac = pd.DataFrame({"facility_code": [f"F{i:03d}" for i in range(n)],
                        "examined": rng.integers(40, 200, n)})
    fac["n_age3"] = fac["examined"] // 3
    fac["n_age4"] = fac["examined"] // 3
    fac["n_age5"] = fac["examined"] - 2 * (fac["examined"] // 3)
    return fac


def test_funnel_flags_a_clear_outlier_but_not_the_small_facility():
    rng = np.random.default_rng(5)
    fac = _facility_frame()
    rates = {3: 0.1, 4: 0.2, 5: 0.3}
    rows = []
    for r in fac.itertuples():
        for a in (3, 4, 5):
            m = getattr(r, f"n_age{a}")
            p = 0.75 if r.facility_code == "F007" else rates[a]
            rows.append(pd.DataFrame({"facility_code": r.facility_code, "age": a, "caries": rng.uniform(size=m) < p}))
    ex = pd.concat(rows, ignore_index=True)
    fs = ex.groupby("facility_code").agg(examined=("caries", "size"), with_caries=("caries", "sum")).reset_index()
    fs = fs.merge(fac.drop(columns="examined"), on="facility_code")
    small = pd.DataFrame({"facility_code": ["S1"], "examined": [4], "with_caries": [4], "n_age3": [0], "n_age4": [0],
                          "n_age5": [4]})
    fs = pd.concat([fs, small], ignore_index=True)
    fa, info = cd.funnel_analysis(pd.concat([ex, pd.DataFrame({"facility_code": "S1", "age": 5,
                                                               "caries": [True] * 4})]),
                                  fs, min_examined=10)
    sig = fa.set_index("facility_code")["signal"]
    assert sig["F007"] == "99.8%超"
    assert pd.isna(sig["S1"]) and bool(fa.set_index("facility_code").loc["S1", "small"])
    assert (sig == "99.8%超").sum() <= 2
    e = fa.set_index("facility_code").loc["F000"]
    rate = info["city_age_rate"]
    assert e["expected"] == pytest.approx(e["n_age3"] * rate[3] + e["n_age4"] * rate[4] + e["n_age5"] * rate[5])
    # EB: a 4/4 facility is pulled far towards the city rate
    assert fa.set_index("facility_code").loc["S1", "eb_rate"] < 0.6
    curves = cd.funnel_curves(info, 300, n_min=10)
    assert curves["n"].min() >= 10 and (curves["hi99.8"] > curves["hi95"]).all()


def test_eb_rate_and_p_above_are_age_standardised():
    """Facilities whose children are all 5-year-olds, each exactly at the city's age-specific rates, are
    not above the city: before issue 13 the crude beta-binomial EB gave them P(above) ≈ 1 and a rate near 30 %."""
    rates = {3: 0.10, 4: 0.20, 5: 0.30}
    rows, ex = [], []
    for i in range(40):
        mix = {5: 100} if i < 8 else {3: 34, 4: 33, 5: 33}
        o = {a: round(m * rates[a]) + (1 if i % 3 == 0 and a == 4 else 0) - (1 if i % 3 == 1 and a == 4 else 0)
             for a, m in mix.items()}
        code = f"F{i:02d}"
        for a, m in mix.items():
            ex.append(pd.DataFrame({"facility_code": code, "age": a, "caries": [True] * o[a] + [False] * (m - o[a])}))
        rows.append({"facility_code": code, "examined": sum(mix.values()), "with_caries": sum(o.values()),
                     **{f"n_age{a}": mix.get(a, 0) for a in (3, 4, 5)}})
    fa, info = cd.funnel_analysis(pd.concat(ex, ignore_index=True), pd.DataFrame(rows), min_examined=10)
    old = fa.iloc[:8]
    assert (old["with_caries"] / old["examined"]).min() >= 0.29      # crude rate 30 % against a city rate of 22 %
    assert info["p0"] == pytest.approx(881 / 4000)
    assert old["expected"].to_numpy() == pytest.approx(30.0, abs=0.5)
    assert old["p_above"].max() < 0.7                              # standardised: about one half
    assert (100 * old["eb_rate"]).max() < 100 * info["p0"] + 2     # near the city, not near 30 %
    assert (old["signal"] == "範囲内").all()
    # the EB rate is on the age-adjusted scale: it lies between adj_rate and the prior mean × p0
    prior_mean = info["prior_alpha"] / info["prior_beta"]
    assert np.all((fa["eb_rate"] - fa["adj_rate"]) * (fa["eb_rate"] - prior_mean * info["p0"]) <= 1e-12)


def test_hotspots_flag_nothing_on_noise_and_report_two_sided_fdr_adjusted_p():
    """On values without any spatial pattern the one-sided unadjusted flags (before issue 13) mark about 10 %
    of the units hot or cold; two-sided p with Benjamini–Hochberg marks none."""
    xy = np.array([(x, y) for x in range(12) for y in range(12)], float) * 1000
    flagged = []
    for seed in range(3):
        v = np.random.default_rng(seed).normal(20, 2, len(xy))
        pts = gpd.GeoDataFrame({"v": v}, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs="EPSG:6670")
        h = cd.hotspots(pts, "v", k=8, permutations=999, seed=seed)
        flagged.append(int((h["hotspot"] != "有意差なし").sum()))
        assert h["gi_p"].min() >= 2 / 1000                          # two-sided: at least 2 / (P + 1)
    assert flagged == [0, 0, 0]


def test_cluster_facilities_picks_the_planted_number_of_groups():
    rng = np.random.default_rng(2)
    centres = np.array([[10, 0.3, 20, 70, 50], [30, 1.5, 25, 65, 70], [15, 0.6, 60, 30, 50]])
    X = np.vstack([c + rng.normal(0, [1, 0.05, 2, 2, 2], (30, 5)) for c in centres])
    feat = pd.DataFrame(X, columns=["prevalence", "dmft", "anterior_share", "molar_share", "untreated_share"])
    for method in ("kmeans", "ward"):
        labels, sil, k = cd.cluster_facilities(feat, range(2, 7), method=method)
        assert k == 3
        # labels numbered by rising prevalence: group 0 (10 %) → 1, group 2 (15 %) → 2, group 1 (30 %) → 3
        assert set(labels[:30]) == {1} and set(labels[60:]) == {2} and set(labels[30:60]) == {3}
    prof = cd.cluster_profiles(feat, labels)
    names = {int(r["cluster"]): cd.describe_cluster(r, feat.mean()) for _, r in prof.iterrows()}
    assert "前歯型" in names[2] and "高有病" in names[3]


def test_hotspots_find_a_planted_patch():
    rng = np.random.default_rng(4)
    xy = np.array([(x, y) for x in range(12) for y in range(12)], float) * 1000
    v = rng.normal(20, 2, len(xy))
    patch = (np.abs(xy[:, 0] - 4000) <= 2000) & (np.abs(xy[:, 1] - 7000) <= 2000)
    v[patch] += 12
    pts = gpd.GeoDataFrame({"v": v}, geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs="EPSG:6670")
    h = cd.hotspots(pts, "v", k=8, permutations=9999, seed=1)
    hot = h["hotspot"] == "ホットスポット"
    # with two-sided p and FDR control the patch's core (3 × 3 cells whose 8 neighbours all lie in the patch)
    # is found; edge cells, half of whose neighbours are ordinary, mostly not; nothing outside the patch
    core = (np.abs(xy[:, 0] - 4000) <= 1000) & (np.abs(xy[:, 1] - 7000) <= 1000)
    assert hot[core].all() and hot[patch].mean() >= 0.4
    assert not hot[~patch].any()


def test_behaviour_model_recovers_direction_and_size():
    rng = np.random.default_rng(8)
    n = 6000
    age = rng.choice([3, 4, 5], n)
    brush = rng.choice(["毎日", "ときどき", "していない"], n, p=[0.7, 0.2, 0.1])
    snacks = rng.poisson(1.5, n)
    fl = rng.choice(["あり", "なし"], n)
    eta = -2.2 + 0.5 * (age - 3) + np.where(brush == "していない", 0.9, np.where(brush == "ときどき", 0.4, 0)) \
        + 0.3 * snacks - 0.3 * (fl == "あり")
    ex = pd.DataFrame({"caries": rng.uniform(size=n) < 1 / (1 + np.exp(-eta)), "age": age,
                       "finishing_brushing": pd.Categorical(brush), "snacks_per_day": pd.array(snacks, dtype="Int64"),
                       "fluoride": pd.Categorical(fl), "facility_code": rng.choice(["A", "B", "C", "D"], n)})
    ex.loc[:99, "snacks_per_day"] = pd.NA
    tab, info = cd.behaviour_model(ex)
    t = tab.set_index("term")["オッズ比"]
    assert info["n"] == n - 100 and info["dropped"] == 100
    assert t["C(brushing)[T.していない]"] == pytest.approx(np.exp(0.9), rel=0.3)
    assert t["snacks"] == pytest.approx(np.exp(0.3), rel=0.1)
    assert t["fluoride_yes"] < 1


def test_priority_table_actions_follow_the_numbers():
    base = dict(small=False, examined=100, expected=20.0, z=0.0, p_above=0.5, signal="範囲内", d_teeth=20, f_teeth=20,
                anterior_teeth=10, molar_teeth=25, not_daily_brushing=0.30, snacks_mean=1.5, with_caries=20,
                untreated_children=10)
    rows = [dict(base, facility_code=f"N{i}") for i in range(10)]
    rows.append(dict(base, facility_code="U", signal="99.8%超", z=5.0, untreated_children=19))  # untreated 95 %
    rows.append(dict(base, facility_code="S", signal="95%超", z=2.5, snacks_mean=2.4))
    rows.append(dict(base, facility_code="S", signal="95%超", z=2.5, snacks_mean=2.4, p_above=0.96))
    rows.append(dict(base, facility_code="B", signal="95%超", z=2.1, p_above=0.93, not_daily_brushing=0.55))
    rows.append(dict(base, facility_code="R", p_above=0.97, not_daily_brushing=0.55))  # 範囲内 on the funnel
    rows.append(dict(base, facility_code="Q", signal="95%超", z=2.0, p_above=0.6))  # EB doubts the 95 % signal
    rows.append(dict(base, facility_code="X", signal="99.8%超", z=4.0))
    rows.append(dict(base, facility_code="T", signal="99.8%超", z=9.0, small=True))
    pt = cd.priority_table(pd.DataFrame(rows)).set_index("facility_code")
    # priority 1 by z, then 2 by z; the small facility, the one inside the funnel limits (whatever its
    # P(above)) and the 95 % signal the EB estimate doubts are never listed (issue 13: R was listed before)
    assert list(pt.index) == ["U", "X", "S", "B"]
    assert pt["priority"].tolist() == [1, 1, 2, 2]
    assert set(pt["signal"]) <= {"99.8%超", "95%超"}
    assert pt.loc["U", "action"] == "受診勧奨の追跡"
    assert pt.loc["S", "action"] == "おやつ（間食）指導"
    assert pt.loc["B", "action"] == "仕上げみがき指導"
    assert pt.loc["X", "action"] == "個別に要因確認"
    assert "95%" in pt.loc["U", "reason"]


def test_priority_table_may_be_empty():
    """A city with no facility above the limits gets an empty list (a run of 24 facilities failed on it)."""
    rows = [dict(small=False, examined=100, expected=20.0, z=0.0, p_above=0.95, signal="範囲内", d_teeth=20,
                 f_teeth=20, anterior_teeth=10, molar_teeth=25, not_daily_brushing=0.30, snacks_mean=1.5,
                 with_caries=20, untreated_children=10, facility_code=f"N{i}") for i in range(5)]
    pt = cd.priority_table(pd.DataFrame(rows))
    assert pt.empty and pt["action"].dtype == object
    assert pt["action"].astype(str).str.split("・").explode().value_counts().empty


def test_small_facility_aggregate():
    fa = pd.DataFrame({"small": [True, True, False], "examined": [4, 5, 100], "with_caries": [3, 3, 20]})
    assert cd.small_facility_aggregate(fa, min_cell=5) == {"facilities": 2, "examined": 9, "with_caries": 6,
                                                           "prevalence": pytest.approx(100 * 6 / 9)}
    assert cd.small_facility_aggregate(fa, min_cell=10)["prevalence"] is None
    # 9 children are enough at min_cell 5, but 3 with caries are not: the rate would give the 3 back
    fa["with_caries"] = [1, 2, 20]
    assert cd.small_facility_aggregate(fa, min_cell=5)["prevalence"] is None


def test_facility_power_on_small_frames():
    fac = pd.DataFrame({"small": [False] * 30 + [True], "n_age3": [40] * 30 + [2], "n_age4": [40] * 30 + [2],
                        "n_age5": [40] * 30 + [2]})
    info = {"city_age_rate": {3: 0.10, 4: 0.20, 5: 0.30}}
    pw = cd.facility_power(fac, info, odds_ratios=(1.0, 6.0), volumes=(1.0, 4.0), n_planted=3, replicates=3,
                           re_sd=0.0, seed=2)
    assert list(pw.columns) == ["odds_ratio", "volume", "recall_998", "false_998", "recall_priority",
                                "false_priority", "replicates"]
    p = pw.set_index(["odds_ratio", "volume"])
    assert p.loc[(6.0, 4.0), "recall_998"] == 1.0 and p.loc[(6.0, 4.0), "false_998"] <= 0.5
    assert p.loc[(1.0, 1.0), "recall_998"] <= 1 / 3 and p.loc[(1.0, 4.0), "false_998"] <= 1
    assert (p["recall_priority"] >= p["recall_998"]).all()            # the list holds every 99.8 % flag
    t, kinds = cd.facility_power_table(pw)
    assert t.columns.tolist() == ["高リスク施設のオッズ比", "受診児 1倍", "受診児 4倍"] and set(kinds) == set(t.columns)
    assert t.iloc[1, 2].startswith("100%（誤検出")
    assert "オッズ比 6 の施設の" in cd.facility_power_sentence(pw, 3)
    with pytest.raises(ParameterError, match="fac"):
        cd.facility_power(fac.iloc[:3], info, n_planted=3)


def test_hotspot_recovery_sentence_reads_right_with_no_hot_spot():
    """02's validation said 'Gi* ホットスポット 0 施設のうち 0 施設が集積内（集積の 0%）' on the default report."""
    none = cd.hotspot_recovery_sentence({"n": 0, "cluster": 0, "recall": 0.0})
    assert none.startswith("Gi* ホットスポットは 0 施設で、") and "のうち" not in none
    some = cd.hotspot_recovery_sentence({"n": 5, "cluster": 4, "recall": 4 / 7})
    assert some == "Gi* ホットスポット 5 施設のうち 4 施設が集積内（集積の 57%）です。"
    few = cd.hotspot_recovery_sentence({"n": 2, "cluster": 1, "recall": 1 / 7})
    assert few.endswith("（集積の 14%）で、この大きさの集積は施設単位の検定では見えにくいことを示します。")
