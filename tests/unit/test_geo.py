"""Any municipality in Japan by code or name: national boundaries, designated cities, prefectures,
projections (official plane zone, distances within 0.1 % for all 1,906 features), inside-city check,
synthetic districts."""

import re

import numpy as np
import pyproj
import pytest
import shapely

from ebpm_analysis import geo
from ebpm_analysis.errors import ParameterError


def test_national_file_has_every_feature():
    f = geo._boundaries().features
    assert len(f) == 1906
    assert (f["code"] == "").sum() == 4 and set(f.loc[f["code"] == "", "name"]) == {"所属未定地"}
    assert shapely.is_valid(f.geometry.to_numpy()).all()  # the two invalid rings are repaired
    areas = geo.load_areas()
    assert len(areas) == 1902 and areas["code"].is_unique and areas["code"].str.fullmatch(r"\d{5}").all()
    assert areas["pref_code"].nunique() == 47 and (areas["pref_code"] == areas["code"].str[:2]).all()


def test_kumamoto_wards():
    c = geo.load_city("43100")
    assert c["code"].tolist() == ["43101", "43102", "43103", "43104", "43105"]
    assert c["name"].tolist() == ["中央区", "東区", "西区", "南区", "北区"]
    assert c.attrs == {"city_code": "43100", "city_name": "熊本市", "kind": "designated_city", "has_wards": True}
    area = geo.to_plane(c, geo.plane_crs("43100")).area.sum() / 1e6
    assert 380 < area < 410  # Kumamoto City ≈ 390 km²


def test_other_city_by_code():
    y = geo.load_city("43202")
    assert len(y) == 1 and y.attrs["city_name"] == "八代市" and not y.attrs["has_wards"]


@pytest.mark.parametrize("query, code, name, kind", [
    ("船橋市", "12204", "船橋市", "municipality"),
    ("富山市", "16201", "富山市", "municipality"),
    ("１６２０１", "16201", "富山市", "municipality"),        # full-width digits
    ("162019", "16201", "富山市", "municipality"),          # 6 digits with the JIS check digit
    ("東京都府中市", "13206", "府中市", "municipality"),
    ("広島県府中市", "34208", "府中市", "municipality"),
    ("足立区", "13121", "足立区", "municipality"),          # a Tokyo special ward is a municipality
    ("13121", "13121", "足立区", "municipality"),
    ("仙台市", "04100", "仙台市", "designated_city"),
    ("仙台市青葉区", "04101", "仙台市青葉区", "ward"),
    ("札幌市", "01100", "札幌市", "designated_city"),       # wards 01101–01110
    ("川崎市", "14130", "川崎市", "designated_city"),       # code ending 30
    ("浜松市", "22130", "浜松市", "designated_city"),
    ("滋賀県", "25000", "滋賀県", "prefecture"),
    ("16000", "16000", "富山県", "prefecture"),
    ("阿蘇郡小国町", "43424", "小国町", "municipality"),   # 小国町 alone is ambiguous (山形県)
])
def test_resolve_by_code_and_name(query, code, name, kind):
    r = geo.resolve_city(query)
    assert (r.code, r.name, r.kind) == (code, name, kind)
    assert geo.city_code(query) == code and geo.city_name(query) == name


def test_designated_city_is_the_union_of_its_wards():
    sendai = geo.load_city("04100")
    assert sendai["code"].tolist() == ["04101", "04102", "04103", "04104", "04105"]
    assert sendai.attrs["has_wards"] and sendai.attrs["city_name"] == "仙台市"
    sapporo = geo.resolve_city("01100")
    assert sapporo.member_codes == tuple(f"011{i:02d}" for i in range(1, 11))
    osaka = geo.resolve_city("大阪市")
    assert osaka.code == "27100" and len(osaka.member_codes) == 24
    assert len(geo.load_city("熊本市中央区")) == 1
    u = geo.city_geometry("04100", geo.plane_crs("04100"))
    assert u.area / 1e6 == pytest.approx(786, rel=0.03)  # 仙台市 786 km²


def test_prefecture_is_the_union_of_its_municipalities():
    shiga = geo.load_city("25000")
    assert shiga.attrs["kind"] == "prefecture" and shiga.attrs["city_name"] == "滋賀県"
    assert len(shiga) == 19 and shiga["code"].str.startswith("25").all()
    area = geo.city_geometry("25000", geo.plane_crs("25000")).area / 1e6
    assert area == pytest.approx(4017, rel=0.03)  # 滋賀県 4,017 km² (琵琶湖を含む)
    tokyo_wards = [c for c in geo.resolve_city("13000").member_codes if "13101" <= c <= "13123"]
    assert len(tokyo_wards) == 23


def test_ambiguous_name_lists_candidates_with_prefecture():
    with pytest.raises(ParameterError, match=r"13206 府中市（東京都）, 34208 府中市（広島県）"):
        geo.resolve_city("府中市")
    with pytest.raises(ParameterError, match=r"10 areas.*43101 熊本市中央区（熊本県）"):
        geo.resolve_city("中央区")


