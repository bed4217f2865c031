"""Recovery: the analysis finds what the generator planted (hazard spots, congested link-hours)."""

from __future__ import annotations

import numpy as np
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
    return {"truth": read_truth(d), "agg": agg, "ranked": ranked}


def test_top_braking_hotspots_include_planted_spots(run):
    hz = run["truth"].tables["hazards"]
    assert len(hz) == 8
    meshes = cp.mesh_code(hz["lat"], hz["lon"], LEVEL).astype(str)
    top_n = 2 * len(hz)
    share = cp.recovered_hazards(run["ranked"], meshes, top_n)
    assert share >= 0.8, (share, meshes)
    top = run["ranked"].head(top_n)
    found = top[top["mesh"].isin(meshes)]
    assert found["hotspot"].all()  # each recovered spot is a Gi* hot spot, not just a high rate
    # few false hot spots: at most as many extra hot spots as planted ones
    assert run["ranked"]["hotspot"].sum() - found["hotspot"].sum() <= len(hz)


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
