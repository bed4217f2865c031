"""Cases 4 and 6 for any city: generated districts, stations and calls lie inside the city (islands
and multi-part areas included), distances use the city's plane zone, the weather follows the nearest
JMA observatory, populations come from the profile or a stated assumption, and the cache keys change
with everything that changes the files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from ebpm_analysis import geo, lookups
from ebpm_analysis.io import dispatch_log as DL
from ebpm_analysis.io import jma
from ebpm_analysis.io import stations as ST
from ebpm_analysis.synth import counter as SC
from ebpm_analysis.synth import emergency as SE
from ebpm_analysis.synth import read_truth
from ebpm_analysis.synth import weather as SW

SMALL = {"start": "2024-01-01", "end": "2024-12-31", "n_districts": 6, "population_total": 3000.0}


def _files(folder):
    return {k: folder / name for k, name in SE.FILES.items()}


@pytest.mark.parametrize("code, n_parts_min", [("13421", 5), ("47382", 1)])
def test_islands_everything_generated_lies_inside(tmp_path, code, n_parts_min):
    """小笠原村 (islands spread over 1,000 km; a fitted conic) and 与那国町 (zone XVI) at a small size."""
    city = geo.load_city(code)
    assert shapely.get_num_geometries(geo.city_geometry(code)) >= n_parts_min
    folder = SE.ensure_emergency(1, city_code=code, out_dir=tmp_path, **SMALL)
    f = _files(folder)
    districts = DL.read_districts(f["districts"], city=code, nature="synthetic")
    assert districts.crs == geo.plane_crs(code)
    # coordinates are written to 6 decimals (≈ 0.1 m): 1 m of tolerance
    st = ST.read_stations(f["stations"], nature="synthetic", city=city, max_outside_m=1)
    log = DL.read_dispatch_log(f["log"], nature="synthetic", city=city, boundary_tolerance_m=1,
                               known_areas=set(districts["district_code"]), known_stations=set(st["station_code"]))
    assert geo.inside_city(log["lon"], log["lat"], code, tolerance_m=1).all()
    assert geo.inside_city(st["lon"], st["lat"], code, tolerance_m=1).all()
    # districts tile the city: their union has the city's area (0.1 %)
    area = geo.city_geometry(code, geo.plane_crs(code)).area
    assert districts.union_all().area == pytest.approx(area, rel=1e-3)
    pop = DL.read_district_population(f["population"], nature="synthetic")
    assert (pop["population"] >= SE.MIN_DISTRICT_POP).all()
    truth = read_truth(folder)
    assert truth["population_source"].startswith("指定値") and truth["share65"] == pytest.approx(0.286, abs=0.01)
    # ≈ 60.6 dispatches per 1,000 residents a year (national rate)
    assert 3000 * 0.045 < len(log) < 3000 * 0.08


def test_designated_city_two_districts_per_ward_and_its_zone(tmp_path):
    """仙台市 (04100): the union of its 5 wards, zone X (EPSG:6678); 6 districts asked → 10 generated."""
    folder = SE.ensure_emergency(2, city_code="仙台市", out_dir=tmp_path, **SMALL)
    assert folder.name.startswith("04100_")
    f = _files(folder)
    d = DL.read_districts(f["districts"], city="04100", nature="synthetic")
    assert d.crs == "EPSG:6678" and len(d) == 10 and d.groupby("ward_code").size().min() == 2
    st = ST.read_stations(f["stations"], nature="synthetic", city="04100", max_outside_m=1)
    assert set(st.loc[st["kind"] == "消防署", "station_name"]) == {
        "青葉消防署", "宮城野消防署", "若林消防署", "太白消防署", "泉消防署"}
    head = f["weather"].read_bytes().decode("cp932").splitlines()[2]
    assert "仙台" in head and "熊本" not in head
    t = read_truth(folder)
    assert t["weather_station"]["number"] == "47590" and t["plane_crs"] == "EPSG:6678"


def test_population_and_volume_for_a_city_without_figures():
    # without a population: the one assumption of lookups.city_population (typical size by kind)
    v = SE.city_volume("47382", pd.Timestamp("2022-01-01"), None, None)
    pop = lookups.city_population("47382")
    assert pop.assumed and v["population_total"] == pop.value and v["population_source"] == f"仮定値：{pop.how}"
    assert v["annual_dispatches"] == pytest.approx(pop.value * 7_638_558 / 126_146_099)
    v = SE.city_volume("04100", pd.Timestamp("2022-01-01"), 1_096_704, None)
    assert v["annual_dispatches"] == pytest.approx(1_096_704 * 7_638_558 / 126_146_099)   # ≈ 66,400
    assert v["share65"] == 0.286 and v["population_source"].startswith("指定値")
    v = SE.city_volume("04100", pd.Timestamp("2022-01-01"), None, None)
    assert v["population_total"] == lookups.city_population("04100").value
    assert v["population_source"].startswith("仮定値")
    # 熊本市 keeps its IPSS projection and its bureau's total
    v = SE.city_volume("43100", pd.Timestamp("2020-01-01"), None, None)
    assert v["population_source"].startswith("社人研") and 40_000 < v["annual_dispatches"] < 46_580


def test_projection_never_borrowed_from_another_city():
    assert DL.projection_path_for("43100").name.startswith("kumamoto_city_population")
    assert DL.projection_path_for("04100") is None and DL.projection_path_for("43202") is None
    assert DL.projection_path_for("04100", "data/raw/x.csv").name == "x.csv"


def test_cache_key_follows_city_and_sizes(tmp_path):
    a = SE.ensure_emergency(1, city_code="47382", out_dir=tmp_path, **SMALL)
    assert SE.ensure_emergency(1, city_code="与那国町", out_dir=tmp_path, **SMALL) == a
    b = SE.ensure_emergency(1, city_code="47382", out_dir=tmp_path, **(SMALL | {"population_total": 4000.0}))
    c = SE.ensure_emergency(1, city_code="13421", out_dir=tmp_path, **SMALL)
    assert len({a, b, c}) == 3
    assert sorted(p.name for p in (tmp_path / "_weather").iterdir()) == [
        "jma_daily_47912_s2_2024-01-01_2024-12-31.csv", "jma_daily_47971_s2_2024-01-01_2024-12-31.csv"]


def test_weather_follows_the_nearest_observatory():
    st, normals = SW.station_normals("04100")
    assert (st.number, st.name) == ("47590", "仙台")
    sendai = SW.generate_daily_weather("2021-01-01", "2023-12-31", seed=3, city="04100")
    kumamoto = SW.generate_daily_weather("2021-01-01", "2023-12-31", seed=3)
    jan = lambda w: w.loc[w["date"].dt.month == 1, "temp_mean"].mean()  # noqa: E731
    # normals: January 仙台 2.0 °C, 熊本 6.1 °C
    assert jan(sendai) == pytest.approx(float(normals.loc[normals["month"] == 1, "temperature"].iloc[0]), abs=1.0)
    assert jan(kumamoto) - jan(sendai) > 3


def test_counter_weather_and_key_for_the_shiga_office(tmp_path):
    a = SC.ensure_counter(7, city_code="25000", out_dir=tmp_path, start="2024-04-01", end="2025-03-31")
    b = SC.ensure_counter(7, city_code="43100", out_dir=tmp_path, start="2024-04-01", end="2025-03-31")
    assert a != b and a.name.endswith("_wx47761") and b.name.endswith("_wx47819")
    w = jma.read_jma_daily(a / SC.FILES["weather"], nature="synthetic")
    assert len(w) == 365 and "彦根" in (a / SC.FILES["weather"]).read_bytes().decode("cp932").splitlines()[2]
    assert read_truth(a)["weather_station"]["name"] == "彦根"
    assert np.isfinite(w["precip_mm"]).all()