@pytest.mark.parametrize("bad, pattern", [
    (43100, "city_code.*5-digit"),
    ("4310", "city_code.*5-digit"),
    ("99999", "no prefecture '99'"),
    ("43199", "nearest: 43202 熊本県八代市"),
    ("162018", "check digit"),
    ("富山", "close names: .*富山市（16201）"),
    ("船橋", "船橋市（12204）"),
])
def test_unknown_code_or_name_gives_nearest(bad, pattern):
    with pytest.raises(ParameterError, match=pattern):
        geo.resolve_city(bad)


@pytest.mark.parametrize("city, zone", [
    ("43100", 2), ("熊本市中央区", 2), ("16201", 7), ("12204", 9), ("13121", 9), ("27203", 6), ("04100", 10),
    ("25000", 6), ("42201", 1),                             # 長崎市
    ("46201", 2), ("46505", 2),                             # 鹿児島市, 屋久島町
    ("46222", 1), ("46529", 1), ("46303", 1),               # 奄美市, 喜界町 (130°13'E rule), 十島村
    ("13401", 9),                                           # 八丈町 (north of 28°N)
    ("47201", 15), ("47382", 16), ("47357", 17),            # 那覇市, 与那国町, 南大東村
    ("01202", 11), ("01233", 11), ("01584", 11),            # 函館市, 伊達市, 洞爺湖町 (胆振の虻田郡)
    ("01205", 12), ("01100", 12), ("01219", 12), ("01555", 12),  # 室蘭市, 札幌市, 紋別市, 遠軽町 (紋別郡)
    ("01208", 13), ("01211", 13), ("01207", 13), ("01543", 13),  # 北見市, 網走市, 帯広市, 美幌町
])
def test_official_zone(city, zone):
    p = geo.projection(city)
    assert p.official_zone == zone
    if p.zone is not None:
        roman = geo.ROMAN[zone - 1]
        assert p.crs == f"EPSG:{6668 + zone}" and p.label == f"平面直角座標系 第{roman}系（EPSG:{6668 + zone}）"


def test_zone_table_agrees_with_pyproj_descriptions():
    """Every prefecture that pyproj's area-of-use text names for a zone is in that zone in our table."""
    romaji = ["Hokkaido", "Aomori", "Iwate", "Miyagi", "Akita", "Yamagata", "Fukushima", "Ibaraki", "Tochigi",
              "Gunma", "Saitama", "Chiba", "Tokyo", "Kanagawa", "Niigata", "Toyama", "Ishikawa", "Fukui",
              "Yamanashi", "Nagano", "Gifu", "Shizuoka", "Aichi", "Mie", "Shiga", "Kyoto", "Osaka", "Hyogo",
              "Nara", "Wakayama", "Tottori", "Shimane", "Okayama", "Hiroshima", "Yamaguchi", "Tokushima",
              "Kagawa", "Ehime", "Kochi", "Fukuoka", "Saga", "Nagasaki", "Kumamoto", "Oita", "Miyazaki",
              "Kagoshima", "Okinawa"]
    split = {"東京都", "沖縄県", "鹿児島県", "北海道"}
    named = set()
    for z in range(1, 20):
        text = pyproj.CRS.from_epsg(6668 + z).area_of_use.name
        for m in re.finditer(r"([A-Z][a-z]+)-(?:ken|fu|to)\b", text):
            pref = geo.PREFECTURES[romaji.index(m.group(1))]
            if pref not in split:
                assert geo._PREF_ZONE[pref] == z, (pref, z, text)
                named.add(pref)
    # EPSG's text for zone IX names only 東京都; the 告示 adds these seven, which our table puts in IX.
    unnamed = set(geo.PREFECTURES) - named - split
    assert unnamed == {"福島県", "茨城県", "栃木県", "群馬県", "埼玉県", "千葉県", "神奈川県"}
    assert all(geo._PREF_ZONE[p] == 9 for p in unnamed)


