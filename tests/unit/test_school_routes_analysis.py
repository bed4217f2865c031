"""Hand-made examples with known answers for the school-route analysis functions."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from ebpm_analysis import geo
from ebpm_analysis.cases import school_routes as sr


def fixes_frame(rows):
    """rows: (device, school, 'HH:MM:SS', x, y) in plane metres → a prepared-fixes-like frame."""
    df = pd.DataFrame(rows, columns=["device_id", "school_id", "time", "x", "y"])
    ts = pd.to_datetime("2026-10-05 " + df["time"])
    df["timestamp"] = ts
    df["date"] = ts.dt.normalize()
    minute = ts.dt.hour * 60 + ts.dt.minute
    df["bin"] = (minute // 5) * 5
    df["period"] = np.where(minute < 12 * 60, "morning", "afternoon")
    df["trip"] = df["device_id"] + "|am"
    return df


def test_prepare_fixes_filters_accuracy_and_assigns_bins():
    pts = gpd.GeoSeries([shapely.Point(-24190, -21805)] * 4, crs=geo.plane_crs("43100")).to_crs(geo.GEO_CRS)
    fixes = pd.DataFrame({"device_id": ["a", "a", "b", "b"], "school_id": "S01",
                          "timestamp": pd.to_datetime(["2026-10-05 06:59:59", "2026-10-05 07:04:59",
                                                       "2026-10-05 08:30:00", "2026-10-05 14:00:00"]),
                          "lat": pts.y.to_numpy(), "lon": pts.x.to_numpy(), "accuracy": [10.0, 80.0, 10.0, 10.0]})
    df, s = sr.prepare_fixes(fixes, max_accuracy_m=50, plane_crs=geo.plane_crs("43100"))
    assert s["fixes_poor_accuracy"] == 1 and s["fixes_used"] == 3
    assert df["period"].tolist()[0] is pd.NA or pd.isna(df["period"].iloc[0])      # 06:59 outside
    assert pd.isna(df["period"].iloc[1])                                            # 08:30 is the end (exclusive)
    assert df["period"].iloc[2] == "afternoon" and df["bin"].iloc[2] == 14 * 60
    assert df["x"].iloc[0] == pytest.approx(-24190, abs=0.01)


def test_unique_children_per_crossing_and_bin():
    crossings = pd.DataFrame({"crossing_id": ["X1", "X2"], "x": [0.0, 500.0], "y": [0.0, 0.0]})
    f = fixes_frame([
        ("a", "S01", "07:30:10", 5, 0), ("a", "S01", "07:33:10", -10, 5),   # same child, same bin: once
        ("b", "S01", "07:31:00", 0, 29.9),                                   # inside 30 m
        ("c", "S01", "07:31:00", 0, 30.1),                                   # outside
        ("d", "S01", "07:36:00", 500, 3),                                    # other crossing, next bin
    ])
    hits = sr.crossing_hits(f, crossings, radius_m=30)
    bc = sr.bin_counts(hits).set_index(["crossing_id", "bin"])["children"]
    assert bc[("X1", 450)] == 2 and bc[("X2", 455)] == 1 and len(bc) == 2
    r = sr.crossing_ranking(hits, n_days=2, min_cell=2).set_index("crossing_id")
    assert r.loc["X1", "peak_mean"] == 1.0 and r.loc["X1", "passes_per_day"] == 1.0   # 2 children / 2 days
    assert bool(r.loc["X2", "suppressed"]) and not bool(r.loc["X1", "suppressed"])


def test_off_route_share_on_one_segment():
    seg = gpd.GeoDataFrame({"segment_id": ["S01-R001", "S02-R001"], "school_id": ["S01", "S02"]},
                           geometry=[shapely.LineString([(0, 0), (400, 0)]),
                                     shapely.LineString([(0, 100), (400, 100)])], crs=geo.plane_crs("43100"))
    rows = [(f"c{k}", "S01", "07:30:00", 50 + k, 5) for k in range(8)]         # on route
    rows += [("c8", "S01", "07:31:00", 100, 120), ("c9", "S01", "07:31:00", 200, 60)]  # off (S02's line ignored)
    rows += [("z", "S01", "07:31:00", 200, 900)]                                # beyond max_assign_m: left out
    out = sr.off_route_by_segment(fixes_frame(rows), seg, off_route_m=40, max_assign_m=400, min_cell=5,
                                  min_off_run=1)
    r = out.set_index("segment_id").loc["S01-R001"]
    assert (r["fixes"], r["off_fixes"], r["children"]) == (10, 2, 10)
    assert r["share"] == pytest.approx(0.2) and r["trip_share"] == pytest.approx(0.2)
    assert r["share_lo"] < 0.2 < r["share_hi"] and not r["suppressed"]
    assert out.set_index("segment_id").loc["S02-R001", "fixes"] == 0
    # By default one stray off-route fix is not a detour: a trip needs 2 consecutive off-route fixes.
    assert sr.off_route_by_segment(fixes_frame(rows), seg, min_cell=5).set_index("segment_id").loc[
        "S01-R001", "off_trips"] == 0


def test_off_route_needs_a_run_in_the_windows_with_good_accuracy():
    """Issue 13: real devices log all day and GPS error alone makes stray 'off-route' fixes. Only fixes in
    the commuting windows with accuracy within half the threshold count, and a detour is a run of
    consecutive off-route fixes of one trip."""
    seg = gpd.GeoDataFrame({"segment_id": ["S01-R001"], "school_id": ["S01"]},
                           geometry=[shapely.LineString([(0, 0), (400, 0)])], crs=geo.plane_crs("43100"))
    rows = [("a", "S01", "07:30:00", 100, 0), ("a", "S01", "07:33:00", 150, 60),
            ("a", "S01", "07:36:00", 200, 70), ("a", "S01", "07:39:00", 250, 0)]     # a: a run of 2 → detour
    rows += [("b", "S01", "07:30:00", 100, 0), ("b", "S01", "07:33:00", 150, 60),
             ("b", "S01", "07:36:00", 200, 0), ("b", "S01", "07:39:00", 250, 65)]    # b: two strays → none
    rows += [("c", "S01", "07:30:00", 100, 0), ("c", "S01", "07:33:00", 150, 0)]     # c: on the route
    f = fixes_frame(rows)
    f["accuracy"] = 10.0
    f.loc[(f["device_id"] == "c") & (f["time"] == "07:33:00"), ["y", "accuracy"]] = [90.0, 35.0]  # c: noisy fix
    f.loc[len(f)] = f.iloc[0].copy()                       # a fix of a in the evening, at the park: left out
    f.loc[len(f) - 1, ["time", "timestamp", "y", "period"]] = ["18:30:00", pd.Timestamp("2026-10-05 18:30"),
                                                              120.0, None]
    out = sr.off_route_by_segment(f, seg, min_cell=1).set_index("segment_id").loc["S01-R001"]
    assert (out["fixes"], out["off_fixes"], out["trips"], out["off_trips"]) == (9, 4, 3, 1)
    everything = sr.off_route_by_segment(f, seg, min_cell=1, only_windows=False, max_accuracy_m=50,
                                         min_off_run=1).set_index("segment_id").loc["S01-R001"]
    assert (everything["fixes"], everything["off_fixes"], everything["off_trips"]) == (11, 6, 3)
    with pytest.raises(sr.ParameterError, match="min_off_run"):
        sr.off_route_by_segment(f, seg, min_off_run=0)


def test_label_locations():
    schools = pd.DataFrame({"school_name": ["A小学校"], "x": [0.0], "y": [0.0]})
    pts = pd.DataFrame({"x": [0.0, 300.0, -200.0], "y": [450.0, 300.0, -5.0]})
    assert sr.label_locations(pts, schools).tolist() == ["A小学校の北 450 m", "A小学校の北東 420 m",
                                                         "A小学校の西 200 m"]


def test_hot_segment_rule_and_offroute_power():
    assert sr.hot_segment_flags([0.05, 0.02, 0.021], 0.01).tolist() == [True, False, True]
    assert sr.hot_segment_flags([[0.05, 0.02]], [0.03]).tolist() == [[False, False]]
    off = pd.DataFrame({"segment_id": [f"S{i}" for i in range(13)], "fixes": [600] * 12 + [40],
                        "children": [30] * 12 + [5], "off_fixes": [3] * 11 + [60, 20],
                        "share": [0.005] * 11 + [0.1, 0.5]})
    pw = sr.offroute_power(off, 5, child_shares=(0.0, 0.1, 0.3), days=(1, 5), n_planted=2, replicates=200, seed=1)
    assert pw["background"].iloc[0] == pytest.approx(0.005)   # the highest-share shown segments left out
    p = pw.set_index(["child_share", "days"])
    # one child of 30 detouring on half its fixes (share ~ 2.2 %) against 2 × overall (~ 1.4 %): mostly found
    assert p.loc[(0.0, 5.0), "recall"] > 0.7
    assert p.loc[(0.3, 1.0), "recall"] > p.loc[(0.0, 1.0), "recall"] and p.loc[(0.3, 5.0), "recall"] == 1.0
    # 10 unplanted segments at 0.5 % background: chance flags fall with more days
    assert p.loc[(0.3, 5.0), "false_flags"] < p.loc[(0.0, 1.0), "false_flags"] < 10
    t, kinds = sr.offroute_power_table(pw)
    assert t.columns.tolist() == ["区間を外れて歩く児童の割合", "観測 1登校日", "観測 5登校日"]
    assert set(kinds) == set(t.columns)
    s = sr.offroute_power_sentence(pw, 2, 5)
    assert "児童の30%が外れる区間は1日で" in s and "（0.5%）" in s
    with pytest.raises(sr.ParameterError, match="off_route"):
        sr.offroute_power(off.iloc[:3], 5, n_planted=3)
    with pytest.raises(sr.ParameterError, match="school_days"):
        sr.offroute_power(off, 0)
