"""Case 3 analysis: mesh codes, DuckDB vs pandas aggregation, braking rates, Gi*, accidents, ranking."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from jismesh import utils as ju
from shapely import Point

from ebpm_analysis.cases import probe as cp
from ebpm_analysis.errors import ParameterError
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


def _mesh_block(n: int, lat0: float = 32.80, lon0: float = 130.70):
    """Codes of an n × n block of level-6 meshes (row-major from the south-west) and their row/column offsets."""
    r0, c0 = cp.grid_index([lat0], [lon0])
    dr, dc = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    codes = cp.grid_mesh_code(r0[0] + dr.ravel(), c0[0] + dc.ravel(), 6).astype(str)
    return codes, dr.ravel(), dc.ravel()


def test_mesh_hotspots_find_planted_cluster():
    codes, dr, dc = _mesh_block(15)
    v = np.random.default_rng(0).normal(1, 0.2, len(codes))
    hot = (np.abs(dr - 8) <= 1) & (np.abs(dc - 8) <= 1)
    v[hot] += 5
    out = cp.mesh_hotspots(pd.DataFrame({"mesh": codes, "v": v}), "v", level=6)
    centre = int(np.flatnonzero((dr == 8) & (dc == 8))[0])
    assert out.loc[centre, "hotspot"] and out.loc[centre, "gi_z"] == out["gi_z"].max()
    assert out.loc[hot, "hotspot"].all()
    assert not out.loc[(np.abs(dr - 8) > 2) | (np.abs(dc - 8) > 2), "hotspot"].any()


def test_mesh_hotspots_use_queen_contiguity_on_the_mesh_grid():
    """Every interior mesh has its 8 surrounding meshes as neighbours (edges 5, corners 3). Before issue 13 a
    187.5 m distance band on cell centres (cells ≈ 116 × 146 m, diagonal ≈ 187 m) gave most meshes 2–4."""
    codes, dr, dc = _mesh_block(10)
    out = cp.mesh_hotspots(pd.DataFrame({"mesh": codes, "v": np.arange(len(codes), dtype=float)}), "v", level=6)
    edge = (dr == 0) | (dr == 9) | (dc == 0) | (dc == 9)
    corner = ((dr == 0) | (dr == 9)) & ((dc == 0) | (dc == 9))
    assert (out.loc[~edge, "gi_neighbours"] == 8).all()
    assert (out.loc[edge & ~corner, "gi_neighbours"] == 5).all() and (out.loc[corner, "gi_neighbours"] == 3).all()
    # the mesh grid index is the inverse of the code (level 3 too: 1 km meshes)
    r, c = cp.mesh_grid_index(codes, 6)
    assert (np.diff(np.unique(r)) == 1).all() and (r - r.min() == dr).all() and (c - c.min() == dc).all()
    r3, c3 = cp.grid_index([32.80, 32.81], [130.70, 130.71])
    k3 = cp.grid_mesh_code(r3, c3, 3)
    assert list(k3) == list(cp.mesh_code([32.80, 32.81], [130.70, 130.71], 3))
    assert tuple(x.tolist() for x in cp.mesh_grid_index(k3, 3)) == (list(r3 // 8), list(c3 // 8))


def test_mesh_hotspots_control_false_discoveries_on_noise():
    """Pure noise over 900 meshes, 10 draws: one-sided unadjusted p < 0.05 (before issue 13) flags about 5 % of
    the meshes in every draw; upper-tail p with Benjamini–Hochberg flags a mesh in about one draw in ten (BH
    holds the chance of any false discovery near 5 % under the global null; Gi* neighbourhoods overlap)."""
    from ebpm_analysis.stats.hotspots import gi_star, grid_weights

    codes, dr, dc = _mesh_block(30)
    w = grid_weights(dr, dc, queen=True)
    adjusted, unadjusted = [], []
    for seed in range(10):
        v = np.random.default_rng(seed).normal(1, 0.25, len(codes))
        out = cp.mesh_hotspots(pd.DataFrame({"mesh": codes, "v": v}), "v", level=6)
        adjusted.append(int(out["hotspot"].sum()))
        unadjusted.append(int(gi_star(v, w, inference="normal").hot.sum()))
        assert out["gi_p"].between(0, 1).all()
    assert sum(adjusted) <= 5 and sum(a > 0 for a in adjusted) <= 2, adjusted
    assert min(unadjusted) >= 20, unadjusted


def test_rank_spots_classes():
    braking = pd.DataFrame({"mesh": ["1", "2", "3", "4"], "n_passes": [500] * 4, "n_events": [40, 2, 30, 0],
                            "rate_per_1000": [80.0, 4.0, 60.0, 0.0], "gi_z": [5.0, 0.1, 4.0, -1.0],
                            "hotspot": [True, False, True, False]})
    cong = pd.DataFrame({"mesh": ["2", "4", "5", "7"], "share_slow_peak": [0.2, 0.8, 0.6, 0.9],
                         "n_congested_hours": [0, 2, 1, 0]})
    acc = pd.DataFrame({"mesh": ["1", "2", "6"], "n_accidents": [0, 5, 1], "n_fatal": [0, 1, 0], "n_pedestrian": [0, 2,
                                                                                                                  0]})
    r = cp.rank_spots(braking, cong, acc, many_accidents=3, few_accidents=1)
    cls = dict(zip(r["mesh"], r["class"], strict=True))
    assert cls == {"1": "latent_risk", "2": "known_danger", "3": "latent_risk", "4": "congestion_only",
                   "5": "congestion_only"}
    assert "6" not in cls  # one accident, no braking or congestion signal: not listed
    assert "7" not in cls  # slow at the peaks but no hour tested congested (before issue 13: congestion_only)
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


def test_passes_follow_the_path_between_records():
    """A trip driving east with a record every ~200 m crosses level-6 meshes (~146 m wide here) that hold no
    record: it passes through them and is counted there (before issue 13 it was not). Records more than
    400 m apart (a gap) and records of another trip are not joined."""
    lon = 130.7400 + np.arange(4) * 0.00214                      # ≈ 200 m apart at 32.8°N
    trip = pd.DataFrame({"opid": "a", "trip_no": 1, "gps_time": 20251006080000 + np.arange(4) * 20,
                         "lat": 32.8031, "lon": lon, "speed_kmh": 40.0})
    r, c = cp.grid_index(trip["lat"], trip["lon"])
    assert list(c - c[0]) == [0, 1, 3, 4]                          # column 2 has no record
    passes = cp.mesh_passes(trip)
    crossed = cp.grid_mesh_code(np.full(5, r[0]), c[0] + np.arange(5)).astype(str)
    assert passes["mesh"].tolist() == sorted(crossed) and (passes["n_passes"] == 1).all()
    # vehicle-km: the path's length in each mesh; the inner meshes are crossed whole (1/640° of longitude)
    step_m = 0.00214 * 111_320.0 * np.cos(np.radians(32.8031))
    assert passes["vehicle_km"].sum() * 1000 == pytest.approx(3 * step_m, rel=1e-9)
    width_m = 111_320.0 / 640 * np.cos(np.radians(32.8031))
    inner = passes.set_index("mesh").loc[sorted(crossed)[1:4], "vehicle_km"] * 1000
    assert np.allclose(inner, width_m, rtol=1e-9)
    # a diagonal step crosses the cells on the way (here one row and two columns: 4 cells incl. a corner)
    diag = pd.DataFrame({"opid": "b", "trip_no": 1, "gps_time": [20251006080000, 20251006080020],
                         "lat": [32.80010, 32.80125], "lon": [130.74010, 130.74200], "speed_kmh": 30.0})
    dr, dc = cp.grid_index(diag["lat"], diag["lon"])
    got = set(cp.mesh_passes(diag)["mesh"])
    assert {str(cp.grid_mesh_code(dr[0], dc[0])), str(cp.grid_mesh_code(dr[1], dc[1]))} <= got
    assert len(got) == (dr[1] - dr[0]) + (dc[1] - dc[0]) + 1         # a line crosses rows + columns + 1 cells
    # a gap of 1 km is not bridged, nor are two trips: only the records' own meshes
    gap = trip.iloc[[0, 3]].assign(lon=[130.7400, 130.7507])
    assert len(cp.mesh_passes(gap)) == 2
    two = trip.assign(trip_no=[1, 2, 1, 2])
    assert cp.mesh_passes(two)["n_passes"].sum() == len(cp.mesh_passes(trip.iloc[[0, 2]])) + len(
        cp.mesh_passes(trip.iloc[[1, 3]]))


def _grid_table(n: int, passes: int, metres_per_pass, seed: int, background_per_km: float = 0.0184,
                spikes: dict | None = None):
    """A mesh braking table on an n × n block: Poisson events at ``background_per_km`` × vehicle-km, times
    ``spikes[i]`` in mesh i."""
    codes, _, _ = _mesh_block(n)
    km = passes * np.broadcast_to(np.asarray(metres_per_pass, dtype=float), (n * n,)) / 1000
    lam = km * background_per_km
    for i, r in (spikes or {}).items():
        lam[i] *= r
    ev = np.random.default_rng(seed).poisson(lam)
    return pd.DataFrame({"mesh": codes, "n_passes": passes, "vehicle_km": km, "n_events": ev, "n_event_trips": ev})


def test_braking_hazards_expect_per_km_not_per_pass():
    """Meshes crossed briefly (40 m a pass) and along their length (180 m) with the same braking per km: the
    per-km test flags none of them; a per-pass expectation (as rates per 1,000 passes imply) flags the long
    ones by road geometry alone."""
    from ebpm_analysis.stats.hotspots import excess_test

    t = _grid_table(12, 20_000, np.where(np.arange(144) % 2, 40.0, 180.0), seed=4)
    br = cp.braking_hazards(cp.braking_rates(t[["mesh", "n_passes", "vehicle_km"]], t.drop(columns=["n_passes",
                                                                                                    "vehicle_km"])))
    assert br["tested"].all() and not br["hazard"].any()
    assert br["expected"].sum() == pytest.approx(br["n_events"].sum())
    per_pass = excess_test(t["n_events"], t["n_passes"].astype(float)).flag
    assert per_pass.sum() >= 60 and (np.flatnonzero(per_pass) % 2 == 0).all()   # the 180 m meshes
    # a mesh clipped at its corner (5 m a pass) is not tested: position error moves events in and out of it
    t.loc[3, "vehicle_km"] = 20_000 * 5 / 1000
    br = cp.braking_hazards(cp.braking_rates(t[["mesh", "n_passes", "vehicle_km"]], t.drop(columns=["n_passes",
                                                                                                    "vehicle_km"])))
    assert not br.loc[br["mesh"] == t.loc[3, "mesh"], "tested"].item() and br["tested"].sum() == 143
    with pytest.raises(ParameterError, match="vehicle_km"):
        cp.braking_hazards(cp.braking_rates(t[["mesh", "n_passes"]], t.drop(columns=["n_passes", "vehicle_km"])))


def test_single_mesh_spike_is_a_hazard_though_gi_star_misses_it():
    """A mesh braking 3× its expectation among quiet neighbours: the per-mesh test flags it alone; Gi* (the
    view of areas, before issue 13 the hot-spot rule) averages it with its 8 neighbours: it does not mark the
    spike's own mesh, only a neighbour whose 3 × 3 window holds it."""
    t = _grid_table(15, 8_000, 120.0, seed=2, spikes={112: 3.0})
    table = cp.braking_hotspot_table(t[["mesh", "n_passes", "vehicle_km"]],
                                     t.drop(columns=["n_passes", "vehicle_km"]), plane_crs="EPSG:6670")
    assert table.loc[table["hotspot"], "mesh"].tolist() == [t.loc[112, "mesh"]]
    assert table["braking_rank"].iloc[0] == 1 and table["mesh"].iloc[0] == t.loc[112, "mesh"]
    gi = table[table["gi_significant"]]
    assert len(gi) == 1 and gi["ratio"].item() < 1.5 and t.loc[112, "mesh"] not in set(gi["mesh"])
    assert cp.hazards_found(gi["mesh"], [t.loc[112, "mesh"]])["found"] == 1      # a neighbour of the spike
    assert {"expected", "ratio", "p_value", "q_value", "ratio_eb", "gi_z"} <= set(table.columns)


