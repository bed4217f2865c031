"""School-route analysis on generated data: the planted truth is recovered.

- planted crowded crossings: ≥ 80 % of them in the top list (issue 7, Done when);
- planted deviations: the bypassed segments have the highest off-route shares, and the share of
  trips that left the route matches the generator's true share;
- volunteer placement: MCLP is optimal (checked by brute force), never worse than greedy;
- disclosure: nothing under ``min_cell`` distinct children is shown.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
import pytest

from ebpm_analysis import geo, paths
from ebpm_analysis.cases import school_routes as sr
from ebpm_analysis.io import school_fixes
from ebpm_analysis.location import distance_matrix
from ebpm_analysis.synth import school_routes as synth

SEEDS = [11, 23]


@pytest.fixture(scope="module", params=SEEDS)
def analysed(request, tmp_path_factory):
    seed = request.param
    gen = synth.generate("43100", seed, ward_codes=["43101", "43102"], n_schools=4, children_per_school=120,
                         n_days=5)
    out = tmp_path_factory.mktemp(f"sr{seed}")
    files = synth.write_dataset(gen, out)
    city = geo.load_city("43100")
    fixes = school_fixes.read_fixes(files["fixes"], city=city, nature="synthetic")
    crs = geo.plane_crs("43100")
    crossings = sr.add_xy(school_fixes.read_crossings(files["crossings"], nature="synthetic"), plane_crs=crs)
    routes = geo.to_plane(school_fixes.read_designated_routes(files["routes"], nature="synthetic"), crs)
    fx, summary = sr.prepare_fixes(fixes, plane_crs=crs)
    hits = sr.crossing_hits(fx, crossings)
    ranking = sr.crossing_ranking(hits, summary["school_days"])
    off = sr.off_route_by_segment(fx, routes)
    truth = json.loads(files["truth"].read_text(encoding="utf-8"))
    return {"truth": truth, "ranking": ranking, "off": off, "hits": hits, "fx": fx, "summary": summary,
            "crossings": crossings, "truth_segments": pd.read_csv(files["truth_segments"]), "seed": seed,
            "result": sr.analyse_fixes(fixes, schools=school_fixes.read_schools(files["schools"], nature="synthetic"),
                                       crossings=school_fixes.read_crossings(files["crossings"], nature="synthetic"),
                                       routes=school_fixes.read_designated_routes(files["routes"], nature="synthetic"),
                                       plane_crs=crs)}


def test_planted_crowded_crossings_top_ranked(analysed):
    planted = set(analysed["truth"]["planted_crowded_crossings"])
    assert len(planted) == 8
    top = set(analysed["ranking"].head(10)["crossing_id"])
    recovered = len(planted & top) / len(planted)
    assert recovered >= 0.8, f"only {recovered:.0%} of planted crowded crossings in the top 10"


def test_ranking_is_by_daily_peak(analysed):
    r = analysed["ranking"]
    assert (np.diff(r["peak_mean"].to_numpy()) <= 1e-12).all()
    # peak_mean is the mean over days of the daily max: never above the max over days.
    assert (r["peak_mean"] <= r["peak_max"] + 1e-9).all()
    # Recompute one crossing by hand from the hits.
    h = analysed["hits"]
    cid = r.iloc[0]["crossing_id"]
    daily_max = h[h["crossing_id"] == cid].groupby(["date", "bin"])["device_id"].nunique().groupby("date").max()
    assert r.iloc[0]["peak_mean"] == pytest.approx(daily_max.sum() / analysed["summary"]["school_days"])


def test_planted_deviations_have_the_highest_off_route_share(analysed):
    dev = {d["segment_id"] for d in analysed["truth"]["deviations"]}
    assert len(dev) == 4
    off = analysed["off"]
    top = set(off.head(len(dev) + 1)["segment_id"])
    assert len(dev & top) >= len(dev) - 1
    others = off[~off["segment_id"].isin(dev) & (off["fixes"] > 0)]
    assert others["share"].median() < 0.02


def test_off_route_trip_share_recovers_true_share(analysed):
    off = analysed["off"].set_index("segment_id")
    for d in analysed["truth"]["deviations"]:
        got = off.loc[d["segment_id"], "trip_share"]
        assert abs(got - d["true_share"]) < 0.08, (d, got)
    # The share's interval resamples children (a child who detours does so most days): on the planted
    # segments it is wider than a Wilson interval that treats fixes as independent, and it excludes
    # the ~1 % of stray fixes elsewhere (lower bound above 2 %).
    from ebpm_analysis.stats.intervals import wilson_ci
    for d in analysed["truth"]["deviations"]:
        r = off.loc[d["segment_id"]]
        w_lo, w_hi = wilson_ci(r["off_fixes"], r["fixes"])
        assert r["share_hi"] - r["share_lo"] > 1.3 * (w_hi - w_lo), (d["segment_id"], r)
        assert r["share_lo"] > 0.02 and r["share_lo"] < r["share"] < r["share_hi"]


def test_heatmap_suppresses_small_cells(analysed):
    ranking, hits = analysed["ranking"], analysed["hits"]
    ids = ranking.head(10)["crossing_id"]
    values, mask = sr.heatmap_matrix(hits, ids, analysed["summary"]["school_days"], min_cell=10)
    distinct = hits[hits["crossing_id"].isin(ids)].groupby(["crossing_id", "bin"])["device_id"].nunique()
    small = distinct[(distinct > 0) & (distinct < 10)]
    assert len(small) > 0
    for (cid, b), _ in small.items():
        assert pd.isna(values.loc[cid, b]) and mask.loc[cid, b]
    big = distinct[distinct >= 10]
    for (cid, b), _ in big.head(20).items():
        assert not pd.isna(values.loc[cid, b])
    assert list(values.columns[:2]) == [7 * 60, 7 * 60 + 5] and values.shape[1] == 18 + 36


def test_top_list_hides_crossings_under_min_cell(analysed):
    r = analysed["ranking"].copy()
    r.loc[0, "children_total"] = 3
    r["suppressed"] = r["children_total"] < 10
    t = sr.top_list(r, top_n=5, min_cell=10)
    assert r.loc[0, "crossing_id"] not in set(t["交差点ID"])
    assert len(t) == 5 and "device_id" not in " ".join(t.columns)


def test_greedy_and_mclp_volunteers(analysed):
    w = sr.passes_by_period(analysed["hits"], analysed["summary"]["school_days"])
    w = w[w["period"] == "morning"].merge(analysed["crossings"], on="crossing_id")
    mclp, s_m = sr.place_volunteers(w, 5, radius_m=130.0, method="mclp", max_candidates=15)
    greedy, s_g = sr.place_volunteers(w, 5, radius_m=130.0, method="greedy", max_candidates=15)
    assert s_m["covered_passes"] >= s_g["covered_passes"] - 1e-9
    # Brute force over the same 15 candidates: MCLP is optimal.
    dem = w[w["weight"] > 0].reset_index(drop=True)
    cand = dem.sort_values(["weight", "crossing_id"], ascending=[False, True]).head(15)
    cover = distance_matrix(dem[["x", "y"]].to_numpy(), cand[["x", "y"]].to_numpy()) <= 130.0
    wt = dem["weight"].to_numpy()
    best = max(wt[cover[:, list(c)].any(axis=1)].sum() for c in itertools.combinations(range(len(cand)), 5))
    assert s_m["covered_passes"] == pytest.approx(best)
    assert mclp["cum_covered"].iloc[-1] == pytest.approx(s_m["covered_passes"])
    assert (np.diff(mclp["gain"].to_numpy()) <= 1e-9).all()


def test_greedy_exact_without_overlap():
    # Radius below half the spacing: coverage sets are disjoint, greedy = top-N by weight.
    w = pd.DataFrame({"crossing_id": list("abcdef"), "x": np.arange(6) * 120.0, "y": 0.0,
                      "weight": [5.0, 9.0, 1.0, 7.0, 3.0, 8.0]})
    out, s = sr.place_volunteers(w, 3, radius_m=50, method="greedy")
    assert out["crossing_id"].tolist() == ["b", "f", "d"] and s["covered_passes"] == 24.0
    out2, s2 = sr.place_volunteers(w, 3, radius_m=50, method="mclp")
    assert set(out2["crossing_id"]) == {"b", "f", "d"}


def test_generator_is_deterministic_and_synthetic():
    kw = dict(ward_codes=["43101"], n_schools=1, children_per_school=20, n_days=1)
    a = synth.generate("43100", 5, **kw)["fixes"]
    b = synth.generate("43100", 5, **kw)["fixes"]
    c = synth.generate("43100", 6, **kw)["fixes"]
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    assert a["school_name"].str.contains("合成").all()


def test_ensure_writes_once_and_loader_reads_it(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "INTERIM_DIR", tmp_path)
    kw = dict(ward_codes=["43101"], n_schools=1, children_per_school=15, n_days=1)
    d1 = synth.ensure_school_routes(3, city_code="43100", **kw)
    p1 = {k: d1 / name for k, name in synth.FILES.items()}
    assert p1["fixes"].is_relative_to(tmp_path / "05_school_routes" / "synthetic")
    mtime = p1["fixes"].stat().st_mtime_ns
    p2 = {k: synth.ensure_school_routes(3, city_code="43100", **kw) / name for k, name in synth.FILES.items()}
    assert p2["fixes"] == p1["fixes"] and p2["fixes"].stat().st_mtime_ns == mtime
    raw = p1["fixes"].read_bytes()
    assert "合成".encode("cp932") in raw   # written in the city's export encoding
    df = school_fixes.read_fixes(p1["fixes"], city=geo.load_city("43100"), nature="synthetic")
    assert df["device_id"].nunique() == 15
    truth = json.loads(p1["truth"].read_text(encoding="utf-8"))
    assert truth["synthetic"] is True


def test_window_parameters_are_checked():
    from ebpm_analysis.errors import ParameterError
    with pytest.raises(ParameterError, match="morning_window"):
        sr.windows_from_params(("08:30", "07:00"))
    with pytest.raises(ParameterError, match="afternoon_window"):
        sr.windows_from_params(afternoon=("2pm", "17:00"))


def test_busy_spans_from_hand_made_hits():
    # Crossing X1, one day: 07:30 bin has 10 children, 07:35 has 6, 07:40 has 2 (below half of the peak).
    rows = []
    for b, n in ((450, 10), (455, 6), (460, 2)):
        rows += [{"crossing_id": "X1", "device_id": f"D{b}-{k}", "school_id": "S01", "date": pd.Timestamp("2026-10-05"),
                  "period": "morning", "bin": b} for k in range(n)]
    spans = sr.busy_spans(pd.DataFrame(rows), n_days=1)
    r = spans.iloc[0]
    assert (r["start"], r["end"]) == (450, 460)
    assert r["peak_mean"] == 10 and r["span_share"] == pytest.approx(16 / 18)


# Numbers of the notebook's former analysis cell (05 at 53c0e74, cell 6, default parameters) on the two
# generated sets: the entry point reproduces them. Re-pinned once when the national N03 boundaries replaced
# the Kumamoto-only file (the schools, routes and crossings moved); on seed 11, 7 of the 8 planted crowded
# crossings are in the top 10 (the recovery test asks for at least 80 %).
NOTEBOOK_NUMBERS = {
    11: {"fixes_used": 29452, "top1": ("X01673", 33.2), "covered": (0.19692884773180167, 0.21635434412265753),
         "morning": ["X01543", "X01673", "X01275", "X00439", "X01515", "X00612"],
         "off_share": 0.015573799372819844, "shown": 62, "watched": 6, "hot": 4, "hit": 7},
    23: {"fixes_used": 28544, "top1": ("X01000", 30.4), "covered": (0.1686996828494755, 0.17147110569765867),
         "morning": ["X01174", "X01665", "X01000", "X00982", "X01459", "X00835"],
         "off_share": 0.017782464816902432, "shown": 63, "watched": 6, "hot": 5, "hit": 8},
}


def test_entry_point_result(analysed):
    import dataclasses
    res, want = analysed["result"], NOTEBOOK_NUMBERS[analysed["seed"]]
    assert isinstance(res, sr.SchoolRoutesResult)
    for f in dataclasses.fields(res):
        assert f.name in sr.SchoolRoutesResult.__doc__, f"SchoolRoutesResult.{f.name} is not documented"
    # the same steps as the fixture's, with the defaults of the notebook
    pd.testing.assert_frame_equal(res.ranking.drop(columns=["x", "y"]), analysed["ranking"])
    pd.testing.assert_frame_equal(res.off_route, analysed["off"])
    assert res.summary["fixes_used"] == want["fixes_used"] and res.school_days == 5
    assert (res.top.iloc[0]["crossing_id"], float(res.top.iloc[0]["peak_mean"])) == want["top1"]
    assert len(res.top) == 10 and not res.top["suppressed"].any()
    covered = (res.volunteer_summary["morning"]["covered_share"], res.volunteer_summary["afternoon"]["covered_share"])
    assert covered == pytest.approx(want["covered"], rel=1e-12)
    assert res.volunteers["morning"]["crossing_id"].tolist() == want["morning"]
    assert list(res.volunteer_table.columns) == ["時間帯", "順", "場所（交差点ID）", "立つ時間（目安）",
                                                 "見守れる通過（延べ人/日）", "累計の被覆率"]
    assert len(res.volunteer_table) == 12
    assert res.off_route_share == pytest.approx(want["off_share"], rel=1e-12)
    assert (len(res.off_route_shown), res.top_watched_morning, res.hot_segments) == (want["shown"], want["watched"],
                                                                                     want["hot"])
    assert res.recovery(analysed["truth"]) == {"planted": 8, "hit": want["hit"], "deviation_ranks": [1, 2, 3, 4]}
    cid = want["morning"][0]
    assert res.stand_time(cid, "morning") in res.volunteer_table["立つ時間（目安）"].iloc[0]


def test_entry_point_exports_hide_small_counts(analysed):
    ex = analysed["result"].export_tables()
    assert list(ex) == ["crowded_crossings.csv", "heatmap_top_crossings.csv", "offroute_segments.csv",
                        "volunteer_placement.csv"]
    off = ex["offroute_segments.csv"]
    shown = off["children"].dropna()
    assert ((shown == 0) | (shown >= 10)).all() and off["children"].isna().any()
    assert off.loc[off["children"].isna(), "share"].isna().all()
    peak = ex["crowded_crossings.csv"]["peak_max"].dropna()
    assert ((peak == 0) | (peak >= 10)).all()