def test_every_feature_gets_a_projection_and_distances_agree_within_0_1_percent():
    """All 1,906 features: projected distances across each feature's extent (diagonals, midlines and the
    four edges of its lon/lat box, and 200 random pairs of its own vertices) agree with GRS80 geodesic
    distances within 0.1 %."""
    fp = geo.feature_projections()
    assert len(fp) == 1906 and fp["proj_crs"].notna().all() and fp["official_zone"].between(1, 19).all()
    assert set(fp["official_zone"]) == set(range(1, 18))  # XVIII (沖ノ鳥島) and XIX (南鳥島) are parts of 小笠原村
    plane = fp["proj_crs"].str.fullmatch(r"EPSG:66(69|[78]\d)")
    # Only 小笠原村 (to 南鳥島) and two 北方領土 villages east of zone XIII's area of use need a fallback.
    assert sorted(fp.loc[~plane, "code"]) == ["01699", "01700", "13421"]
    geod = pyproj.Geod(ellps="GRS80")
    rng = np.random.default_rng(0)
    worst = 0.0
    for crs, grp in fp.groupby("proj_crs"):
        b = grp.geometry.bounds
        w, s, e, n = (b[c].to_numpy() for c in ("minx", "miny", "maxx", "maxy"))
        pairs = [(w, s, e, n), (w, n, e, s), (w, (s + n) / 2, e, (s + n) / 2), ((w + e) / 2, s, (w + e) / 2, n),
                 (w, s, w, n), (e, s, e, n), (w, s, e, s), (w, n, e, n)]
        for geom in grp.geometry:  # vertex pairs of the polygon itself
            xy = shapely.get_coordinates(geom)
            i, j = rng.integers(0, len(xy), (2, 200))
            keep = i != j
            pairs.append((xy[i[keep], 0], xy[i[keep], 1], xy[j[keep], 0], xy[j[keep], 1]))
        x1, y1, x2, y2 = (np.concatenate([p[k] for p in pairs]) for k in range(4))
        tr = pyproj.Transformer.from_crs(geo.GEO_CRS, crs, always_xy=True)
        px1, py1 = tr.transform(x1, y1)
        px2, py2 = tr.transform(x2, y2)
        _, _, dg = geod.inv(x1, y1, x2, y2)
        ok = dg > 1.0
        rel = np.abs(np.hypot(px2 - px1, py2 - py1)[ok] / dg[ok] - 1)
        worst = max(worst, rel.max())
        assert rel.max() < 0.001, (crs, rel.max())
    assert worst > 0.0003  # the check is not vacuous: some features use most of the allowance


def test_projection_override_and_fallback_labels():
    p = geo.projection("16201", zone="II")
    assert p.crs == "EPSG:6670" and p.official_zone == 7 and p.max_scale_error > geo.projection("16201").max_scale_error
    assert geo.projection("16201", zone="EPSG:6675").zone == 7 and geo.projection("16201", zone=7).zone == 7
    with pytest.raises(ParameterError, match="plane_crs"):
        geo.projection("16201", zone="XX")
    ogasawara = geo.projection("13421")
    assert ogasawara.label.startswith("ランベルト正角円錐図法") and ogasawara.max_scale_error < 0.001
    assert geo.projection("01700").label == "UTM 第55帯（JGD2011、EPSG:6692）"


def test_inside_city_and_distance():
    lon = np.array([130.7417, 130.0, np.nan, 137.2137])   # 熊本市役所, 東シナ海, missing, 富山市役所
    lat = np.array([32.8031, 32.0, np.nan, 36.6959])
    assert geo.inside_city(lon, lat, "43100").tolist() == [True, False, False, False]
    assert geo.inside_city(lon, lat, "富山市").tolist() == [False, False, False, True]
    d = geo.distance_to_city_m(lon, lat, "43100")
    assert d[0] == 0 and np.isnan(d[2]) and 50_000 < d[1] < 150_000
    # A point 100 m outside the border counts only with a tolerance.
    c = geo.city_geometry("43202", geo.plane_crs("43202"))
    xy = shapely.get_coordinates(c)
    west = xy[np.argmin(xy[:, 0])]  # the westmost vertex: every point of the city is at least 100 m east
    outside = shapely.Point(west[0] - 100, west[1])
    lonlat = pyproj.Transformer.from_crs(geo.plane_crs("43202"), geo.GEO_CRS, always_xy=True).transform(
        outside.x, outside.y)
    dist = geo.distance_to_city_m([lonlat[0]], [lonlat[1]], "43202")[0]
    assert 99 < dist < 101
    assert not geo.inside_city([lonlat[0]], [lonlat[1]], "43202")[0]
    assert geo.inside_city([lonlat[0]], [lonlat[1]], "43202", tolerance_m=150)[0]


def test_plane_projection_city_hall():
    import geopandas as gpd
    from shapely.geometry import Point
    p = gpd.GeoSeries([Point(130.7417, 32.8031)], crs=geo.GEO_CRS).to_crs(geo.plane_crs("43100")).iloc[0]
    assert abs(p.x - -24190) < 50 and abs(p.y - -21805) < 50


def test_partition_covers_wards_exactly_and_is_deterministic():
    c = geo.load_city("43100")
    crs = geo.plane_crs("43100")
    d = geo.partition_into_districts(c, 60, seed=3, plane_crs=crs)
    assert len(d) == 60 and d["district_code"].is_unique
    assert d.groupby("ward_code").size().min() >= 2
    wards = geo.to_plane(c, crs).set_index("code").area
    got = d.assign(a=d.area).groupby("ward_code")["a"].sum()
    assert ((got - wards).abs() / wards).max() < 1e-6
    d2 = geo.partition_into_districts(c, 60, seed=3, plane_crs=crs)
    assert d2.geometry.geom_equals_exact(d.geometry, tolerance=0).all()