def test_hotspot_power_and_hazard_matching_on_a_small_grid():
    codes, dr, dc = _mesh_block(20)
    passes = pd.DataFrame({"mesh": codes, "n_passes": 400, "vehicle_km": 400 * 0.12})
    pw = cp.hotspot_power(passes, background_per_km=0.02, ratios=(1.0, 4.0), volumes=(1.0, 30.0), n_planted=4,
                          replicates=10, seed=3)
    assert list(pw.columns) == ["ratio", "volume", "recall", "false_flags", "false_share", "passes_median",
                                "replicates"]
    p = pw.set_index(["ratio", "volume"])
    assert p.loc[(1.0, 1.0), "recall"] == p.loc[(1.0, 30.0), "recall"] == 0       # nothing planted, nothing found
    # 4× spots with 12,000 passes (29 background events expected) are all found; with 400 (1 expected) few
    assert p.loc[(4.0, 30.0), "recall"] == 1.0 and p.loc[(4.0, 30.0), "passes_median"] == 12_000
    assert p.loc[(4.0, 1.0), "recall"] <= 0.25
    assert (pw["false_flags"] <= 0.5).all()
    t, kinds = cp.power_table(pw)
    assert t.columns.tolist() == ["多発地点の急減速率（背景の倍）", "データ量 1倍", "データ量 30倍"]
    assert t.iloc[1, 2].startswith("100%（誤検出 ") and set(kinds) == set(t.columns)
    assert "データ量 30倍では背景の4倍以上の地点の8割以上" in cp.power_sentence(pw, 4)
    assert "データ量 1倍ではどの大きさでも8割未満" in cp.power_sentence(pw, 4)
    with pytest.raises(ParameterError, match="background_per_km"):
        cp.hotspot_power(passes, background_per_km=0)
    with pytest.raises(ParameterError, match="vehicle_km"):
        cp.hotspot_power(passes.drop(columns="vehicle_km"), background_per_km=0.02)
    # hazard matching allows one mesh of position error
    m = cp.hazards_found([codes[21], codes[200]], [codes[0], codes[399]], level=6)   # 21 = row 1, col 1
    assert m == {"hazards": 2, "flagged": 2, "found": 1, "false": 1, "recall": 0.5}


