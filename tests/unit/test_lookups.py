"""Police codes, the records' check against the polygon, and the nearest JMA station — all derived
from the city's code (never typed by hand)."""

import pytest

from ebpm_analysis import lookups as L
from ebpm_analysis.errors import ParameterError
from ebpm_analysis.io import npa_accidents as na
from ebpm_analysis.io.jma import read_jma_normals, read_jma_stations

TOYAMA = "data/raw/npa-accidents-toyama/npa_accidents_2019-2021_pref50_toyama.gpkg"
KUMAMOTO = "data/raw/npa-accidents-kumamoto/npa_accidents_2019-2021_pref93_kumamoto.gpkg"


@pytest.mark.parametrize("city, pref, munis", [
    ("16201", "50", ("201",)),                                  # 富山 JIS 16 → police 50
    ("富山市", "50", ("201",)),
    ("13121", "30", ("121",)),                                  # 東京 13 → 30 (足立区)
    ("43100", "93", ("101", "102", "103", "104", "105")),      # 熊本市: its wards
    ("43202", "93", ("202",)),
    ("04100", "22", ("101", "102", "103", "104", "105")),      # 仙台市
    ("12204", "44", ("204",)),                                  # 船橋市
    ("27203", "62", ("203",)),                                  # 豊中市
    ("25000", "60", ()),                                        # 滋賀県: every municipality
    ("47382", "97", ("382",)),                                  # 与那国町
])
def test_police_area_from_the_code(city, pref, munis):
    a = L.police_area(city)
    assert (a.pref_code, a.municipality_codes) == (pref, munis)


def test_police_prefecture_codes_of_every_prefecture():
    codes = {p: L.police_pref_codes(f"{p:02d}") for p in range(1, 48)}
    assert codes[1] == ["10", "11", "12", "13", "14"]
    assert all(len(v) == 1 for p, v in codes.items() if p != 1)  # every other prefecture: exactly one
    assert len({v[0] for p, v in codes.items() if p != 1}) == 46
    assert codes[16] == ["50"] and codes[13] == ["30"] and codes[43] == ["93"] and codes[47] == ["97"]


@pytest.mark.parametrize("city, pref", [
    ("01100", "10"),   # 札幌市 (石狩: every named station is 札幌方面)
    ("01101", "10"),   # 札幌市中央区 (station 中央)
    ("01202", "11"),   # 函館市 (station 函館中央)
    ("01204", "12"),   # 旭川市
    ("01206", "13"),   # 釧路市
    ("01207", "13"),   # 帯広市 (十勝 is 釧路方面)
    ("01208", "14"),   # 北見市
    ("01228", "12"),   # 深川市: 空知 but 旭川方面 (station 深川)
    ("01210", "10"),   # 岩見沢市: 空知, 札幌方面 (station 岩見沢)
    ("01392", "11"),   # 寿都町: 後志 but 函館方面 (station 寿都)
    ("01203", "10"),   # 小樽市
])
def test_hokkaido_police_area_by_station_and_subprefecture(city, pref):
    assert L.police_area(city).pref_code == pref


def test_hokkaido_undecided_needs_an_override():
    with pytest.raises(ParameterError, match=r"accident_pref_code.*赤平市.*10 札幌, 11 函館"):
        L.police_area("01218")  # 赤平市: 空知's stations belong to two 方面
    with pytest.raises(ParameterError, match="five police areas"):
        L.police_area("01000")
    a = L.police_area("01218", pref_code="10")
    assert a.pref_code == "10" and a.municipality_codes == ("218",) and a.how == "指定（パラメータ）"
    with pytest.raises(ParameterError, match="not a police prefecture code"):
        L.police_area("16201", pref_code="16")
    # The undecided ones are exactly those of the two split 振興局.
    from ebpm_analysis import geo
    hk = geo.load_areas().query("pref_code == '01'")
    undecided = hk[~hk["code"].isin(L.hokkaido_areas())]
    assert set(undecided["subpref"]) == {"空知総合振興局", "後志総合振興局"} and len(undecided) == 32


def test_toyama_records_fall_inside_toyama_city():
    a = L.police_area("16201")
    df = na.load_accidents(TOYAMA, pref_code=a.pref_code, municipality_codes=list(a.municipality_codes))
    assert len(df) == 2911
    strict = L.check_police_records(df, "16201", tolerance_m=0)
    assert strict.n == 2911 and strict.share_inside > 0.999   # one record within the simplified border's slack
    check = L.check_police_records(df, "16201")
    assert check.n_inside == 2911 and check.outside_rows == ()
    # A wrong code is caught: 富山市's records are not in 高岡市.
    assert L.check_police_records(df, "16202").share_inside == 0


def test_kumamoto_records_fall_inside_kumamoto_city():
    a = L.police_area("熊本市")
    df = na.load_accidents(KUMAMOTO, pref_code=a.pref_code, municipality_codes=list(a.municipality_codes))
    check = L.check_police_records(df, "43100")
    assert check.n == 5248 and check.n_inside == 5248


@pytest.mark.parametrize("city, number, name", [
    ("43100", "47819", "熊本"), ("熊本市", "47819", "熊本"), ("04100", "47590", "仙台"), ("16201", "47607", "富山"),
    ("25000", "47761", "彦根"), ("13421", "47971", "父島"), ("47382", "47912", "与那国島"),
])
def test_nearest_station(city, number, name):
    s = L.nearest_station(city)
    assert (s.number, s.name) == (number, name)
    assert s.inside and s.distance_km == 0 and s.label == f"気象庁 {name}（{number}、市域内）"


def test_nearest_station_outside_the_city():
    s = L.nearest_station("12204")  # 船橋市 has no observatory: 千葉 is about 11 km from its border
    assert s.number == "47682" and not s.inside and 5 < s.distance_km < 15
    assert s.label == f"気象庁 千葉（47682、市域から{s.distance_km:.1f} km）"
    amedas = L.nearest_station("12204", observatory_only=False)
    assert len(amedas.number) == 4 and amedas.distance_km < s.distance_km


def test_national_normals():
    st = read_jma_stations()
    assert len(st) == 1673 and st["station_no"].is_unique and st["observatory"].sum() == 159
    toyama = read_jma_normals(station_no="47607")
    assert toyama["month"].tolist() == list(range(1, 13))
    assert toyama.loc[0, "temperature"] == 3.0 and toyama.loc[0, "precipitation"] == 259.0  # 富山 1月
    kumamoto_national = read_jma_normals(station_no="47819")
    kumamoto = read_jma_normals()
    cols = [c for c in kumamoto.columns if c in kumamoto_national.columns]
    assert kumamoto_national[cols].equals(kumamoto[cols])
