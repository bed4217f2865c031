"""Loader tests for the preschool dental checkup sheets (both tooth namings, every symbol,
both encodings, and each kind of bad input)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ebpm_analysis.errors import InputFileError
from ebpm_analysis.io import dental_sheet as ds
from ebpm_analysis.provenance import recorded_inputs

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "dental"
FDI_CP932 = FIX / "sheet_fdi_cp932.csv"
JP_UTF8 = FIX / "sheet_japanese_utf8.csv"
FAC = FIX / "facilities_cp932.csv"


def _status(sheets, child, tooth):
    t = sheets.teeth
    return t.loc[(t["child_id"] == child) & (t["tooth"] == tooth), "status"].item()


def _frame(naming="fdi", n=2, **overrides):
    """A small valid sheet as a DataFrame (all teeth sound)."""
    rows = []
    for i in range(n):
        r = {"施設コード": "F001", "児童番号": f"K{i:07d}", "健診日": "2026-05-12", "年齢": "4"}
        r.update({ds.tooth_label(t, naming): "/" for t in ds.FDI_TEETH})
        rows.append(r)
    df = pd.DataFrame(rows)
    for k, v in overrides.items():
        df[k] = v
    return df


def _write(df, path, encoding="utf-8"):
    df.to_csv(path, index=False, encoding=encoding)
    return path


# --- notation ------------------------------------------------------------------------------
def test_japanese_names_map_to_fdi():
    assert ds.JP_TO_FDI["右上A"] == 51
    assert ds.JP_TO_FDI["左上E"] == 65
    assert ds.JP_TO_FDI["左下E"] == 75
    assert ds.JP_TO_FDI["右下C"] == 83
    assert len(ds.JP_TO_FDI) == 20 and set(ds.JP_TO_FDI.values()) == set(ds.FDI_TEETH)


# --- both namings, both encodings, every symbol -----------------------------------------------
@pytest.mark.parametrize("path,naming", [(FDI_CP932, "fdi"), (JP_UTF8, "japanese")])
def test_reads_both_namings_to_the_same_long_table(path, naming):
    s = ds.read_checkup_sheets(path, nature="synthetic")
    assert s.naming == naming
    assert len(s.exams) == 4
    assert len(s.teeth) == 4 * 20
    assert set(s.teeth["tooth"]) == set(ds.FDI_TEETH)
    # child 1: C on 51 and 61, 〇 on 75, CO on 85
    assert _status(s, "K0000001", 51) == "decayed"
    assert _status(s, "K0000001", 61) == "decayed"
    assert _status(s, "K0000001", 75) == "filled"
    assert _status(s, "K0000001", 85) == "observation"
    assert _status(s, "K0000001", 52) == "sound"
    # child 2: blanks on lower central incisors, × on 52, Ch (高度う蝕) on 74
    assert _status(s, "K0000002", 71) == "absent"
    assert _status(s, "K0000002", 81) == "absent"
    assert _status(s, "K0000002", 52) == "caution"
    assert _status(s, "K0000002", 74) == "decayed"
    # child 4: ○ (U+25CB) = treated; full-width Ｃ and ＣＯ normalised
    assert _status(s, "K0000004", 55) == "filled"
    assert _status(s, "K0000004", 65) == "decayed"
    assert _status(s, "K0000004", 64) == "observation"
    e = s.exams.set_index("child_id")
    assert (e.loc["K0000001", ["d", "f", "dmft"]].tolist()) == [2, 1, 3]
    assert (e.loc["K0000002", ["d", "f", "dmft", "present_teeth"]].tolist()) == [1, 0, 1, 18]
    assert e.loc["K0000003", "dmft"] == 0 and not e.loc["K0000003", "caries"]
    assert e["caries"].sum() == 3
    assert e.loc["K0000001", "age"] == 3
    assert e.loc["K0000003", "exam_date"] == pd.Timestamp("2026-06-01")


def test_questionnaire_columns_parsed_with_blanks_as_missing():
    s = ds.read_checkup_sheets(FDI_CP932)
    e = s.exams.set_index("child_id")
    assert e.loc["K0000002", "finishing_brushing"] == "していない"
    assert pd.isna(e.loc["K0000004", "finishing_brushing"])
    assert e.loc["K0000002", "snacks_per_day"] == 3
    assert pd.isna(e.loc["K0000003", "snacks_per_day"])
    assert e.loc["K0000001", "fluoride"] == "あり"
    assert list(e["finishing_brushing"].cat.categories) == ["毎日", "ときどき", "していない"]


def test_questionnaire_columns_are_optional(tmp_path):
    p = _write(_frame(), tmp_path / "plain.csv")
    s = ds.read_checkup_sheets(p)
    assert "finishing_brushing" not in s.exams and "snacks_per_day" not in s.exams
    assert s.exams["dmft"].eq(0).all()


def test_every_status_in_the_symbol_table():
    assert set(ds.SYMBOLS.values()) == set(ds.STATUSES)


@pytest.mark.parametrize("encoding", ["cp932", "utf-8", "utf-8-sig"])
def test_auto_encoding(tmp_path, encoding):
    df = _frame("japanese")
    df.loc[0, "右上A"] = "〇"
    p = _write(df, tmp_path / f"s_{encoding}.csv", encoding)
    s = ds.read_checkup_sheets(p)
    assert _status(s, "K0000000", 51) == "filled"


def test_reads_a_directory_and_records_provenance(tmp_path):
    _write(_frame(n=2), tmp_path / "a.csv")
    df = _frame(n=2)
    df["児童番号"] = ["K9000001", "K9000002"]
    _write(df, tmp_path / "b.csv", "cp932")
    s = ds.read_checkup_sheets(tmp_path, nature="synthetic")
    assert len(s.exams) == 4 and sorted(s.exams["source_file"].unique()) == ["a.csv", "b.csv"]
    rec = [r for r in recorded_inputs() if r["path"].endswith(("a.csv", "b.csv"))]
    assert {r["nature"] for r in rec} == {"synthetic"}


# --- bad inputs ----------------------------------------------------------------------------
def test_wrong_encoding_names_the_file():
    with pytest.raises(InputFileError) as e:
        ds.read_checkup_sheets(FDI_CP932, encoding="utf-8")
    assert "sheet_fdi_cp932.csv" in str(e.value) and "cp932" in str(e.value)


def test_unknown_symbol_names_column_and_row(tmp_path):
    df = _frame(n=3)
    df.loc[2, "75"] = "△"
    with pytest.raises(InputFileError) as e:
        ds.read_checkup_sheets(_write(df, tmp_path / "bad.csv"))
    msg = str(e.value)
    assert "bad.csv" in msg and "column '75'" in msg and "unknown symbols" in msg and "rows 4" in msg and "△" in msg


@pytest.mark.parametrize("col,word", [("56", "impossible tooth"), ("16", "permanent"), ("右上F", "impossible tooth")])
def test_impossible_tooth_column(tmp_path, col, word):
    df = _frame("japanese" if col.startswith("右") else "fdi")
    df[col] = "/"
    with pytest.raises(InputFileError) as e:
        ds.read_checkup_sheets(_write(df, tmp_path / "teeth.csv"))
    assert word in str(e.value) and f"column '{col}'" in str(e.value)


def test_missing_tooth_column(tmp_path):
    df = _frame().drop(columns=["85"])
    with pytest.raises(InputFileError, match="missing tooth column.*85"):
        ds.read_checkup_sheets(_write(df, tmp_path / "m.csv"))


def test_mixed_namings_rejected(tmp_path):
    df = _frame()
    df["右上A"] = "/"
    with pytest.raises(InputFileError, match="mix FDI codes and Japanese names"):
        ds.read_checkup_sheets(_write(df, tmp_path / "mix.csv"))


def test_duplicate_exam_in_a_file(tmp_path):
    df = _frame(n=3)
    df.loc[2, "児童番号"] = df.loc[0, "児童番号"]
    with pytest.raises(InputFileError) as e:
        ds.read_checkup_sheets(_write(df, tmp_path / "dup.csv"))
    assert "duplicate exams" in str(e.value) and "column '児童番号'" in str(e.value) and "rows 2, 4" in str(e.value)


def test_same_child_on_another_date_is_not_a_duplicate(tmp_path):
    df = _frame(n=2)
    df.loc[1, "児童番号"] = df.loc[0, "児童番号"]
    df.loc[1, "健診日"] = "2026-11-10"
    assert len(ds.read_checkup_sheets(_write(df, tmp_path / "two.csv")).exams) == 2


def test_duplicate_exam_across_files(tmp_path):
    _write(_frame(n=2), tmp_path / "a.csv")
    _write(_frame(n=2), tmp_path / "b.csv")
    with pytest.raises(InputFileError, match="duplicate exams across files"):
        ds.read_checkup_sheets(tmp_path)


def test_missing_required_column(tmp_path):
    df = _frame().drop(columns=["児童番号"])
    with pytest.raises(InputFileError, match="missing column.*児童番号"):
        ds.read_checkup_sheets(_write(df, tmp_path / "nocol.csv"))


@pytest.mark.parametrize("col,value,word", [
    ("年齢", "12", "impossible ages"), ("年齢", "four", "impossible ages"), ("健診日", "5月12日", "unreadable dates"),
    ("仕上げみがき", "たまに", "unknown answers"), ("間食回数", "-1", "impossible values"),
    ("間食回数", "2.5", "impossible values"), ("フッ化物", "不明", "unknown answers"), ("施設コード", "",
                                                                              "blank values"),
])
def test_impossible_values_name_the_column(tmp_path, col, value, word):
    df = _frame(n=2)
    for c in ("仕上げみがき", "間食回数", "フッ化物"):
        df[c] = {"仕上げみがき": "毎日", "間食回数": "1", "フッ化物": "あり"}[c]
    df.loc[1, col] = value
    with pytest.raises(InputFileError) as e:
        ds.read_checkup_sheets(_write(df, tmp_path / "v.csv"))
    assert word in str(e.value) and f"column '{col}'" in str(e.value) and "rows 3" in str(e.value)


def test_missing_file():
    with pytest.raises(InputFileError, match="file not found"):
        ds.read_checkup_sheets(FIX / "nope.csv")


# --- facility list -------------------------------------------------------------------------
def test_read_facilities():
    f = ds.read_facilities(FAC)
    assert f["facility_code"].tolist() == ["F001", "F002"]
    assert f["facility_type"].tolist() == ["保育所", "幼稚園"]
    assert f["ward_code"].dtype == object or str(f["ward_code"].dtype).startswith("str")
    assert f["ward_code"].tolist() == ["43101", "43102"]
    assert f["lat"].tolist() == [32.80, 32.78]


@pytest.mark.parametrize("col,value,word", [("施設種別", "学童保育", "unknown facility types"),
                                            ("緯度", "132.8", "outside Japan"),
                                            ("施設コード", "F001", "duplicate facility codes")])
def test_bad_facility_list(tmp_path, col, value, word):
    df = pd.read_csv(FAC, encoding="cp932", dtype=str)
    df.loc[1, col] = value
    p = tmp_path / "fac.csv"
    df.to_csv(p, index=False, encoding="cp932")
    with pytest.raises(InputFileError) as e:
        ds.read_facilities(p)
    assert word in str(e.value) and "fac.csv" in str(e.value)
