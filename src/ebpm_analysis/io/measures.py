"""A city's register of road-safety measures (施策台帳): where and from when a measure applies.

One row per area (UTF-8 with or without BOM, or cp932)::

    施策ID,施策名,区域種別,区域コード,状態,開始年月
    Z30-001,生活道路対策（ゾーン30型）,500mメッシュ,493015134,実施,2020-07
    Z30-002,生活道路対策（ゾーン30型）,500mメッシュ,493015241,候補（未実施）,
    CITY-001,市全域の交通安全対策,市区町村,43100,実施,2020-10

- 区域種別: ``500mメッシュ`` (JIS X 0410 4次メッシュ, 9 digits) or ``市区町村`` (5-digit 標準地域コード).
- 状態: ``実施`` (implemented; 開始年月 required, ``YYYY-MM``) or ``候補（未実施）`` (a candidate site not
  treated: the comparison group; 開始年月 empty).

Tidy frame: ``measure_id``, ``measure``, ``area_type`` (``mesh500`` / ``municipality``), ``area_code`` (text),
``implemented`` (bool), ``start`` (``YYYY-MM`` or ``""``). Any bad row is an error naming the file,
column and rows.
"""

from __future__ import annotations

import os

import pandas as pd

from ..errors import InputFileError
from .common import bad_rows, detect_encoding, handle_duplicates, input_path, read_csv, require_rows

COLUMNS = ["施策ID", "施策名", "区域種別", "区域コード", "状態", "開始年月"]
AREA_TYPES = {"500mメッシュ": "mesh500", "市区町村": "municipality"}
STATUS = {"実施": True, "候補（未実施）": False}


def _known_area(code: str) -> bool:
    """A municipality, ward, designated city or prefecture of the boundary file."""
    from .. import geo
    from ..errors import EbpmError
    try:
        geo.resolve_city(code)
        return True
    except EbpmError:
        return False


def read_measures(path: str | os.PathLike, *, nature: str = "real") -> pd.DataFrame:
    """Read and check a measure register (see the module docstring)."""
    path = input_path(path, expected="a measure register CSV (施策台帳)")
    df = read_csv(path, encoding=detect_encoding(path), required=COLUMNS, nature=nature, dataset="measures")
    require_rows(df, path, what="one row per area of a measure (施策台帳)")
    df = df.fillna("")
    for c in COLUMNS:
        df[c] = df[c].astype(str).str.strip()
    bad = ~df["区域種別"].isin(list(AREA_TYPES))
    if bad.any():
        raise InputFileError(path, f"unknown 区域種別 {sorted(df.loc[bad, '区域種別'].unique())[:3]}",
                             column="区域種別",
                             rows=bad_rows(bad), expected=f"one of {list(AREA_TYPES)}")
    code_ok = df["区域コード"].str.fullmatch(r"\d{9}").where(df["区域種別"] == "500mメッシュ",
                                                         df["区域コード"].str.fullmatch(r"\d{5}"))
    if (~code_ok).any():
        raise InputFileError(path, "bad area code", column="区域コード", rows=bad_rows(~code_ok),
                             expected="9 digits for a 500mメッシュ (JIS X 0410 4次メッシュ), 5 for a 市区町村")
    bad = ~df["状態"].isin(list(STATUS))
    if bad.any():
        raise InputFileError(path, f"unknown 状態 {sorted(df.loc[bad, '状態'].unique())[:3]}", column="状態",
                             rows=bad_rows(bad), expected=f"one of {list(STATUS)}")
    implemented = df["状態"].map(STATUS).astype(bool)
    month_ok = df["開始年月"].str.fullmatch(r"(19|20)\d\d-(0[1-9]|1[0-2])")
    bad = (implemented & ~month_ok) | (~implemented & (df["開始年月"] != ""))
    if bad.any():
        raise InputFileError(path, "開始年月 must be YYYY-MM for 実施 and empty for 候補（未実施）", column="開始年月",
                             rows=bad_rows(bad), expected="e.g. 2020-07")
    bad = implemented & (df["開始年月"] > f"{pd.Timestamp.today().year + 1}-12")
    if bad.any():
        raise InputFileError(path, f"開始年月 in the future {df.loc[bad, '開始年月'].unique()[:3].tolist()}",
                             column="開始年月", rows=bad_rows(bad),
                             expected="the month a measure started (実施), not later than next year")
    bad = (df["区域種別"] == "市区町村") & ~df["区域コード"].map(_known_area)
    if bad.any():
        raise InputFileError(path, f"unknown 市区町村 code(s) {df.loc[bad, '区域コード'].unique()[:3].tolist()}",
                             column="区域コード", rows=bad_rows(bad),
                             expected="a 標準地域コード of the boundary file (e.g. 43100 熊本市)")
    handle_duplicates(df, path, key=["施策ID"], what="measure rows")
    dup = df.duplicated(["区域種別", "区域コード"], keep=False)
    if dup.any():
        raise InputFileError(path, "an area is listed twice", column="区域コード", rows=bad_rows(dup),
                             expected="one row per area")
    return pd.DataFrame({"measure_id": df["施策ID"], "measure": df["施策名"],
                         "area_type": df["区域種別"].map(AREA_TYPES), "area_code": df["区域コード"],
                         "implemented": implemented, "start": df["開始年月"]})
