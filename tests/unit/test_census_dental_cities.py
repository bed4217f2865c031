"""01 and 02 for any municipality: generated districts and facilities lie inside the city (islands and
multi-part polygons included) in the city's own plane zone, sizes follow the population, cache keys
follow the boundary file and the generator, and entry points write nothing about 熊本市 for another city."""

import shutil

import numpy as np
import pytest
import shapely

from ebpm_analysis import geo, lookups
from ebpm_analysis.cases import census as cc
from ebpm_analysis.cases import dental as cd
from ebpm_analysis.io import census_microdata as cm
from ebpm_analysis.io import dental_sheet, estat
from ebpm_analysis.synth import census as sc
from ebpm_analysis.synth import dental as sd
from ebpm_analysis.synth import set_key

# zone VI 豊中市, IX 足立区 (a special ward), 札幌市 (designated city, 10 wards, a UTM/conic projection in
# 北海道), XVI 与那国町 (an island), 小笠原村 (20 islands over 13° of longitude, a fitted conic)
CITIES = ["27203", "13121", "01100", "47382", "13421"]


@pytest.mark.parametrize("code", CITIES)
def test_census_districts_cover_the_city_and_nothing_else(code):
    gen = sc.generate_census(code, n_employed=2000, seed=3)
    d = gen["districts"]
    crs = geo.plane_crs(code)
    assert d.crs == crs
    city = geo.city_geometry(code, crs)
    assert shapely.within(d.geometry.to_numpy(), city.buffer(1.0)).all()
    # every part of the city, islands included, belongs to some district
    assert d.union_all().area == pytest.approx(city.area, rel=1e-6)
    members = set(geo.resolve_city(code).member_codes)
    assert set(d["ward_code"]) <= members and d["district_code"].str[:5].isin(members).all()
    persons = gen["persons"]
    assert len(persons) == 2000 and set(persons["常住地コード"]) <= set(d["district_code"])
    assert not (set(gen["truth"]["employment_centres"]) & members)  # neighbours are other municipalities


@pytest.mark.parametrize("code", CITIES)
def test_dental_facilities_lie_inside_the_city(code):
    gen = sd.generate(seed=4, city_code=code, n_facilities=20, n_children=1000)
    fac = gen["facilities"]
    assert len(fac) == 20 and fac.crs == geo.plane_crs(code)
    assert geo.inside_city(fac["lon"], fac["lat"], code, tolerance_m=1.0).all()
    assert set(fac["ward_code"]) <= set(geo.resolve_city(code).member_codes)


def test_every_island_can_host_districts():
    # 小笠原村: a district on each part means no island is left out of the partition
    d = sc.synthetic_districts("13421", 8, seed=1)
    parts = shapely.get_parts(geo.city_geometry("13421", geo.plane_crs("13421")))
    assert len(parts) >= 10
    covered = [shapely.intersects(p.representative_point(), d.union_all()) for p in parts]
    assert all(covered)


def test_neighbours_are_derived_from_the_boundary_file():
    n = geo.neighbours("13121")
    assert {"川口市", "草加市", "葛飾区"} <= set(n["label"]) and "足立区" not in set(n["label"])
    assert (n["distance_m"] <= 200).all()
    island = geo.neighbours("47382")  # 与那国町 adjoins nothing: the three nearest across the sea
    assert len(island) == 3 and "石垣市" in set(island["label"]) and (island["distance_m"] > 50_000).all()
    assert "大阪市淀川区" in set(geo.neighbours("27203")["label"])  # wards named with their city


def test_population_given_bundled_or_assumed():
    given = lookups.city_population("27203", 401558)
    assert (given.value, given.assumed) == (401558, False)
    assert given.sentence("豊中市") == "豊中市の人口は401,558人です（与えられた値）。"
    kumamoto = lookups.city_population("43100")  # the bundled IPSS file, 2020
    assert (kumamoto.value, kumamoto.assumed) == (726499, False)
    town = lookups.city_population("47382")
    assert (town.value, town.assumed) == (12_000, True)
    assert town.sentence("与那国町").startswith("与那国町の人口は与えられていないため、12,000人と仮定しました（")
    assert "町の典型値 12,000人" in town.how
    sapporo = lookups.city_population("01100")
    assert sapporo.value == 10 * 150_000 and "× 10" in sapporo.how
    assert lookups.city_population("13121").value == 350_000
    with pytest.raises(Exception, match="population_total"):
        lookups.city_population("27203", -5)


