"""Loader for the police accident records (本票): real GeoPackage, both CSV layouts, bad input."""

from __future__ import annotations

import math
import sqlite3

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from ebpm_analysis import geo, paths
from ebpm_analysis.errors import InputFileError, ParameterError
from ebpm_analysis.io import npa_accidents as na

GPKG = na.GPKG_FILE
LAYER = "都道府県コード_93"
FIXTURE_2022 = paths.PROJECT_ROOT / "tests" / "fixtures" / "probe" / "honhyo_2022plus_sample.csv"
KUMAMOTO_CITY = ["101", "102", "103", "104", "105"]


def _metres(lat1, lon1, lat2, lon2):
    r = 6_371_000.0
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * r * np.arcsin(np.sqrt(a))


@pytest.fixture(scope="module")
def gpkg_all():
    return na.read_accidents_gpkg(GPKG, pref_code="93")


@pytest.fixture(scope="module")
def raw_rows():
    return na.read_gpkg_raw(GPKG)


def _direct(sql):
    con = sqlite3.connect(GPKG)
    try:
        return dict(con.execute(sql).fetchall())
    finally:
        con.close()


# --------------------------------------------------------------------------- real data totals
def test_gpkg_total_equals_source_rows(gpkg_all):
    n = _direct(f'select 1, count(*) from "{LAYER}"')[1]
    assert n == 10444
    assert len(gpkg_all) == n
    assert na.excluded_report(gpkg_all)["n_excluded"] == 0


def test_gpkg_totals_per_year_match_direct_count(gpkg_all):
    direct = _direct(f'select "発生日時　　年", count(*) from "{LAYER}" group by 1')
    loaded = gpkg_all.groupby("year").size().to_dict()
    assert loaded == direct
    assert loaded[2019] == direct[2019] and sum(loaded.values()) == 10444


def test_city_totals_per_ward_match_direct_count():
    df = na.read_accidents_gpkg(GPKG, pref_code="93", municipality_codes=KUMAMOTO_CITY)
    direct = _direct(f'select "市区町村コード", count(*) from "{LAYER}" '
                     'where "市区町村コード" between 101 and 105 group by 1')
    assert len(df) == sum(direct.values()) == 5248
    loaded = df.groupby("municipality_code").size()
    assert {int(k): v for k, v in loaded.items()} == direct
    per_ward_year = df.groupby(["city_code", "year"]).size()
    direct_wy = _direct(
        f'select "市区町村コード" || \'-\' || "発生日時　　年", count(*) from "{LAYER}" '
        f'where "市区町村コード" between 101 and 105 group by 1')
    assert {f"{int(c[2:])}-{y}": v for (c, y), v in per_ward_year.items()} == direct_wy


def test_ward_codes_agree_with_ward_polygons():
    """市区町村コード 101–105 checked against the ward polygons, not assumed (docs/sources.md#npa-codes)."""
    df = na.read_accidents_gpkg(GPKG, municipality_codes=KUMAMOTO_CITY)
    wards = geo.load_city("43100")
    j = gpd.sjoin(geo.points_frame(df), wards[["code", "geometry"]], how="left")
    agree = (j["city_code"] == j["code"]).groupby(j["city_code"]).mean()
    assert set(agree.index) == {"43101", "43102", "43103", "43104", "43105"}
    assert (agree > 0.9).all(), agree


def test_hand_decoded_coordinate_within_one_metre(gpkg_all):
    # fid 866238: 緯度 324030617 = 32°40′30.617″, 経度 1310934621 = 131°09′34.621″
    lat_hand = 32 + 40 / 60 + 30.617 / 3600
    lon_hand = 131 + 9 / 60 + 34.621 / 3600
    row = gpkg_all.loc[gpkg_all["source_row"] == 866238].iloc[0]
    assert _metres(lat_hand, lon_hand, row["lat"], row["lon"]) < 1.0
    assert abs(lat_hand - 32.6751713889) < 1e-9


