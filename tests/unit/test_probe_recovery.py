"""Recovery: the analysis finds what the generator planted (hazard spots, congested link-hours).

Hazard spots are planted at realistic sizes (issue 13): each spot's mesh brakes 2–5 times as often as the
background (synth.probe.HAZARD_RATIO, reasoning in docs/sources.md#etc2-hazard-size), not ~40 times as before;
congestion at a mean of 15–25 km/h per link-hour with noise (synth.probe.CONGESTED_KMH,
docs/sources.md#etc2-congestion-size), not 5–17 km/h. At 800,000 position rows (about 1/40 of a month of a real
delivery for such a city) the per-mesh braking test (exact, per vehicle-km, FDR 5 %) finds 1 of 8 spots on one seed
and none on the other, with no false flag; the power simulation on the same exposure says what more data would find.
The congestion test finds 8 and 7 of the 12 planted link-hours with 2 of 19 and 1 of 21 flags false (seeds 7, 21).
Each fixture run takes ~20 s (generation, ingest, aggregation); each test a second or two after it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ebpm_analysis import geo
from ebpm_analysis.cases import probe as cp
from ebpm_analysis.io import etc2
from ebpm_analysis.synth import probe as sp
from ebpm_analysis.synth import read_truth

LEVEL = 6


@pytest.fixture(scope="module", params=[7, 21])
def run(request, tmp_path_factory):
    seed = request.param
    d = tmp_path_factory.mktemp(f"recovery{seed}")
    sp.generate(d, seed=seed, n_rows=800_000)
    con = cp.connect()
    pos = etc2.open_parquet(con, etc2.ingest(d / "positions", d / "pq_pos", "1-2").parquet)
    ev = etc2.open_parquet(con, etc2.ingest(d / "events", d / "pq_ev", "1-4").parquet)
    agg = cp.aggregate_positions(pos, con=con, level=LEVEL)
    passes = cp.mesh_passes(pos, con=con, level=LEVEL)
    events = cp.aggregate_events(ev, con=con, level=LEVEL, threshold_g=-0.3)
    ranked = cp.braking_hotspot_table(passes, events, level=LEVEL, min_passes=30, plane_crs=geo.plane_crs("43100"))
    records = pos.project("lat, lon, opid, trip_no").df()
    return {"truth": read_truth(d), "agg": agg, "ranked": ranked, "passes": passes, "events": events,
            "records": records, "seed": seed}


#: measured (found, false flags) of the per-mesh braking test at 800,000 rows, per seed
MEASURED_HAZARDS = {7: (1, 0), 21: (0, 0)}


def test_planted_hazards_are_realistic_and_the_test_flags_no_false_mesh(run):
    hz = run["truth"].tables["hazards"]
    assert len(hz) == 8 and hz["ratio"].between(2, 5).all()
    assert run["truth"].meta["hazard_ratio"] == [2.0, 5.0]
    meshes = cp.mesh_code(hz["lat"], hz["lon"], LEVEL).astype(str)
    hot = cp.hazards_found(run["ranked"].loc[run["ranked"]["hotspot"], "mesh"], meshes, level=LEVEL)
    assert (hot["found"], hot["false"]) == MEASURED_HAZARDS[run["seed"]]
    # the ranking (hazards first, then the smoothed ratio per vehicle-km): the top 16 of ~2,300 meshes hold 3 of
    # the 8 spots on seed 7 and none on seed 21 (measured; a random ranking: 0.06 expected)
    assert cp.recovered_hazards(run["ranked"], meshes, 2 * len(hz)) == {7: 3 / 8, 21: 0.0}[run["seed"]]


def test_expected_counts_per_km_fit_the_background(run):
    """Away from the planted spots, braking per vehicle-km is the same whatever the path length per pass in a
    mesh (observed / expected within 0.8–1.2 in each sixth of meshes by metres per pass); the rate per pass is not
    (the meshes crossed briefly get far fewer events per pass than those crossed along their length)."""
    br = run["ranked"]
    br = br[br["tested"]].copy()
    hz = run["truth"].tables["hazards"]
    near = cp.hazards_found(br["mesh"], cp.mesh_code(hz["lat"], hz["lon"], LEVEL).astype(str))
    assert near["hazards"] == 8
    hr, hc = cp.mesh_grid_index(cp.mesh_code(hz["lat"], hz["lon"], LEVEL).astype(str))
    r, c = cp.mesh_grid_index(br["mesh"])
    far = (np.maximum(np.abs(r[:, None] - hr[None]), np.abs(c[:, None] - hc[None])) > 1).all(axis=1)
    bg = br[far]
    sixth = pd.qcut(bg["vehicle_km"] / bg["n_passes"], 6)
    per_km = bg.groupby(sixth, observed=True).apply(lambda g: g["n_events"].sum() / g["expected"].sum())
    assert per_km.between(0.8, 1.2).all(), per_km
    rate = 1000 * bg["n_events"].sum() / bg["n_passes"].sum()
    per_pass = bg.groupby(sixth, observed=True).apply(lambda g: 1000 * g["n_events"].sum() / g["n_passes"].sum() / rate)
    assert per_pass.iloc[0] < 0.6 and per_pass.iloc[-1] > 1.2, per_pass


def test_power_at_realistic_sizes(run):
    """The rule on the run's own exposure with planted spots (20 replicates of 8 spots, ~1 s): at 30× the data
    (about a real month) spots at 3× and 5× the background are found at ≥ 90 %, at 2× more than half the time,
    at 2× with the data at hand almost never; false flags stay at FDR level (≤ 0.6 meshes a run of ~2,100)."""
    bg = cp.background_per_km(run["ranked"])
    pw = cp.hotspot_power(run["passes"], background_per_km=bg, ratios=(2, 3, 5), volumes=(1, 10, 30), replicates=20,
                          seed=1).set_index(["ratio", "volume"])
    assert pw.loc[(5.0, 30.0), "recall"] >= 0.9 and pw.loc[(3.0, 30.0), "recall"] >= 0.9
    assert pw.loc[(5.0, 10.0), "recall"] >= 0.8 and pw.loc[(2.0, 30.0), "recall"] >= 0.5
    assert pw.loc[(2.0, 1.0), "recall"] <= 0.05
    assert (pw["false_flags"] <= 0.6).all()
    assert (pw.loc[pw["recall"] >= 0.5, "false_share"] <= 0.1).all()


def test_trajectory_passes_count_meshes_crossed_between_records(run):
    """Counting a trip only in meshes holding one of its records (before issue 13) missed the meshes crossed
    between records ~200 m apart: every mesh's trajectory passes are at least its record passes, and overall
    there are far more."""
    r = run["records"]
    old = (pd.DataFrame({"mesh": cp.mesh_code(r["lat"], r["lon"], LEVEL).astype(str), "opid": r["opid"],
                         "trip": r["trip_no"]}).drop_duplicates().groupby("mesh").size().rename("old"))
    both = run["passes"].set_index("mesh")["n_passes"].to_frame().join(old, how="outer").fillna(0)
    assert (both["n_passes"] >= both["old"]).all()
    assert both["n_passes"].sum() > 1.3 * both["old"].sum()


#: measured congestion finding of the report's rule (cases.probe.congestion_test: a weekday mesh-hour with ≥ 10
#: trips, ≥ 50 % of them slow, and significantly more slow trips than the same mesh's other hours explain, FDR 5 %)
#: against the 12 planted link-hours, per seed: (found, flagged, false). The earlier rule (share of slow records
#: ≥ 50 %, no allowance for chance) found 8 and 8 but flagged 317 and 301 mesh-hours, 293 and 277 of them (92 %)
#: away from the planted links.
MEASURED_CONGESTION = {7: (8, 19, 2), 21: (7, 21, 1)}


def test_planted_congestion_is_realistic_and_found_with_few_false_flags(run):
    """Congestion planted at 15–25 km/h: the planted link-hours are slow in about half of their records, not
    all. The report's test finds more than half of them, and at most 1 in 8 of its flags lies away from the
    planted links (the old share rule: 92 % — peak-hour mesh-hours of roads that run near 20 km/h at every peak,
    crossing 50 % by chance)."""
    cong = run["truth"].tables["congestion"]
    assert cong["speed_kmh"].between(15, 25).all() and run["truth"].meta["congested_kmh"] == [15.0, 25.0]
    agg = run["agg"]
    # planted meshes at the planted hours: slow share well below 1 (it was 1 by construction at 5–17 km/h)
    mid = cp.mesh_code(cong["lat"], cong["lon"], LEVEL).astype(str)
    at = agg[agg["day_type"].eq("weekday")].set_index(["mesh", "hour"])
    shares = [at.loc[(m, h), "share_slow"] for m, h in zip(mid, cong["hour"], strict=True) if (m, h) in at.index]
    assert 0.3 <= np.mean(shares) <= 0.85, shares
    cells = cp.congestion_test(agg, share_threshold=0.5, min_trips=10, alpha=0.05)
    assert cells["tested"].mean() > 0.95   # nearly every published weekday mesh-hour has a reference
    flags = cp.congestion_flags(agg, share_threshold=0.5, min_trips=10, alpha=0.05)
    found = cp.congestion_found(flags, cong, level=LEVEL)
    assert found["link_hours"] == 12 and found["recall"] > 0.5
    assert found["false_share"] <= 0.125, found
    assert (found["found"], found["flagged"], found["false"]) == MEASURED_CONGESTION[run["seed"]]
    # the old rule on the same data: as many planted link-hours, but > 90 % of its flags false
    wd = agg[agg["day_type"].eq("weekday") & (agg["n_trips"] >= 10)]
    old = cp.congestion_found(wd[wd["share_slow"] >= 0.5], cong, level=LEVEL)
    assert old["found"] == 8 and old["false_share"] > 0.9


def test_generator_is_deterministic(tmp_path):
    a = sp.generate(tmp_path / "a", seed=3, n_rows=20_000)
    b = sp.generate(tmp_path / "b", seed=3, n_rows=20_000)
    assert a == b
    za = sorted((tmp_path / "a" / "positions").glob("*.zip"))
    zb = sorted((tmp_path / "b" / "positions").glob("*.zip"))
    import zipfile

    assert [z.name for z in za] == [z.name for z in zb]
    assert all(zipfile.ZipFile(x).read("data.csv") == zipfile.ZipFile(y).read("data.csv") for x, y in zip(za, zb,
                                                                                                          strict=True))


def test_network_inside_city_and_truth_files(tmp_path):
    import shapely

    from ebpm_analysis import geo

    roads, links = sp.build_network("43100", seed=0)
    plane = geo.to_plane(geo.load_city("43100"), geo.plane_crs("43100"))
    city = shapely.union_all(plane.geometry.to_numpy()).buffer(1.0)
    assert roads.geometry.within(city).all()
    assert set(roads["road_class"]) == {"arterial", "ring", "local"}
    assert (links["s_to"] - links["s_from"]).max() <= 400.0 + 1e-6
    meta = sp.generate(tmp_path / "t", seed=1, n_rows=10_000)
    assert meta["n_position_rows"] >= 10_000
    tr = read_truth(tmp_path / "t")
    assert tr.meta == meta
    assert len(tr.tables["hazards"]) == meta["n_hazards"]
    assert len(tr.tables["congestion"]) == meta["n_congested_link_hours"]
    assert tr.tables["hazards"]["hazard_id"].map(type).eq(str).all()
    assert (tmp_path / "t" / "positions" / etc2.SYNTHETIC_MARKER).exists()


def test_ensure_is_cached(tmp_path, monkeypatch):
    from ebpm_analysis import paths

    monkeypatch.setattr(paths, "INTERIM_DIR", tmp_path)
    p1 = sp.ensure_probe(2, n_rows=5_000)
    assert p1.parent == tmp_path / "03_probe_slowdowns" / "synthetic"
    stamp = (p1 / sp.FILES["truth"]).stat().st_mtime_ns
    p2 = sp.ensure_probe(2, n_rows=5_000)
    assert p1 == p2 and (p2 / sp.FILES["truth"]).stat().st_mtime_ns == stamp
    assert not [p for p in p1.parent.iterdir() if p.name.startswith(".")]
