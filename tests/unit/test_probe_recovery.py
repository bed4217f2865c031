"""Recovery: the analysis finds what the generator planted (hazard spots, congested link-hours).

Hazard spots are planted at realistic sizes (issue 13): each spot's mesh brakes 2–5 times as often as the
background (synth.probe.HAZARD_RATIO, reasoning in docs/sources.md#etc2-hazard-size), not ~40 times as before.
At 800,000 position rows (about 1/40 of a month of a real delivery for such a city) the hot-spot rule (Gi* with
queen contiguity and FDR, own smoothed rate ≥ 2× the city's) flags no mesh at all, and no false one; the power
simulation on the same exposure says what more data would find (asserted below at the measured values).
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
            "records": records}


def test_planted_hazards_are_realistic_and_no_false_hot_spot(run):
    hz = run["truth"].tables["hazards"]
    assert len(hz) == 8 and hz["ratio"].between(2, 5).all()
    assert run["truth"].meta["hazard_ratio"] == [2.0, 5.0]
    meshes = cp.mesh_code(hz["lat"], hz["lon"], LEVEL).astype(str)
    hot = cp.hazards_found(run["ranked"].loc[run["ranked"]["hotspot"], "mesh"], meshes, level=LEVEL)
    # measured on both seeds: no hot spot at all at this volume, so no false one and none found
    assert hot["false"] == 0 and hot["found"] == 0
    # the ranking still lifts the spots: of 2,300 ranked meshes the top 16 hold 1 (seed 21) and 3 (seed 7)
    assert cp.recovered_hazards(run["ranked"], meshes, 2 * len(hz)) >= 1 / 8


def test_power_at_realistic_sizes(run):
    """The same rule on the run's own exposure with planted spots: at 30× the data (about a real month) spots at
    5× the background are found at ≥ 75 % with at most one false flag in two runs; spots at 2× never (their
    smoothed rate stays under the 2× rule), nor anything at the volume at hand."""
    br = cp.braking_rates(run["passes"], run["events"])
    bg = 1000 * br["n_events"].sum() / br["n_passes"].sum()
    pw = cp.hotspot_power(run["passes"], background_per_1000=bg, ratios=(2, 5), volumes=(1, 30), replicates=3,
                          seed=1, level=LEVEL).set_index(["ratio", "volume"])
    assert pw.loc[(5.0, 30.0), "recall"] >= 0.75 and pw.loc[(5.0, 30.0), "false_flags"] <= 0.5
    assert pw.loc[(2.0, 1.0), "recall"] == pw.loc[(2.0, 30.0), "recall"] == pw.loc[(5.0, 1.0), "recall"] == 0
    assert (pw["false_flags"] <= 0.5).all()


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


def test_planted_congested_link_hours_flagged(run):
    cong = run["truth"].tables["congestion"]
    flags = cp.congestion_flags(run["agg"], share_threshold=0.5, min_records=5)
    flagged = set(zip(flags["mesh"], flags["hour"], strict=True))
    meshes = cp.mesh_code(cong["lat"], cong["lon"], LEVEL).astype(str)
    hits = [(m, h) in flagged for m, h in zip(meshes, cong["hour"], strict=True)]
    assert np.mean(hits) >= 0.8, list(zip(meshes, cong["hour"], hits, strict=True))
    # the same meshes are not flagged at off-peak hours (11–14 h) on weekdays
    off = flags[flags["hour"].between(11, 14) & flags["mesh"].isin(set(meshes))]
    assert len(off) <= len(set(meshes)) // 2


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
