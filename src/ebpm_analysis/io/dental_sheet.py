"""Preschool dental checkup sheets (園児歯科健診票) → tidy tables.

A city's checkup sheet is *wide*: one row per child per examination, one column per
primary tooth, each cell holding the examiner's symbol (docs/sources.md#dental-notation):

=========  ==========================  ==================
symbol     meaning                     ``status``
=========  ==========================  ==================
``/``      健全歯（現在歯）              ``sound``
``C``      未処置歯 (``Ch`` 高度う蝕)    ``decayed``
``〇``     処置歯 (``○`` accepted)       ``filled``
``×``      要注意乳歯                    ``caution``
``CO``     要観察歯                      ``observation``
blank      未萌出・記載なし               ``absent``
=========  ==========================  ==================

Tooth columns are named either by FDI code (``51``–``55``, ``61``–``65``, ``71``–``75``,
``81``–``85``) or by the Japanese quadrant + Zsigmondy letter (``右上A`` … ``左下E``;
右上A = 51, 左下E = 75). Full-width letters and digits are normalised (NFKC).

Required exam columns: ``施設コード``, ``児童番号``, ``健診日``, ``年齢``. Optional:
``性別`` and the questionnaire columns ``仕上げみがき`` (毎日/ときどき/していない),
``間食回数`` (snacks per day, 0–10) and ``フッ化物`` (あり/なし).

:func:`read_checkup_sheets` returns a :class:`DentalSheets` with

- ``exams``: one row per child per exam (``child_id``, ``exam_date``, ``facility_code``, ``age``,
  questionnaire columns, and per-exam ``d``, ``f``, ``dmft``, ``caries``),
- ``teeth``: the long table (``child_id``, ``exam_date``, ``tooth`` FDI int, ``status``).

:func:`read_facilities` reads the facility list (``施設コード``, ``施設名``, ``施設種別``,
``区コード``, ``区名``, ``緯度``, ``経度``).
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from ..errors import InputFileError
from .common import (
    check_codes,
    check_encoding,
    check_latlon,
    check_range,
    city_member_codes,
    input_path,
    plausible_range,
    raise_bad_rows,
    read_csv,
    require_rows,
    resolve_encoding,
)

# --- notation ------------------------------------------------------------------------------
QUADRANTS = {5: "右上", 6: "左上", 7: "左下", 8: "右下"}
LETTERS = "ABCDE"
FDI_TEETH: tuple[int, ...] = tuple(q * 10 + i for q in (5, 6, 7, 8) for i in range(1, 6))
JP_TO_FDI: dict[str, int] = {f"{QUADRANTS[q]}{LETTERS[i - 1]}": q * 10 + i for q in (5, 6, 7, 8) for i in range(1, 6)}
FDI_TO_JP: dict[int, str] = {v: k for k, v in JP_TO_FDI.items()}
TOOTH_KIND = {1: "乳中切歯", 2: "乳側切歯", 3: "乳犬歯", 4: "第一乳臼歯", 5: "第二乳臼歯"}

SYMBOLS: dict[str, str] = {
    "/": "sound", "／": "sound",
    "C": "decayed", "CH": "decayed",
    "〇": "filled", "○": "filled", "◯": "filled",
    "×": "caution", "✕": "caution",
    "CO": "observation",
    "": "absent",
}
STATUSES = ("sound", "decayed", "filled", "caution", "observation", "absent")

EXAM_COLUMNS = {"施設コード": "facility_code", "児童番号": "child_id", "健診日": "exam_date", "年齢": "age"}
OPTIONAL_COLUMNS = {"性別": "sex", "仕上げみがき": "finishing_brushing", "間食回数": "snacks_per_day",
                    "フッ化物": "fluoride"}
BRUSHING_LEVELS = ("毎日", "ときどき", "していない")
FLUORIDE_LEVELS = ("あり", "なし")
SEX_LEVELS = ("男", "女")
# plausible ranges: one definition, in the data catalog (shown by 00_data_catalog)
AGE_RANGE = tuple(int(x) for x in plausible_range("dental-checkup-sheets", "年齢"))
SNACK_RANGE = tuple(int(x) for x in plausible_range("dental-checkup-sheets", "間食回数"))

FACILITY_COLUMNS = {"施設コード": "facility_code", "施設名": "facility_name", "施設種別": "facility_type",
                    "区コード": "ward_code", "区名": "ward_name", "緯度": "lat", "経度": "lon"}
FACILITY_TYPES = ("保育所", "幼稚園", "認定こども園")

_FDI_LIKE = re.compile(r"^\d{2}$")
_JP_LIKE = re.compile(r"^(右上|左上|右下|左下)([A-Za-z])$")


def tooth_label(fdi: int, naming: str = "fdi") -> str:
    """Column label of a tooth in the chosen naming ('fdi' → '51', 'japanese' → '右上A')."""
    if naming == "fdi":
        return str(fdi)
    if naming == "japanese":
        return FDI_TO_JP[fdi]
    raise ValueError(f"naming must be 'fdi' or 'japanese', not {naming!r}")


@dataclass
class DentalSheets:
    exams: pd.DataFrame
    teeth: pd.DataFrame
    naming: str
    files: list[str]


def _nfkc(s: pd.Series) -> pd.Series:
    return s.fillna("").astype(str).map(lambda v: unicodedata.normalize("NFKC", v).strip())


def _tooth_map(columns: Iterable[str], path) -> tuple[dict[str, int], str]:
    """Map tooth columns → FDI code; raise on impossible teeth, mixed or incomplete namings."""
    fdi_cols, jp_cols = {}, {}
    for col in columns:
        norm = unicodedata.normalize("NFKC", str(col)).strip()
        if _FDI_LIKE.match(norm):
            code = int(norm)
            if code not in FDI_TEETH:
                kind = ("a permanent tooth" if 11 <= code <= 48 and code % 10 <= 8 and code // 10 in (1, 2, 3, 4)
                        else "not a tooth code")
                raise InputFileError(path, f"impossible tooth {norm!r} ({kind})", column=str(col),
                                     expected="primary teeth only: FDI 51–55, 61–65, 71–75, 81–85")
            if code in fdi_cols.values():
                raise InputFileError(path, f"tooth {code} appears twice", column=str(col),
                                     expected="one column per tooth")
            fdi_cols[col] = code
        else:
            m = _JP_LIKE.match(norm)
            if m:
                key = m.group(1) + m.group(2).upper()
                if key not in JP_TO_FDI:
                    raise InputFileError(path, f"impossible tooth {norm!r} (primary teeth are A–E)", column=str(col),
                                         expected="右上A…右上E, 左上A…左上E, 右下A…右下E, 左下A…左下E")
                code = JP_TO_FDI[key]
                if code in jp_cols.values():
                    raise InputFileError(path, f"tooth {key} appears twice", column=str(col),
                                         expected="one column per tooth")
                jp_cols[col] = code
    if fdi_cols and jp_cols:
        raise InputFileError(path, "tooth columns mix FDI codes and Japanese names "
                             f"({list(fdi_cols)[0]!r} and {list(jp_cols)[0]!r})",
                             expected="one naming per file: either 51…85 or 右上A…左下E")
    mapping, naming = (fdi_cols, "fdi") if fdi_cols else (jp_cols, "japanese")
    if not mapping:
        raise InputFileError(path, "no tooth columns found",
                             expected="20 primary-tooth columns named 51…85 (FDI) or 右上A…左下E")
    missing = [t for t in FDI_TEETH if t not in mapping.values()]
    if missing:
        names = [tooth_label(t, naming) for t in missing]
        raise InputFileError(path, f"missing tooth column(s) {', '.join(names)}",
                             expected="all 20 primary teeth (blank cells for teeth not erupted)")
    return mapping, naming


def _read_one(path: Path, encoding: str, nature: str) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    enc = resolve_encoding(path, encoding)
    check_encoding(path, enc)
    raw = read_csv(path, encoding=enc, required=list(EXAM_COLUMNS), nature=nature, dataset="dental-checkup-sheets")
    require_rows(raw, path, what="one row per child per examination")
    mapping, naming = _tooth_map(raw.columns, path)

    exams = pd.DataFrame({new: _nfkc(raw[old]) for old, new in EXAM_COLUMNS.items()})
    for old, new in EXAM_COLUMNS.items():
        blank = exams[new] == ""
        if blank.any():
            raise_bad_rows(path, blank, "blank values", column=old, values=exams[new],
                           expected="a value in every row")
    # dates
    d = pd.to_datetime(exams["exam_date"].str.replace("/", "-", regex=False), format="%Y-%m-%d", errors="coerce")
    if d.isna().any():
        raise_bad_rows(path, d.isna(), "unreadable dates", column="健診日", values=exams["exam_date"],
                       expected="dates as YYYY-MM-DD or YYYY/MM/DD")
    check_range(d, path, dataset="dental-checkup-sheets", column="健診日")
    exams["exam_date"] = d
    # age
    age = pd.to_numeric(exams["age"], errors="coerce")
    bad = age.isna() | (age % 1 != 0) | (age < AGE_RANGE[0]) | (age > AGE_RANGE[1])
    if bad.any():
        raise_bad_rows(path, bad, "impossible ages", column="年齢", values=exams["age"],
                       expected=f"whole years {AGE_RANGE[0]}–{AGE_RANGE[1]} (preschool children)")
    exams["age"] = age.astype("int64")
    # optional questionnaire columns
    for old, new in OPTIONAL_COLUMNS.items():
        if old not in raw.columns:
            continue
        v = _nfkc(raw[old])
        if new == "snacks_per_day":
            num = pd.to_numeric(v.where(v != ""), errors="coerce")
            bad = (v != "") & (num.isna() | (num % 1 != 0) | (num < SNACK_RANGE[0]) | (num > SNACK_RANGE[1]))
            if bad.any():
                raise_bad_rows(path, bad, "impossible values", column=old, values=v,
                               expected=f"whole numbers {SNACK_RANGE[0]}–{SNACK_RANGE[1]} (snacks per day), "
                                        "blank if not answered")
            exams[new] = num.astype("Int64")
        else:
            levels = {"finishing_brushing": BRUSHING_LEVELS, "fluoride": FLUORIDE_LEVELS, "sex": SEX_LEVELS}[new]
            bad = (v != "") & ~v.isin(levels)
            if bad.any():
                raise_bad_rows(path, bad, "unknown answers", column=old, values=v,
                               expected=f"one of {', '.join(levels)} or blank")
            exams[new] = pd.Categorical(v.where(v != ""), categories=list(levels))
    # duplicate exams (same child, same date)
    dup = exams.duplicated(["child_id", "exam_date"], keep=False)
    if dup.any():
        raise_bad_rows(path, dup, "duplicate exams (same child and 健診日)", column="児童番号",
                       values=exams["child_id"],
                       expected="one row per child per examination date")

    # teeth: wide → long, symbols → status
    cols = list(mapping)
    sym = raw[cols].apply(_nfkc)
    sym = sym.apply(lambda s: s.str.upper())
    known = sym.isin(list(SYMBOLS))
    if not known.to_numpy().all():
        col_idx = int(np.flatnonzero(~known.to_numpy().all(axis=0))[0])
        col = cols[col_idx]
        raise_bad_rows(path, ~known[col], "unknown symbols", column=str(col), values=raw[col].fillna(""),
                       expected="one of / (健全), C (未処置), 〇 (処置), × (要注意乳歯), CO (要観察), or blank")
    status = sym.replace(SYMBOLS)
    status.columns = [mapping[c] for c in cols]
    status = status[list(FDI_TEETH)]
    status.index = pd.MultiIndex.from_arrays([exams["child_id"], exams["exam_date"]])
    teeth = status.stack().rename("status").reset_index()
    teeth.columns = ["child_id", "exam_date", "tooth", "status"]
    teeth["tooth"] = teeth["tooth"].astype("int64")
    teeth["status"] = pd.Categorical(teeth["status"], categories=list(STATUSES))
    exams["source_file"] = path.name
    exams["d"] = (status == "decayed").sum(axis=1).to_numpy()
    exams["f"] = (status == "filled").sum(axis=1).to_numpy()
    exams["dmft"] = exams["d"] + exams["f"]
    exams["caries"] = exams["dmft"] > 0
    exams["present_teeth"] = (status != "absent").sum(axis=1).to_numpy()
    return exams, teeth, naming


def read_checkup_sheets(paths: str | os.PathLike | Iterable[str | os.PathLike], *, encoding: str = "auto",
                        nature: str = "real", pattern: str = "*.csv") -> DentalSheets:
    """Read one or more wide checkup sheets (a file, a directory of ``pattern`` files, or a list).

    ``encoding`` is ``"auto"`` (utf-8 with/without BOM, else cp932), ``"cp932"`` or ``"utf-8"``.
    Duplicate exams across files are an error too.
    """
    if isinstance(paths, (str, os.PathLike)):
        p = input_path(paths, expected="a checkup sheet CSV or a folder of them (check checkups_path)", kind="any")
        files = sorted(p.glob(pattern)) if p.is_dir() else [p]
        if p.is_dir() and not files:
            raise InputFileError(p, f"no files matching {pattern!r} in the directory",
                                 expected="checkup sheets as CSV files")
    else:
        files = [input_path(x, expected="an existing checkup sheet (check the path parameter)") for x in paths]
    exams_l, teeth_l, namings = [], [], set()
    for f in files:
        e, t, n = _read_one(f, encoding, nature)
        exams_l.append(e)
        teeth_l.append(t)
        namings.add(n)
    exams = pd.concat(exams_l, ignore_index=True)
    teeth = pd.concat(teeth_l, ignore_index=True)
    if len(files) > 1:
        dup = exams.duplicated(["child_id", "exam_date"], keep=False)
        if dup.any():
            where = exams.loc[dup, "source_file"].unique().tolist()
            raise InputFileError(files[0].parent, f"duplicate exams across files {where[:4]}", column="児童番号",
                                 rows=exams.loc[dup, "child_id"].unique().tolist(),
                                 expected="each child's examination in one file only")
    teeth["status"] = pd.Categorical(teeth["status"], categories=list(STATUSES))
    return DentalSheets(exams=exams, teeth=teeth, naming="+".join(sorted(namings)),
                        files=[str(f) for f in files])


def read_facilities(path: str | os.PathLike, *, encoding: str = "auto", nature: str = "real",
                    city=None) -> pd.DataFrame:
    """Facility list: code, synthetic/real name, type (保育所/幼稚園/認定こども園), ward, lat/lon (WGS84/JGD2011).

    ``city`` (a code or name, or the GeoDataFrame of :func:`ebpm_analysis.geo.load_city`): every 区コード must
    be one of the city's wards in the boundary file (the city's own code where it has no wards)."""
    path = input_path(path, expected="the facility list CSV (check facilities_path)")
    enc = resolve_encoding(path, encoding)
    df = read_csv(path, encoding=enc, required=list(FACILITY_COLUMNS), numeric=["緯度", "経度"], nature=nature,
                  dataset="dental-facilities")
    require_rows(df, path, what="one row per facility after the header")
    out = df[list(FACILITY_COLUMNS)].rename(columns=FACILITY_COLUMNS)
    for c in ("facility_code", "facility_name", "facility_type", "ward_code", "ward_name"):
        out[c] = _nfkc(out[c])
    bad = ~out["facility_type"].isin(FACILITY_TYPES)
    if bad.any():
        raise_bad_rows(path, bad, "unknown facility types", column="施設種別", values=out["facility_type"],
                       expected=f"one of {', '.join(FACILITY_TYPES)}")
    check_latlon(out["lat"], out["lon"], path)
    if city is not None:
        check_codes(out["ward_code"], city_member_codes(city), path, column="区コード",
                    what="a ward (or the city) code of the boundary file")
    dup = out["facility_code"].duplicated(keep=False)
    if dup.any():
        raise_bad_rows(path, dup, "duplicate facility codes", column="施設コード", values=out["facility_code"],
                       expected="one row per facility")
    return out