def test_congestion_found_and_sentence_by_hand():
    """Two planted link-hours (a link over meshes A, B at 8 h; one over C at 17 h); flags: B at 8 h (found),
    the neighbour of C at 17 h (spill, not false), C at 8 h (false: nothing planted there then), a far mesh at
    18 h (false)."""
    codes, _, _ = _mesh_block(10)
    a, b, c, c_next, far = codes[0], codes[1], codes[55], codes[56], codes[99]
    cong = pd.DataFrame({"hour": [8, 17], "mesh6": [f"{a};{b}", c]})
    flags = pd.DataFrame({"mesh": [b, c_next, c, far], "hour": [8, 17, 8, 18], "day_type": "weekday",
                          "n_trips": [40, 12, 10, 20], "share_slow": [0.7, 0.6, 0.5, 0.55]})
    f = cp.congestion_found(flags, cong, level=6)
    assert f == {"link_hours": 2, "found": 1, "recall": 0.5, "flagged": 4, "false": 2, "false_share": 0.5,
                 "false_hours": [8, 18], "false_median_trips": 15.0}
    s = cp.congestion_sentence(f, share_threshold=0.5, alpha=0.1)
    assert "渋滞リンク・時台 2 のうち 1（50%）" in s and "4件のうち 2件（50%）" in s
    assert "低速のトリップが50%以上" in s and "偽発見率0.1）" in s
    assert "（8時台・18時台、通過トリップの中央値 15）" in s
    assert "ありませんでした" in cp.congestion_sentence(f | {"false": 0}, share_threshold=0.5, alpha=0.05)
    # level 5 (the codes cut by a digit): C and its neighbour share a 250 m mesh, so both link-hours are found
    assert str(int(c) // 10) == str(int(c_next) // 10)
    assert cp.congestion_found(flags.assign(mesh=[m[:-1] for m in flags["mesh"]]), cong, level=5)["found"] == 2


def _congestion_city(n_meshes=60, trips=20, seed=0):
    """Weekday mesh-hours 6–21 h of ``n_meshes`` meshes, every one slow in 10 % of its trips off-peak and 30 % at
    the peaks (7, 8, 17, 18 h): the city-wide peak slowdown; one record per trip."""
    hours = np.arange(6, 22)
    share = np.where(np.isin(hours, [7, 8, 17, 18]), 0.3, 0.1)
    rows = [{"mesh": f"m{m:03d}", "day_type": "weekday", "hour": int(h), "n_trips": trips, "n_records": trips,
             "n_slow": int(round(trips * s))} for m in range(n_meshes) for h, s in zip(hours, share, strict=True)]
    return pd.DataFrame(rows)


def test_congestion_test_reference_is_the_mesh_other_hours_times_the_city_hour_profile():
    """Every mesh with the same profile: each cell's reference (its mesh without the cell × the hour factor) is
    exactly its own share, nothing is congested; the peak hours' factor is 3× the off-peak's."""
    agg = _congestion_city()
    t = cp.congestion_test(agg)
    assert t["tested"].all() and not t["congested"].any()
    assert np.allclose(t["expected_share"], t["n_slow"] / t["n_trips"])
    f = t.groupby("hour")["hour_factor"].first()
    assert f[8] / f[12] == pytest.approx(3.0)
    assert ((t["p_value"] > 0.4) & (t["q_value"] <= 1)).all()


def test_congestion_test_flags_a_slow_hour_and_not_a_chance_crossing():
    """One mesh crawls at 8 h (16 of 20 trips slow against its usual 30 % at a peak): congested. Another has
    11 of 20 slow at 17 h (≥ 50 %, what the old share rule flagged), P ≈ 0.02 against its 30 %: after the FDR
    over ~960 cells, not congested. A third is significantly slow at 12 h (9 of 20 against 10 %) but below 50 %:
    not congested. A mesh with one hour only has no reference (not tested); trips count, not records."""
    agg = _congestion_city()
    hit = (agg["mesh"] == "m001") & (agg["hour"] == 8)
    chance = (agg["mesh"] == "m002") & (agg["hour"] == 17)
    mild = (agg["mesh"] == "m003") & (agg["hour"] == 12)
    agg.loc[hit, "n_slow"], agg.loc[chance, "n_slow"], agg.loc[mild, "n_slow"] = 16, 11, 9
    lone = pd.DataFrame([{"mesh": "lone", "day_type": "weekday", "hour": 8, "n_trips": 20, "n_records": 20,
                          "n_slow": 20}])
    # the same mesh-hours again with every trip leaving two records: the same trips, the same test
    twice = agg.assign(n_records=agg["n_records"] * 2, n_slow=agg["n_slow"] * 2)
    for frame in (agg, twice):
        t = cp.congestion_test(pd.concat([frame, lone], ignore_index=True), share_threshold=0.5, alpha=0.05)
        at = t.set_index(["mesh", "hour"])
        assert at.loc[("m001", 8), "congested"] and at.loc[("m001", 8), "slow_trips"] == 16
        assert at.loc[("m002", 17), "share_slow_trips"] >= 0.5 and not at.loc[("m002", 17), "congested"]
        assert 0.01 < at.loc[("m002", 17), "p_value"] < 0.03 and at.loc[("m002", 17), "q_value"] > 0.5
        assert at.loc[("m003", 12), "q_value"] < 0.05 and not at.loc[("m003", 12), "congested"]
        assert not at.loc[("lone", 8), "tested"] and not at.loc[("lone", 8), "congested"]
        flags = cp.congestion_flags(pd.concat([frame, lone], ignore_index=True))
        assert flags[["mesh", "hour"]].values.tolist() == [["m001", 8]]
    # the old rule (share of slow records ≥ 50 %) flagged the chance crossing and the lone mesh too
    assert ((agg["n_slow"] / agg["n_records"]) >= 0.5).sum() == 2
    with pytest.raises(ParameterError, match="alpha"):
        cp.congestion_test(agg, alpha=0)


def test_congestion_power_rises_with_share_and_scale_and_runs_the_rule_itself():
    """On the 960 weekday mesh-hours of _congestion_city (20 trips each, 10 % / 30 % slow off-peak / at peaks):
    nothing planted (share 0 = the background) flags nothing, even without the 50 % floor (BH at 5 %); 60 %
    slow planted hours are found more often with 10× the trips, 90 % more often than 60 %; a stricter
    share_threshold passed through changes the result (the rule itself runs). 0.3 s."""
    agg = _congestion_city()
    pw = cp.congestion_power(agg, slow_shares=(0.0, 0.6, 0.9), scales=(1, 10), n_planted=6, replicates=6, seed=1)
    assert list(pw.columns) == ["slow_share", "volume", "recall", "false_flags", "false_share", "trips_median",
                                "replicates"]
    p = pw.set_index(["slow_share", "volume"])
    assert p.loc[(0.0, 1.0), "recall"] == p.loc[(0.0, 10.0), "recall"] == 0
    assert p.loc[(0.0, 1.0), "false_flags"] == p.loc[(0.0, 10.0), "false_flags"] == 0
    assert 0.5 < p.loc[(0.6, 1.0), "recall"] < p.loc[(0.6, 10.0), "recall"] == 1.0
    assert p.loc[(0.6, 1.0), "recall"] < p.loc[(0.9, 1.0), "recall"] == 1.0
    assert p.loc[(0.6, 10.0), "trips_median"] == 200 and (pw["false_flags"] <= 0.5).all()
    null = cp.congestion_power(agg, slow_shares=(0.0,), scales=(1, 10), n_planted=6, replicates=20, seed=2,
                               share_threshold=0.0)
    assert (null["false_flags"] <= 0.05 * 2).all()
    strict = cp.congestion_power(agg, slow_shares=(0.9,), scales=(10,), n_planted=6, replicates=3, seed=1,
                                 share_threshold=0.95)
    assert strict["recall"].item() == 0.0
    t, kinds = cp.congestion_power_table(pw)
    assert t.columns.tolist() == ["渋滞時台の低速トリップの割合", "データ量 1倍", "データ量 10倍"]
    assert t.iloc[2, 2].startswith("100%（誤検出 ") and set(kinds) == set(t.columns)
    s = cp.congestion_power_sentence(pw, 6, share_threshold=0.5)
    assert f"データ量 1倍では低速0%の時台の0%、低速60%の時台の{p.loc[(0.6, 1.0), 'recall'] * 100:.0f}%" in s
    assert "平日のメッシュ×時台6か所" in s and "1メッシュにつき1時台" in s
    assert "低速のトリップが50%以上" in s and "しか判定されません" not in s
    with pytest.raises(ParameterError, match="n_records"):
        cp.congestion_power(agg.drop(columns="n_records"))
    with pytest.raises(ParameterError, match="mesh-hours tested"):
        cp.congestion_power(agg.head(8))   # one mesh, 8 hours: 8 tested, 8 planted

def test_hazard_sentence():
    assert "検出されず" in cp.hazard_sentence({"hazards": 8, "flagged": 0, "found": 0, "false": 0, "recall": 0.0})
    assert "急減速多発メッシュ 5 は" in cp.hazard_sentence({"hazards": 8, "flagged": 5, "found": 3, "false": 1,
                                                   "recall": 0.375})
    s = cp.hazard_sentence({"hazards": 8, "flagged": 5, "found": 3, "false": 1, "recall": 0.375})
    assert "8 か所のうち 3 か所" in s and "誤検出は 1 メッシュ" in s


def test_recovery_summary_counts_planted_and_false_flags_per_replicate():
    """stats.power.recovery_summary, the tally behind hotspot_power and congestion_power: two replicates of six
    units, two planted in each."""
    from ebpm_analysis.stats.power import recovery_summary

    flagged = [[True, False, True, False, False, False],     # planted 0 and 1: one found, one false flag (2)
               [False, False, False, True, True, True]]      # planted 3 and 4: both found, one false flag (5)
    row = recovery_summary(flagged, [[0, 1], [3, 4]], [[10, 30], [50, 70]], exposure_name="trips_median")
    assert list(row) == ["recall", "false_flags", "false_share", "trips_median", "replicates"]
    assert row == {"recall": 0.75, "false_flags": 1.0, "false_share": 0.4, "trips_median": 40.0, "replicates": 2}
    assert recovery_summary([[False] * 3], [[0]], [[5]])["false_share"] == 0.0   # no flag: no share of false ones
