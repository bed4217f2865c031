"""Case 3 analysis: mesh codes, DuckDB vs pandas aggregation, braking rates, Gi*, accidents, ranking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from jismesh import utils as ju
from shapely import Point

from ebpm_analysis.cases import probe as cp
from ebpm_analysis.io import etc2
from ebpm_analysis.io import npa_accidents as na
from ebpm_analysis.synth import probe as sp


@pytest.mark.parametrize("level", [1, 2, 3, 4, 5, 6])
def test_mesh_code_matches_jismesh(level):
    rng = np.random.default_rng(level)
    lat = rng.uniform(31.0, 34.0, 5000)
    lon = rng.uniform(129.5, 132.0, 5000)
    ours = cp.mesh_code(lat, lon, level)
    ref = np.asarray(ju.to_meshcode(lat, lon, level), dtype=np.int64)
    assert (ours == ref).all()
    con = cp.connect()
    con.register("pts", pd.DataFrame({"lat": lat, "lon": lon}))
    sql = con.execute(f"select {cp.mesh_code_sql('lat', 'lon', level)} from pts").fetchnumpy()
    assert (next(iter(sql.values())) == ref).all()


def test_known_mesh_codes():
    # Kumamoto city hall (32.8031 N, 130.7417 E): 1/8 mesh 49301569141, 2次 493015 (jismesh)
    assert cp.mesh_code([32.8031], [130.7417], 6)[0] == 49301569141
    assert cp.mesh_code([32.8031], [130.7417], 2)[0] == 493015
    cells = cp.mesh_polygons(["49301569141"], 6)
    b = cells.geometry.iloc[0].bounds
    assert np.isclose(b[3] - b[1], 3.75 / 3600) and np.isclose(b[2] - b[0], 5.625 / 3600)
    assert cells.geometry.iloc[0].contains(Point(130.7417, 32.8031))


@pytest.fixture(scope="module")
def small_delivery(tmp_path_factory):
    d = tmp_path_factory.mktemp("probe_small")
    sp.generate(d, seed=5, n_rows=60_000)
    pos = etc2.read_positions(d / "positions")
    ev = etc2.read_events(d / "events")
    return d, pos, ev


def test_duckdb_and_pandas_aggregations_identical(small_delivery):
    _, pos, _ = small_delivery
    a = cp.aggregate_positions(pos, congested_kmh=20, heavy_kmh=10)
    b = cp.aggregate_positions_pandas(pos, congested_kmh=20, heavy_kmh=10)
    assert len(a) == len(b) > 100
    pd.testing.assert_frame_equal(a, b, check_dtype=False, atol=1e-9)
    assert a["n_records"].sum() == len(pos)
    assert set(a["day_type"]) == {"weekday", "holiday"}


def test_aggregation_by_hand():
    df = pd.DataFrame({"opid": ["a", "a", "b", "c"], "trip_no": [1, 1, 1, 1],
                       "gps_time": [20251006080000, 20251006080010, 20251006081000, 20251011080000],
                       # Mon, Mon, Mon, Sat
                       "lat": [32.8031] * 4, "lon": [130.7417] * 4, "speed_kmh": [5.0, 15.0, 40.0, 12.0]})
    out = cp.aggregate_positions(df, congested_kmh=20, heavy_kmh=10)
    wk = out[out["day_type"] == "weekday"].iloc[0]
    assert (wk["n_records"], wk["n_slow"], wk["n_heavy"], wk["n_trips"]) == (3, 2, 1, 2)
    assert np.isclose(wk["mean_speed"], 20.0) and np.isclose(wk["share_slow"], 2 / 3)
    hol = out[out["day_type"] == "holiday"].iloc[0]
    assert (hol["n_records"], hol["n_trips"], hol["hour"]) == (1, 1, 8)
    passes = cp.mesh_passes(df)
    assert passes["n_passes"].tolist() == [3]


def test_day_type_table():
    cal = cp.day_type_table([20251013, 20251014, 20251103, 20251101])  # スポーツの日, Tue, 文化の日, Sat
    assert dict(zip(cal["date_int"], cal["day_type"], strict=True)) == {20251013: "holiday", 20251014: "weekday",
                                                            20251101: "holiday", 20251103: "holiday"}


def test_braking_rate_threshold_and_passes():
    ev = pd.DataFrame({"opid": ["a", "a", "b", "c"], "trip_no": [1] * 4, "event_time": [20251006080000] * 4,
                       "lat": [32.8031] * 4, "lon": [130.7417] * 4, "accel_long_g": [-0.31, -0.45, -0.29, -0.30]})
    agg = cp.aggregate_events(ev, threshold_g=-0.3)
    assert agg["n_events"].tolist() == [3] and agg["n_event_trips"].tolist() == [2]
    passes = pd.DataFrame({"mesh": [str(cp.mesh_code([32.8031], [130.7417])[0]), "49301569142"], "n_passes": [60, 50]})
    br = cp.braking_rates(passes, agg, min_passes=30)
    assert np.isclose(br.loc[0, "rate_per_1000"], 50.0) and br.loc[1, "n_events"] == 0
    assert br.loc[0, "rate_lo"] < 50 < br.loc[0, "rate_hi"]
    assert cp.braking_rates(passes, agg, min_passes=55)["mesh"].tolist() == [passes.loc[0, "mesh"]]


def test_eb_rate_shrinks_small_exposure():
    e = np.array([1, 10, 0, 2, 3])
    n = np.array([5, 100, 100, 100, 100])
    eb = cp.eb_rate(e, n)
    assert eb[0] < e[0] / n[0]  # 1/5 shrinks toward the mean (16/405)
    assert abs(eb[1] - 0.1) < abs(e[0] / n[0] - eb[0])


def test_mesh_hotspots_find_planted_cluster():
    import geopandas as gpd
    import shapely

    xs, ys = np.meshgrid(np.arange(15) * 125.0, np.arange(15) * 125.0)
    cells = gpd.GeoDataFrame({"v": np.random.default_rng(0).normal(1, 0.2, xs.size)},
                             geometry=shapely.box(xs.ravel(), ys.ravel(), xs.ravel() + 125, ys.ravel() + 125),
                             crs="EPSG:6670")
    hot = (np.abs(xs.ravel() - 1000) <= 125) & (np.abs(ys.ravel() - 1000) <= 125)
    cells.loc[hot, "v"] += 5
    out = cp.mesh_hotspots(cells, "v", level=6)
    centre = int(np.flatnonzero((xs.ravel() == 1000) & (ys.ravel() == 1000))[0])
    assert out.loc[centre, "hotspot"] and out.loc[centre, "gi_z"] == out["gi_z"].max()
    assert not out.loc[~hot & (np.abs(xs.ravel() - 1000) > 400), "hotspot"].any()


def test_rank_spots_classes():
    braking = pd.DataFrame({"mesh": ["1", "2", "3", "4"], "n_passes": [500] * 4, "n_events": [40, 2, 30, 0],
                            "rate_per_1000": [80.0, 4.0, 60.0, 0.0], "gi_z": [5.0, 0.1, 4.0, -1.0],
                            "hotspot": [True, False, True, False]})
    cong = pd.DataFrame({"mesh": ["2", "4", "5"], "share_slow_peak": [0.2, 0.8, 0.6], "n_congested_hours": [0, 2, 1]})
    acc = pd.DataFrame({"mesh": ["1", "2", "6"], "n_accidents": [0, 5, 1], "n_fatal": [0, 1, 0], "n_pedestrian": [0, 2,
                                                                                                                  0]})
    r = cp.rank_spots(braking, cong, acc, many_accidents=3, few_accidents=1)
    cls = dict(zip(r["mesh"], r["class"], strict=True))
    assert cls == {"1": "latent_risk", "2": "known_danger", "3": "latent_risk", "4": "congestion_only",
                   "5": "congestion_only"}
    assert "6" not in cls  # one accident, no braking or congestion signal: not listed
    assert r["rank"].tolist() == list(range(1, len(r) + 1)) and r["score"].is_monotonic_decreasing
    assert r.loc[r["mesh"] == "2", "class_label"].item() == "既知の危険箇所"


def test_accident_summaries_on_real_data():
    acc = na.read_accidents_gpkg(municipality_codes=["101", "102", "103", "104", "105"])
    tr = cp.accident_trend(acc, years=(2019, 2020, 2021))
    direct = acc[acc["year"].between(2019, 2021)].groupby("year").size()
    assert tr["city"]["n"].tolist() == direct.tolist()
    assert tr["n_outside"] == int((~acc["year"].between(2019, 2021)).sum()) > 0
    assert np.isclose(tr["change_pct"], (direct[2021] - direct[2019]) / direct[2019] * 100)
    assert tr["rate_ratio_ci"][0] < tr["rate_ratio_per_year"] < tr["rate_ratio_ci"][1]
    assert tr["by_group"].to_numpy().sum() == direct.sum()
    br = cp.accident_breakdowns(acc)
    assert br["hour"]["n"].sum() == len(acc) == br["type"]["n"].sum() == br["severity"]["n"].sum()
    assert set(br["day_night"]["day_night"]) <= {"昼－明", "昼－昼", "昼－暮", "夜－暮", "夜－夜", "夜－明"}
    pm = cp.accidents_per_mesh(acc)
    assert pm["n_accidents"].sum() == len(acc) and pm["n_fatal"].sum() == (acc["severity_code"] == "1").sum()