def test_sizes_scale_with_the_population():
    s = sc.sizes("27203", 401558)
    assert s["n_employed"] == round(0.46 * 401558) and s["n_districts"] == 40
    assert sc.sizes("01100", 1_973_395)["n_districts"] == 100  # capped
    assert sc.sizes("47382", 1_700)["n_districts"] == 2  # 782 employed: never under 300 a district
    small = sc.sizes("01100", None, 3000)
    assert small["n_districts"] == 20  # two per ward even when small
    d = sd.sizes("13121", 695043)
    assert d["n_children"] == round(0.027 * 695043) and d["n_facilities"] == round(d["n_children"] / 118)
    tiny = sd.sizes("13421", 2_900)
    assert tiny["n_facilities"] == 20 and tiny["n_children"] == 300  # the generator's minimum


def test_cache_key_follows_boundaries_and_generator(tmp_path, monkeypatch):
    spec = {"city_code": "27203", "seed": 1}
    key = set_key("27203", spec, sc.__name__, geo.__name__)
    assert key == set_key("27203", dict(spec), sc.__name__, geo.__name__)
    assert key != set_key("27203", {**spec, "seed": 2}, sc.__name__, geo.__name__)
    assert key != set_key("27203", spec, sd.__name__, geo.__name__)  # another generator's source
    other = tmp_path / "N03.topojson"
    shutil.copy(geo.BOUNDARIES_FILE, other)
    with open(other, "a") as f:
        f.write(" ")
    monkeypatch.setattr(geo, "BOUNDARIES_FILE", other)
    assert key != set_key("27203", spec, sc.__name__, geo.__name__)


def _text(frames) -> str:
    return "\n".join(df.to_csv() for df in frames)


def test_census_entry_point_for_another_city_names_only_that_city(tmp_path):
    folder = sc.ensure_census(5, city_code="27203", n_employed=3000, out_dir=tmp_path)
    areas = estat.read_small_area_boundaries(folder / sc.FILES["boundaries"], nature="synthetic")
    assert areas.crs == geo.plane_crs("27203") == "EPSG:6674"
    persons = cm.read_census_microdata(folder / sc.FILES["microdata"], city_code="27203", nature="synthetic")
    res = cc.analyse_microdata(persons, areas, "27203", city=geo.load_city("27203"))
    assert res.city_name == "豊中市" and not res.has_wards
    text = _text(res.exports().values()) + "".join(res.names.values())
    assert "豊中市" in text and "熊本" not in text and "中央区" not in text


def test_dental_entry_point_for_another_city_names_only_that_city(tmp_path):
    folder = sd.ensure_dental(5, city_code="13121", n_facilities=20, n_children=1500, out_dir=tmp_path)
    sheets = dental_sheet.read_checkup_sheets(folder / sd.FILES["checkups"], nature="synthetic")
    fac = dental_sheet.read_facilities(folder / sd.FILES["facilities"], nature="synthetic")
    res = cd.analyse_sheets(sheets, fac, k_max=4, hotspot_k=5, permutations=99, seed=1)
    assert res.points.crs == geo.plane_crs("13121") == "EPSG:6677"
    assert set(res.by_ward["ward_name"]) == {"足立区"}
    text = _text(res.exports().values()) + _text([res.priority, res.facilities.drop(columns="geometry",
                                                                                     errors="ignore")])
    assert "足立区" in text and "熊本" not in text
    xy = np.column_stack([res.points.geometry.x, res.points.geometry.y])
    city = geo.city_geometry("13121", res.points.crs)
    assert shapely.contains_xy(city.buffer(1.0), xy[:, 0], xy[:, 1]).all()


def test_designated_city_records_are_read_for_every_ward(tmp_path):
    # 札幌市 01100: residences in 01101–01110 (清田区 01110 included) belong to the city
    folder = sc.ensure_census(2, city_code="01100", n_employed=3000, out_dir=tmp_path)
    persons = cm.read_census_microdata(folder / sc.FILES["microdata"], city_code="01100", nature="synthetic")
    assert set(persons["ward_code"]) == set(geo.resolve_city("01100").member_codes)
    assert "01110" in set(persons["ward_code"])


def test_sizes_say_where_they_come_from():
    assert sc.sizes("27203", 401558)["how"] == (
        "就業者 184,717人（人口×0.46）・40地区（人口10,000人に1地区、8～100地区、1地区の就業者はおおむね300人以上）")
    assert sc.sizes("01100", None, 3000)["how"].startswith("就業者 3,000人（指定値）・20地区（")
    assert sd.sizes("13421")["how"] == "20施設（最少の20施設）・受診児 300人（1施設15人の下限）"
    assert sd.sizes("13121", 695043)["how"] == "159施設（受診児118人に1施設）・受診児 18,766人（人口×2.7%）"