def test_decoded_coordinates_match_gpkg_geometry(gpkg_all):
    g = gpd.read_file(GPKG, layer=LAYER)
    merged = gpkg_all.merge(pd.DataFrame({"source_row": g["fid"] if "fid" in g else g.index + 1,
                                          "gx": g.geometry.x, "gy": g.geometry.y}), on="source_row", how="left")
    if merged["gx"].isna().all():  # pyogrio may not expose fid as a column
        merged["gx"], merged["gy"] = g.geometry.x.to_numpy(), g.geometry.y.to_numpy()
    d = _metres(merged["lat"], merged["lon"], merged["gy"], merged["gx"])
    assert np.nanmax(d) < 1.0


def test_codes_stay_zero_padded_strings(gpkg_all):
    assert gpkg_all["police_code"].str.len().eq(3).all()
    assert gpkg_all["accident_type_code"].isin(["01", "21", "41", "61"]).all()
    assert gpkg_all["road_shape_code"].str.len().eq(2).all()
    assert gpkg_all["report_no"].str.len().eq(4).all()
    assert set(gpkg_all.loc[gpkg_all["municipality_code"].isin(KUMAMOTO_CITY), "police_name"]) >= {"熊本中央", "熊本南",
                                                                                                   "熊本東"}


def test_translation_uses_code_tables(gpkg_all):
    assert set(gpkg_all["severity"]) == {"死亡", "負傷"}
    fatal = gpkg_all[gpkg_all["severity_code"] == "1"]
    assert (fatal["deaths"] > 0).all()
    assert (gpkg_all.loc[gpkg_all["day_night_code"].str[0] == "2", "is_night"]).all()
    assert set(gpkg_all["weekday"]) == set("日月火水木金土")


@pytest.mark.parametrize("name", sorted(na.TRANSLATED))
def test_every_code_in_table_translates(tmp_path, raw_rows, name):
    col, file = na.TRANSLATED[name]
    table = na.code_table(file)
    base = raw_rows.iloc[[0] * len(table)].reset_index(drop=True)
    base[col] = list(table)
    p = na.to_honhyo_csv(base, tmp_path / "honhyo_2020.csv")
    df = na.read_honhyo_csv(p)
    assert df[f"{name}_code"].tolist() == list(table)
    assert df[name].tolist() == [table[c] for c in table]


# --------------------------------------------------------------------------- CSV layouts
def test_csv_2019_layout_equals_gpkg(tmp_path, raw_rows, gpkg_all):
    sub = raw_rows.iloc[:300]
    p = na.to_honhyo_csv(sub, tmp_path / "honhyo_2020.csv", layout="2019-2021", encoding="cp932")
    assert p.read_bytes().decode("cp932").startswith("資料区分,都道府県コード")
    df = na.read_honhyo_csv(p, encoding="cp932")
    assert df["layout"].eq("2019-2021").all()
    ref = gpkg_all.iloc[:300].reset_index(drop=True)
    cols = [c for c in na.TIDY_COLUMNS if c not in ("source_row", "layout")]
    pd.testing.assert_frame_equal(df[cols], ref[cols], check_dtype=False)


def test_csv_2022_layout_fixture():
    df = na.read_honhyo_csv(FIXTURE_2022)
    assert len(df) == 3 and df["layout"].eq("2022+").all()
    aichi = df.iloc[0]
    assert aichi["pref_code"] == "54" and aichi["city_code"] == "23102"  # 愛知 NPA 54 → JIS 23
    assert aichi["occurred_at"] == pd.Timestamp("2024-06-21 16:10")
    assert _metres(35 + 11 / 60 + 18.407 / 3600, 136 + 56 / 60 + 6.543 / 3600, aichi["lat"], aichi["lon"]) < 1.0
    assert (aichi["deaths"], aichi["injuries"]) == (0, 1)
    assert aichi["accident_type"] == "車両相互" and aichi["road_shape"] == "単路－その他"
    k = na.read_honhyo_csv(FIXTURE_2022, pref_code="93", municipality_codes=["101"])
    assert len(k) == 1 and k.iloc[0]["police_name"] == "熊本中央" and k.iloc[0]["severity"] == "死亡"
    assert k.iloc[0]["accident_type"] == "人対車両" and k.iloc[0]["weather"] == "雨"


