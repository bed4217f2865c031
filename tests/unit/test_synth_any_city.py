"""The probe (03) and school-route (05) generators for any municipality: everything they generate lies
inside the city, in its own plane CRS, at small sizes too (islands, multi-part areas)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from ebpm_analysis import geo, jpcalendar, provenance
from ebpm_analysis.errors import ParameterError
from ebpm_analysis.synth import probe as sp
from ebpm_analysis.synth import school_routes as ss


@pytest.mark.parametrize("code, scale", [("43100", 1.0), ("12204", 0.574), ("47382", 0.334), ("13421", 0.305)])
def test_probe_network_inside_city_and_scaled(code, scale):
    roads, links = sp.build_network(code, 2026)
    assert roads.crs == geo.plane_crs(code) and roads.attrs["crs"] == geo.plane_crs(code)
    assert roads.attrs["scale"] == pytest.approx(scale, abs=0.001)
    assert len(roads) >= 10 and links["link_id"].is_unique
    pts = shapely.line_interpolate_point(roads.geometry.to_numpy(), 0.37, normalized=True)
    g = roads.set_geometry(list(pts)).to_crs(geo.GEO_CRS).geometry
    # on the simplified border at most (the roads are clipped to the polygons)
    assert (geo.distance_to_city_m(g.x, g.y, code) < 1.0).all()


def test_probe_delivery_inside_the_island(tmp_path):
    meta = sp.generate(tmp_path, seed=1, city_code="47382", n_rows=3000)
    assert meta["crs"] == "EPSG:6684" and meta["network_scale"] < 0.4
    assert 3000 <= meta["n_position_rows"] <= 3000 + 8000 // 200 + 1   # rounded up to a whole trip
    truth = __import__("ebpm_analysis.synth", fromlist=["read_truth"]).read_truth(tmp_path)
    hz = truth.tables["hazards"]
    assert len(hz) and geo.inside_city(hz["lon"], hz["lat"], "47382").all()


@pytest.mark.parametrize("code", ["47382", "13421"])
def test_school_routes_inside_island_at_small_size(code, tmp_path):
    gen = ss.generate(code, 3, n_schools=2, children_per_school=12, n_days=2)
    files = ss.write_dataset(gen, tmp_path)
    fixes = gen["fixes"]
    assert geo.inside_city(fixes["lon"], fixes["lat"], code).all()
    import pandas as pd
    for f in ("schools", "crossings"):
        df = pd.read_csv(files[f], encoding="cp932" if f == "schools" else "utf-8")
        assert geo.inside_city(df["lon"], df["lat"], code).all(), f
    assert 1 <= len(gen["world"]["schools"]) <= 2 and gen["world"]["crs"] == geo.plane_crs(code)
    assert jpcalendar.is_school_day(gen["dates"]).all() and len(gen["dates"]) == 2


def test_school_days_skip_the_holiday_and_area_codes():
    # 2026-10-09 is a Friday; the next Monday 10-12 is スポーツの日
    assert [d.strftime("%m-%d") for d in ss.school_days("2026-10-08", 3)] == ["10-08", "10-09", "10-13"]
    assert ss.school_area_codes("43100") == ["43101", "43102"]       # a designated city's first two wards
    assert ss.school_area_codes("16201") == ["16201"]                # a municipality: itself
    assert ss.school_area_codes("04100", ["04103"]) == ["04103"]
    with pytest.raises(ParameterError, match="ward_codes.*43101.*not an area of 富山市"):
        ss.school_area_codes("16201", ["43101"])
    with pytest.raises(ParameterError, match="n_days"):
        ss.generate("16201", 1, n_days=0)


def test_generated_kumamoto_default_keeps_its_schools_central():
    gen = ss.generate("43100", 7, n_schools=4, children_per_school=5, n_days=1)
    xy = np.array([[s["x"], s["y"]] for s in gen["world"]["schools"]])
    centre = geo.city_geometry("43101", geo.plane_crs("43100"))
    assert len(xy) == 4 and shapely.contains_xy(centre.buffer(3000), xy[:, 0], xy[:, 1]).all()


@pytest.mark.parametrize("mod, call", [(ss, lambda m, d: m.ensure_school_routes(3, city_code="43100", out_dir=d)),
                                       (sp, lambda m, d: m.ensure_probe(3, city_code="43100", out_dir=d))])
def test_cache_key_holds_the_boundary_file(mod, call, monkeypatch, tmp_path):
    monkeypatch.setattr(mod, "build_dir_once", lambda target, required, build: target)
    a = call(mod, tmp_path)
    assert a == call(mod, tmp_path)                               # same inputs, same folder
    monkeypatch.setattr(provenance, "sha256_file", lambda path: "f" * 64)  # another boundary file
    assert call(mod, tmp_path) != a


def test_offroute_bars_accept_wilson_limits_a_rounding_error_inside_the_share():
    import geopandas as gpd
    import pandas as pd

    from ebpm_analysis.plots import school_routes as figs
    crs = geo.plane_crs("43100")
    wards = geo.load_city("43100").to_crs(crs)
    x0, y0 = wards.geometry.iloc[0].representative_point().coords[0]
    seg = gpd.GeoDataFrame({"segment_id": ["S01-R001", "S01-R002"], "suppressed": [False, False],
                            "share": [0.0, 0.2], "share_lo": [1e-17, 0.1], "share_hi": [0.05, 0.3]},
                           geometry=[shapely.LineString([(x0, y0), (x0 + 300, y0)]),
                                     shapely.LineString([(x0, y0), (x0, y0 + 300)])], crs=crs)
    schools = pd.DataFrame({"school_name": ["A小学校（合成）"], "x": [x0], "y": [y0]})
    fig = figs.offroute_map(wards, seg, schools, source="test", synthetic=True)   # raised ValueError before
    assert len(fig.axes) == 2
