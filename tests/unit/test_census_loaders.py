"""Loaders for Case 1: e-Stat API CSV, 統計GIS small-area CSV, census microdata (real layouts/encodings)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ebpm_analysis.errors import InputFileError
from ebpm_analysis.io import census_microdata as cm
from ebpm_analysis.io import estat

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "census"
API = FIX / "api_commuting_utf8.csv"
API_NOHEAD = FIX / "api_commuting_noheader_cp932.csv"
GIS = FIX / "gis_commuting_cp932.csv"
MICRO_CP932 = FIX / "microdata_small_cp932.csv"
MICRO_UTF8 = FIX / "microdata_small_utf8.csv"


# --- e-Stat API CSV ---------------------------------------------------------------------------

def test_api_header_block_metadata_and_values():
    df = estat.read_estat_api_csv(API)
    assert df.attrs["meta"]["TABLE_INF"] == ["0003454500"]
    assert df.attrs["meta"]["TITLE"][1].startswith("従業上の地位")
    assert {"cat01_code", "cat01_name", "cat02_code", "area_code", "area_name", "time_code", "value",
            "value_flag"} <= set(df.columns)
    assert df["cat01_code"].tolist()[:2] == ["000", "000"]          # codes stay text
    assert df.loc[0, "value"] == 1234.0                               # thousands separator
    assert df.loc[11, "value"] == 0.0 and df.loc[11, "value_flag"] == ""  # a real 0 (padded) stays 0


@pytest.mark.parametrize("row,symbol", [(5, "-"), (6, "…"), (7, "x"), (8, "X"), (9, "*"), (10, "...")])
def test_api_every_symbol_is_missing_with_flag_never_zero(row, symbol):
    df = estat.read_estat_api_csv(API)
    assert np.isnan(df.loc[row, "value"])
    assert df.loc[row, "value_flag"] == symbol
    assert estat.SYMBOLS[symbol] in {"none", "not_available", "confidential", "suppressed"}


def test_api_without_header_block_in_cp932_reads_the_same():
    a = estat.read_estat_api_csv(API)
    b = estat.read_estat_api_csv(API_NOHEAD)
    assert b.attrs["meta"] == {}
    pd.testing.assert_series_equal(a["value"], b["value"])
    assert a["value_flag"].tolist() == b["value_flag"].tolist()


def test_api_wrong_encoding_names_file():
    with pytest.raises(InputFileError) as e:
        estat.read_estat_api_csv(API_NOHEAD, encoding="utf-8")
    assert API_NOHEAD.name in str(e.value) and "cp932" in str(e.value)


def test_api_unknown_symbol_names_column_and_row(tmp_path):
    p = tmp_path / "bad.csv"
    p.write_text(API.read_text(encoding="utf-8").replace('"人","200"', '"人","2OO"'), encoding="utf-8")
    with pytest.raises(InputFileError) as e:
        estat.read_estat_api_csv(p)
    msg = str(e.value)
    assert "bad.csv" in msg and "'value'" in msg and "2OO" in msg and "rows 20" in msg


def test_api_missing_value_column(tmp_path):
    p = tmp_path / "novalue.csv"
    p.write_text(API.read_text(encoding="utf-8").replace('"unit","value"', '"unit","val"'), encoding="utf-8")
    with pytest.raises(InputFileError, match="value"):
        estat.read_estat_api_csv(p)


def test_api_not_an_estat_file(tmp_path):
    p = tmp_path / "other.csv"
    p.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(InputFileError, match='"VALUE"'):
        estat.read_estat_api_csv(p)


def test_commuting_api_table_maps_codes_and_rejects_unknown(tmp_path):
    t = estat.read_commuting_api_table(API)
    assert set(t["status"]) == {"0", "E"} and set(t["workplace"]) == {"0", "1", "2", "3", "4", "5", "9"}
    p = tmp_path / "badcode.csv"
    p.write_text(API.read_text(encoding="utf-8").replace('"100","雇用者","04"', '"777","謎","04"'), encoding="utf-8")
    with pytest.raises(InputFileError) as e:
        estat.read_commuting_api_table(p)
    assert "cat01_code" in str(e.value) and "777" in str(e.value)


# --- 統計GIS small-area CSV ---------------------------------------------------------------------

def test_gis_two_header_rows_padding_and_labels():
    df = estat.read_estat_gis_csv(GIS)
    assert df.attrs["labels"]["T000901002"] == "就業者_自宅"
    assert set(df["KEY_CODE"]) == {"43101", "431010001", "431010002", "431010003"}
    v = df.set_index(["KEY_CODE", "item_code"])["value"]
    assert v[("43101", "T000901001")] == 1000.0       # padded "  1000"
    assert v[("431010001", "T000901002")] == 60.0


def test_gis_symbols_missing_with_flag():
    df = estat.read_estat_gis_csv(GIS).set_index(["KEY_CODE", "item_code"])
    assert np.isnan(df.loc[("431010001", "T000901006"), "value"]) and df.loc[("431010001", "T000901006"),
                                                                             "value_flag"] == "x"
    assert np.isnan(df.loc[("431010002", "T000901006"), "value"]) and df.loc[("431010002", "T000901006"),
                                                                             "value_flag"] == "-"


def test_gis_merged_areas_no_double_counting():
    df = estat.read_estat_gis_csv(GIS)
    assert df.attrs["merged"] == {"431010003": "431010002"}
    src = df[df["KEY_CODE"] == "431010003"]
    assert src["value"].isna().all() and (src["merged_into"] == "431010002").all()
    tot = df[df["item_code"] == "T000901001"]
    small = tot[tot["HYOSYO"] == "2"]["value"].sum()      # NaN of the 秘匿元 is skipped
    assert small == tot[tot["HYOSYO"] == "1"]["value"].iloc[0] == 1000.0


def test_gis_source_row_with_numbers_is_still_not_double_counted(tmp_path):
    text = GIS.read_bytes().decode("cp932").replace(
        "2,431010002,,     *,     *,     *,     *,     *,     *,     *", "2,431010002,,50,5,20,15,8,1,1")
    p = tmp_path / "gis.csv"
    p.write_bytes(text.encode("cp932"))
    df = estat.read_estat_gis_csv(p)
    src = df[df["KEY_CODE"] == "431010003"]
    assert src["value"].isna().all() and (src["value_flag"] == "merged").all()


def test_gis_utf8_variant_reads_with_encoding_and_fails_as_cp932(tmp_path):
    p = tmp_path / "gis_utf8.csv"
    p.write_text(GIS.read_bytes().decode("cp932"), encoding="utf-8")
    assert len(estat.read_estat_gis_csv(p, encoding="utf-8")) == len(estat.read_estat_gis_csv(GIS))
    with pytest.raises(InputFileError) as e:
        estat.read_estat_gis_csv(p)  # default cp932
    assert "gis_utf8.csv" in str(e.value) and "utf-8" in str(e.value)


@pytest.mark.parametrize("old,new,column", [
    ("HTKSYORI,HTKSAKI", "HTKSYORX,HTKSAKI", "HTKSYORI"),
    ("431010003,2,熊本市中央区,中央区03,2,431010002", "431010003,2,熊本市中央区,中央区03,7,431010002", "HTKSYORI"),
    ("中央区03,2,431010002", "中央区03,2,439999999", "HTKSAKI"),
    ("431010001,2,熊本市中央区", "43101A001,2,熊本市中央区", "KEY_CODE"),
    ("  1000,   100", "  1000,   1O0", "T000901002"),
])
def test_gis_bad_input_names_column(tmp_path, old, new, column):
    text = GIS.read_bytes().decode("cp932")
    assert old in text
    p = tmp_path / "bad_gis.csv"
    p.write_bytes(text.replace(old, new, 1).encode("cp932"))
    with pytest.raises(InputFileError) as e:
        estat.read_estat_gis_csv(p)
    assert "bad_gis.csv" in str(e.value) and column in str(e.value)


def test_commuting_gis_unknown_label(tmp_path):
    text = GIS.read_bytes().decode("cp932").replace("就業者_他県", "就業者_海外")
    p = tmp_path / "label.csv"
    p.write_bytes(text.encode("cp932"))
    with pytest.raises(InputFileError) as e:
        estat.read_commuting_gis_table(p)
    assert "T000901006" in str(e.value) and "海外" in str(e.value)


def test_dash_as_zero_is_explicit():
    v = pd.Series([np.nan, np.nan, 3.0])
    f = pd.Series(["-", "x", ""])
    out = estat.dash_as_zero(v, f)
    assert out.iloc[0] == 0 and np.isnan(out.iloc[1]) and out.iloc[2] == 3


# --- census microdata ----------------------------------------------------------------------------

@pytest.mark.parametrize("path", [MICRO_CP932, MICRO_UTF8])
def test_microdata_both_encodings(path):
    df = cm.read_census_microdata(path, city_code="43100")
    assert list(df.columns) == ["area_code", "ward_code", "sex", "age_group", "status", "workplace", "industry"]
    assert len(df) == 9
    assert df["area_code"].iloc[0] == "431010001" and df["age_group"].iloc[0] == "05"
    assert df["industry"].isna().sum() == 1 and df["age_group"].isna().sum() == 1  # blanks allowed for non-keys


def _write(tmp_path, lines, enc="cp932"):
    p = tmp_path / "micro.csv"
    p.write_bytes(("\r\n".join(lines) + "\r\n").encode(enc))
    return p


def _lines():
    return MICRO_CP932.read_bytes().decode("cp932").splitlines()


@pytest.mark.parametrize("row,new,column", [
    (3, "431010002,43101,1,09,0,1,A", "従業上の地位"),       # unknown status code
    (4, "431020001,43102,2,04,7,6,A", "従業地"),             # unknown workplace code
    (5, "431020001,43102,3,07,1,4,E", "男女"),
    (6, "431020002,43102,1,08,2,5,Z", "産業大分類"),
    (2, "431010001,43101,2,06,3,,P", "従業地"),              # missing key
    (2, "431020001,43101,2,06,3,3,P", "常住地コード"),         # area not in ward
    (2, "431010001,4310,2,06,3,3,P", "常住市区町村コード"),
])
def test_microdata_bad_codes_name_column_and_row(tmp_path, row, new, column):
    lines = _lines()
    lines[row - 1] = new
    with pytest.raises(InputFileError) as e:
        cm.read_census_microdata(_write(tmp_path, lines))
    msg = str(e.value)
    assert "micro.csv" in msg and f"column '{column}'" in msg and f"rows {row}" in msg


def test_microdata_missing_column(tmp_path):
    lines = [ln.rsplit(",", 1)[0] for ln in _lines()]
    with pytest.raises(InputFileError, match="産業大分類"):
        cm.read_census_microdata(_write(tmp_path, lines))


def test_microdata_wrong_encoding(tmp_path):
    with pytest.raises(InputFileError) as e:
        cm.read_census_microdata(MICRO_CP932, encoding="utf-8")
    assert MICRO_CP932.name in str(e.value) and "cp932" in str(e.value)


def test_microdata_city_checks(tmp_path):
    with pytest.raises(InputFileError, match="outside city 43202"):
        cm.read_census_microdata(MICRO_CP932, city_code="43202")
    lines = ["常住地コード,常住市区町村コード,男女,年齢階級,従業上の地位,従業地,産業大分類",
             "432020001,43202,1,05,1,2,I", "432020001,43202,1,05,1,3,I"]
    with pytest.raises(InputFileError) as e:
        cm.read_census_microdata(_write(tmp_path, lines), city_code="43202")
    assert "自市内他区" in str(e.value) and "rows 3" in str(e.value)