def test_layout_detection():
    assert na.detect_layout(na.COLUMNS_2019) == "2019-2021"
    assert na.detect_layout(na.COLUMNS_2022) == "2022+"
    assert na.detect_layout(na.COLUMNS_2019[:-1]) == ""


# --------------------------------------------------------------------------- bad input
def test_wrong_encoding_names_file(tmp_path, raw_rows):
    p = na.to_honhyo_csv(raw_rows.iloc[:3], tmp_path / "honhyo_utf8.csv", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"honhyo_utf8\.csv.*not valid cp932.*utf-8"):
        na.read_honhyo_csv(p, encoding="cp932")
    assert len(na.read_honhyo_csv(p, encoding="utf-8")) == 3  # the other encoding, when declared, works


def test_missing_column_named(tmp_path, raw_rows):
    sub = raw_rows.iloc[:3].drop(columns=["天候"])
    p = tmp_path / "honhyo_bad.csv"
    sub.to_csv(p, index=False, encoding="cp932")
    with pytest.raises(InputFileError, match=r"honhyo_bad\.csv, column '天候'.*neither"):
        na.read_honhyo_csv(p)


def test_unknown_code_names_column_and_row(tmp_path, raw_rows):
    sub = raw_rows.iloc[:4].copy()
    sub.iloc[2, sub.columns.get_loc("天候")] = "9"
    p = na.to_honhyo_csv(sub, tmp_path / "honhyo_code.csv")
    with pytest.raises(InputFileError, match=r"column '天候': unknown code\(s\) \['9'\].*rows 4"):
        na.read_honhyo_csv(p)


def test_impossible_date_rejected(tmp_path, raw_rows):
    sub = raw_rows.iloc[:2].copy()
    sub.iloc[1, sub.columns.get_loc(na.MONTH)] = "13"
    p = na.to_honhyo_csv(sub, tmp_path / "honhyo_date.csv")
    with pytest.raises(InputFileError, match=r"impossible date/time.*rows 3"):
        na.read_honhyo_csv(p)


def test_impossible_coordinates_reported_and_excluded(tmp_path, raw_rows):
    sub = raw_rows.iloc[:6].copy()
    sub.iloc[1, sub.columns.get_loc(na.LAT)] = "000000000"    # 0°N: outside Japan
    sub.iloc[2, sub.columns.get_loc(na.LON)] = "13109"        # too short to decode
    sub.iloc[3, sub.columns.get_loc(na.LAT)] = "327530617"    # 75 minutes: impossible
    p = na.to_honhyo_csv(sub, tmp_path / "honhyo_coord.csv")
    df = na.read_honhyo_csv(p)
    rep = na.excluded_report(df)
    assert len(df) == 3
    assert rep["n_excluded"] == 3 and rep["n_selected"] == 6
    assert rep["by_reason"] == {"undecodable": 2, "outside_japan": 1}
    assert rep["source_rows"] == [3, 4, 5]


def test_decode_dms_vectorised():
    lat = na.decode_lat(["324030617", "32403061", "32x030617", None])
    assert abs(lat[0] - (32 + 40 / 60 + 30.617 / 3600)) < 1e-12
    assert np.isnan(lat[1:]).all()
    lon = na.decode_lon(["1365606543"])
    assert math.isclose(lon[0], 136 + 56 / 60 + 6.543 / 3600)


def test_bad_parameters():
    with pytest.raises(ParameterError, match="municipality_codes"):
        na.read_accidents_gpkg(GPKG, municipality_codes=[101])
    with pytest.raises(ParameterError, match="pref_code"):
        na.read_accidents_gpkg(GPKG, pref_code=93)
    with pytest.raises(InputFileError, match="unknown file type"):
        na.load_accidents("data/raw/npa-accidents-kumamoto/README.md")


def test_not_a_geopackage(tmp_path):
    p = tmp_path / "x.gpkg"
    p.write_text("hello")
    with pytest.raises(InputFileError, match=r"x\.gpkg: not a GeoPackage"):
        na.read_accidents_gpkg(p)
