"""e-Stat CSVs in their real layouts (docs/sources.md#estat-api-csv, #estat-gis-csv, #stat-symbols).

1. **API / DB download CSV** (``getSimpleStatsData``): a header block (``"RESULT"``, ``"STATUS"``,
   ``"TABLE_INF"``, ``"TITLE"`` …), a line ``"VALUE"``, then the data header
   ``tab_code,表章項目,cat01_code,<name>,…,area_code,地域,time_code,時間軸,unit,value,annotation``.
   Files saved with ``sectionHeaderFlg=2`` have no header block; both are read. UTF-8 (with or
   without BOM) or cp932.
2. **統計GIS small-area CSV** (小地域・メッシュ): cp932, two header rows (code row, then a Japanese
   label row), ``KEY_CODE, HYOSYO, CITYNAME, NAME, HTKSYORI, HTKSAKI, GASSAN`` then item columns.
   Values may be padded with spaces. ``HTKSYORI`` 0 = as is, 1 = 合算先 (receives merged areas listed
   in ``GASSAN``), 2 = 秘匿元 (its values are included in ``HTKSAKI``; shown as ``*``).

Special symbols ``-`` (none), ``…``/``...`` (not available), ``x``/``X`` (confidential), ``*``
(suppressed / merged) become **missing** (NaN) with the symbol kept in ``value_flag`` — never 0.
An analysis may treat ``-`` as a structural zero explicitly (see :func:`dash_as_zero`).
Merged areas: the values of a 秘匿元 row are always set missing (flag ``merged``) even if the file
shows numbers, so adding up small areas never double counts; ``merged_into`` names the receiving area.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputFileError
from ..provenance import record_input
from .common import (
    AUTO,
    bad_rows,
    check_encoding,
    handle_duplicates,
    input_path,
    reading,
    refuse_markup,
    require_rows,
    resolve_encoding,
)

SYMBOLS = {
    "-": "none",           # 該当なし
    "…": "not_available",  # 不詳・調査せず
    "...": "not_available",
    "x": "confidential",   # 秘匿
    "X": "confidential",
    "*": "suppressed",     # 秘匿（小地域: 合算先に含む）
    "***": "suppressed",
}
GIS_FIXED = ["KEY_CODE", "HYOSYO", "CITYNAME", "NAME", "HTKSYORI", "HTKSAKI", "GASSAN"]
GIS_REQUIRED = ["KEY_CODE", "HYOSYO", "HTKSYORI", "HTKSAKI", "GASSAN"]


def parse_values(raw: pd.Series, path, column: str, row_offset: int) -> tuple[pd.Series, pd.Series]:
    """Text values → (float with NaN for symbols/blank, flag = the symbol or '').

    Thousands separators and padding spaces are removed. Anything else non-numeric is an error
    naming the column and rows (``row_offset`` converts the index to 1-based file lines).
    """
    s = raw.astype("string").fillna("").str.strip().str.replace(",", "", regex=False)
    is_sym = s.isin(list(SYMBOLS))
    blank = s == ""
    num = pd.to_numeric(s.where(~is_sym & ~blank), errors="coerce")
    bad = ~is_sym & ~blank & num.isna()
    if bad.any():
        raise InputFileError(path, f"unknown value(s) {s[bad].unique()[:5].tolist()}", column=column,
                             rows=bad_rows(bad, first_line=row_offset),
                             expected="numbers or the symbols - … x X * (blank for none)")
    if (num < 0).any():
        bad = num < 0
        raise InputFileError(path, "negative counts", column=column,
                             rows=bad_rows(bad, first_line=row_offset),
                             expected="non-negative counts")
    flag = s.where(is_sym, "").astype(str)
    return num.astype(float), flag


def dash_as_zero(values: pd.Series, flags: pd.Series) -> pd.Series:
    """Values with ``-`` (none / not applicable) as 0 — an explicit analysis choice, never the loader's."""
    return values.where(flags != "-", 0.0)


def _decode(path: Path, encoding: str) -> tuple[str, str]:
    refuse_markup(path)
    enc = resolve_encoding(path, encoding, ("utf-8-sig", "cp932"))
    check_encoding(path, enc)
    return path.read_bytes().decode("utf-8-sig" if enc.startswith("utf-8") else enc), enc


# --- 1. API / DB download CSV -----------------------------------------------------------------

def read_estat_api_csv(path: str | os.PathLike, *, encoding: str = AUTO, codes: dict | None = None,
                       nature: str = "real", dataset: str | None = None) -> pd.DataFrame:
    """Tidy rows of an e-Stat API CSV.

    Columns: every ``*_code`` column (text), ``<x>_name`` for the label column that follows it
    (``area_name`` for 地域 …), ``unit``, ``value`` (float, NaN for symbols), ``value_flag`` and
    ``annotation``. ``attrs['meta']`` holds the header block (``TITLE``, ``TABLE_INF`` …) and
    ``attrs['labels']`` the original label-column names. ``codes`` = ``{column: allowed codes}``
    rejects unknown codes.
    """
    path = input_path(path, expected="an e-Stat CSV (check the path parameter)")
    text, _ = _decode(path, encoding)
    lines = text.splitlines()
    rows = list(csv.reader(lines[:200]))
    start = next((i for i, r in enumerate(rows) if r and r[0].strip() == "VALUE"), None)
    meta: dict[str, list[str]] = {}
    if start is None:
        first = [c.strip() for c in rows[0]] if rows else []
        if "value" not in first:
            raise InputFileError(path, 'no "VALUE" line and no data header with a "value" column',
                                 expected='the e-Stat API CSV: header block, a line "VALUE", then '
                                          '"tab_code",…,"value","annotation"')
        start = -1
    else:
        for r in rows[:start]:
            if r and r[0].strip():
                meta[r[0].strip()] = [c.strip() for c in r[1:]]
        if meta.get("STATUS", ["0"])[0] not in ("0", "1", "2"):
            raise InputFileError(path, f"API status {meta['STATUS']} ({meta.get('ERROR_MSG', [''])[0]})",
                                 expected="STATUS 0 (正常終了)")
    body = "\n".join(lines[start + 1:])
    try:
        df = pd.read_csv(io.StringIO(body), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise InputFileError(path, f"data part after VALUE is not a well-formed CSV ({e})",
                             expected="one data header row then comma-separated rows") from None
    df.columns = [str(c).strip() for c in df.columns]
    if "value" not in df.columns:
        raise InputFileError(path, "missing column 'value'", column="value",
                             expected=f"the data header to include value; found {', '.join(df.columns[:10])}")
    code_cols = [c for c in df.columns if c.endswith("_code")]
    if not code_cols:
        raise InputFileError(path, "no *_code columns",
                             expected="tab_code / cat01_code / area_code / time_code columns")
    rename, labels = {}, {}
    cols = list(df.columns)
    for c in code_cols:
        i = cols.index(c)
        nxt = cols[i + 1] if i + 1 < len(cols) else None
        if nxt is not None and not nxt.endswith("_code") and nxt not in ("unit", "value", "annotation"):
            rename[cols[i + 1]] = c[:-5] + "_name"
            labels[c[:-5] + "_name"] = cols[i + 1]
    df = df.rename(columns=rename)
    row_offset = (start + 1) + 2  # lines before the data header, the header itself, 1-based
    for c in code_cols:
        df[c] = df[c].str.strip()
        miss = df[c] == ""
        if miss.any():
            raise InputFileError(path, "missing codes", column=c, rows=bad_rows(miss, first_line=row_offset),
                                 expected="a code in every row")
    for c, allowed in (codes or {}).items():
        if c not in df.columns:
            raise InputFileError(path, f"missing column '{c}'", column=c, expected=f"a {c} column")
        bad = ~df[c].isin(list(allowed))
        if bad.any():
            raise InputFileError(path, f"unknown code(s) {df.loc[bad, c].unique()[:5].tolist()}", column=c,
                                 rows=bad_rows(bad, first_line=row_offset),
                                 expected=f"one of {', '.join(list(allowed)[:12])}")
    require_rows(df, path, what="data rows after the data header (an API call that matched nothing gives none)")
    df = handle_duplicates(df, path, key=code_cols, what="cells", first_line=row_offset)
    df["value"], df["value_flag"] = parse_values(df["value"], path, "value", row_offset)
    if "annotation" not in df.columns:
        df["annotation"] = ""
    df.attrs["meta"] = meta
    df.attrs["labels"] = labels
    record_input(path, nature=nature, dataset=dataset or "estat-api")
    return df


# --- 2. 統計GIS small-area CSV -----------------------------------------------------------------

def read_estat_gis_csv(path: str | os.PathLike, *, encoding: str = "cp932", nature: str = "real",
                       dataset: str | None = None) -> pd.DataFrame:
    """Tidy (long) rows of a 統計GIS small-area CSV: one row per area × item.

    Columns: ``KEY_CODE, HYOSYO, CITYNAME, NAME, HTKSYORI, HTKSAKI, GASSAN, item_code, item_label,
    value, value_flag, merged_into``. 秘匿元 rows (HTKSYORI 2) have ``value`` NaN and
    ``merged_into`` = HTKSAKI; ``attrs['merged']`` maps 秘匿元 → 合算先.
    """
    path = input_path(path, expected="an e-Stat CSV (check the path parameter)")
    text, _ = _decode(path, encoding)
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) < 2:
        raise InputFileError(path, "fewer than two lines", expected="a code row, a label row and data rows")
    head = [c.strip() for c in rows[0]]
    missing = [c for c in GIS_REQUIRED if c not in head]
    if missing:
        raise InputFileError(path, f"missing column(s) {missing}", column=missing[0],
                             expected="the 統計GIS code row KEY_CODE,HYOSYO,CITYNAME,NAME,HTKSYORI,HTKSAKI,GASSAN,T…")
    second = [c.strip() for c in rows[1]]
    has_labels = not (second and second[0].isdigit())
    data = rows[2:] if has_labels else rows[1:]
    first_line = 3 if has_labels else 2
    lens = {len(r) for r in data if r}
    if lens - {len(head)}:
        bad = bad_rows([bool(r) and len(r) != len(head) for r in data], first_line=first_line)
        raise InputFileError(path, "rows with a different number of fields than the code row", rows=bad,
                             expected=f"{len(head)} fields per row")
    df = pd.DataFrame([r for r in data if r], columns=head, dtype=str).apply(lambda s: s.str.strip())
    require_rows(df, path, what="one row per area after the code (and label) row")
    items = [c for c in head if c not in GIS_FIXED]
    if not items:
        raise InputFileError(path, "no item columns after GASSAN", expected="item columns such as T001082001")
    labels = dict(zip(head, second, strict=False)) if has_labels else {c: c for c in head}
    for c in GIS_FIXED:
        if c not in df.columns:
            df[c] = ""
    off = first_line
    bad = ~df["KEY_CODE"].str.fullmatch(r"\d{5,11}")
    if bad.any():
        raise InputFileError(path, f"malformed codes {df.loc[bad, 'KEY_CODE'].unique()[:3].tolist()}",
                             column="KEY_CODE",
                             rows=bad_rows(bad, first_line=off), expected="5–11 digit area codes")
    bad = ~df["HYOSYO"].str.fullmatch(r"\d")
    if bad.any():
        raise InputFileError(path, f"unknown level(s) {df.loc[bad, 'HYOSYO'].unique()[:3].tolist()}", column="HYOSYO",
                             rows=bad_rows(bad, first_line=off), expected="1 (municipality/ward), 2, 3, … (finer)")
    df["HTKSYORI"] = df["HTKSYORI"].replace("", "0")
    bad = ~df["HTKSYORI"].isin(["0", "1", "2"])
    if bad.any():
        raise InputFileError(path, f"unknown code(s) {df.loc[bad, 'HTKSYORI'].unique()[:3].tolist()}",
                             column="HTKSYORI",
                             rows=bad_rows(bad, first_line=off),
                             expected="0 (not adjusted), 1 (合算先), 2 (秘匿元, merged into HTKSAKI)")
    src = df["HTKSYORI"] == "2"
    bad = src & ~df["HTKSAKI"].isin(df["KEY_CODE"])
    if bad.any():
        raise InputFileError(path, f"HTKSAKI {df.loc[bad, 'HTKSAKI'].tolist()[:3]} not among KEY_CODE",
                             column="HTKSAKI",
                             rows=bad_rows(bad, first_line=off),
                             expected="the KEY_CODE of the receiving area (合算先) for every HTKSYORI 2 row")
    dup = df.duplicated(["KEY_CODE", "HYOSYO"], keep=False)
    if dup.any():
        raise InputFileError(path, "duplicate areas", column="KEY_CODE", rows=bad_rows(dup, first_line=off),
                             expected="one row per KEY_CODE and level")
    parts = []
    for c in items:
        v, f = parse_values(df[c], path, c, off)
        v = v.where(~src)
        f = f.where(~src | (f != ""), "merged")
        parts.append(pd.DataFrame({"row": np.arange(len(df)), "item_code": c, "item_label": labels.get(c, c),
                                   "value": v.to_numpy(), "value_flag": f.to_numpy()}))
    long = pd.concat(parts, ignore_index=True)
    fixed = df[GIS_FIXED].assign(merged_into=df["HTKSAKI"].where(src, ""))
    out = fixed.iloc[long["row"].to_numpy()].reset_index(drop=True)
    out = pd.concat([out, long.drop(columns="row")], axis=1)
    out.attrs["merged"] = dict(zip(df.loc[src, "KEY_CODE"], df.loc[src, "HTKSAKI"], strict=True))
    out.attrs["labels"] = {c: labels.get(c, c) for c in items}
    record_input(path, nature=nature, dataset=dataset or "estat-gis")
    return out


def read_small_area_boundaries(path: str | os.PathLike, *, nature: str = "real", plane_crs: str | None = None):
    """e-Stat 境界データ (小地域) polygons: ``district_code`` (KEY_CODE), ``district_name`` (S_NAME),
    ``ward_code`` (PREF+CITY), ``ward_name`` (CITY_NAME), projected to ``plane_crs`` (default: the
    :func:`ebpm_analysis.geo.plane_crs` of the municipality most polygons belong to)."""
    import geopandas as gpd

    from .. import geo
    expected = "an e-Stat 小地域 boundary file with KEY_CODE (check boundaries_path)"
    path = input_path(path, expected=expected)
    with reading(path, expected=expected):
        g = gpd.read_file(path)
    require_rows(g, path, what="small-area polygons")
    for c in ("KEY_CODE", "S_NAME"):
        if c not in g.columns:
            raise InputFileError(path, f"missing attribute '{c}'", column=c,
                                 expected="e-Stat 境界データ attributes KEY_CODE, PREF, CITY, S_NAME, CITY_NAME")
    key = g["KEY_CODE"].astype(str).str.strip()
    if {"PREF", "CITY"} <= set(g.columns):
        ward = g["PREF"].astype(str).str.zfill(2) + g["CITY"].astype(str).str.zfill(3)
    else:
        ward = key.str[:5]
    out = gpd.GeoDataFrame({"district_code": key, "district_name": g["S_NAME"].astype(str), "ward_code": ward,
                            "ward_name": g["CITY_NAME"].astype(str) if "CITY_NAME" in g.columns else ward},
                           geometry=g.geometry, crs=g.crs)
    out = out.to_crs(plane_crs or geo.plane_crs(str(ward.mode().iloc[0])))
    out = out.dissolve(by="district_code", as_index=False, aggfunc="first")
    record_input(path, nature=nature, dataset="small-area-boundaries")
    return out


# --- census commuting tables (Case 1) ----------------------------------------------------------

#: cat01_code (従業上の地位) → node of the status hierarchy ("0" 総数, "E" 雇用者, "1".."9" as in the microdata)
COMMUTING_API_STATUS = {"000": "0", "100": "E", "110": "1", "120": "2", "130": "3", "200": "4", "300": "5",
                        "400": "6", "500": "7", "600": "8", "900": "9"}
#: cat02_code (従業地) → node ("0" 総数, "1" 自宅 … "9" 不詳)
COMMUTING_API_WORKPLACE = {"00": "0", "01": "1", "02": "2", "03": "3", "04": "4", "05": "5", "09": "9"}
COMMUTING_GIS_GROUPS = {"就業者": "0", "雇用者": "E"}
COMMUTING_GIS_WORKPLACE = {"総数": "0", "自宅": "1", "自宅外の自市区町村": "2", "自市内他区": "3",
                           "県内他市区町村": "4", "他県": "5", "従業地「不詳」": "9"}


def read_commuting_api_table(path: str | os.PathLike, *, encoding: str = AUTO, nature: str = "real") -> pd.DataFrame:
    """City/ward 従業上の地位 × 従業地 table (API CSV).

    Returns ``area_code, area_name, status, workplace, value, value_flag``.
    """
    df = read_estat_api_csv(path, encoding=encoding, nature=nature, dataset="census-commuting-api",
                            codes={"cat01_code": COMMUTING_API_STATUS, "cat02_code": COMMUTING_API_WORKPLACE})
    if "area_code" not in df.columns:
        raise InputFileError(path, "missing column 'area_code'", column="area_code", expected="an area_code column")
    out = pd.DataFrame({
        "area_code": df["area_code"], "area_name": df.get("area_name", df["area_code"]),
        "status": df["cat01_code"].map(COMMUTING_API_STATUS),
        "workplace": df["cat02_code"].map(COMMUTING_API_WORKPLACE),
        "value": df["value"], "value_flag": df["value_flag"],
    })
    dup = out.duplicated(["area_code", "status", "workplace"])
    if dup.any():
        raise InputFileError(path, "duplicate area × 従業上の地位 × 従業地 rows", rows=bad_rows(dup, first_line=1),
                             expected="one row per combination (check time_code / tab_code filters)")
    out.attrs.update(df.attrs)
    return out


def read_commuting_gis_table(path: str | os.PathLike, *, encoding: str = "cp932", nature: str = "real") -> pd.DataFrame:
    """Small-area 就業者/雇用者 × 従業地 table (統計GIS CSV) → long frame with ``status`` ("0" or "E")
    and ``workplace`` nodes parsed from the label row (``就業者_自宅`` …)."""
    df = read_estat_gis_csv(path, encoding=encoding, nature=nature, dataset="census-commuting-gis")
    status, workplace = {}, {}
    for code, label in df.attrs["labels"].items():
        g, _, w = label.partition("_")
        if g not in COMMUTING_GIS_GROUPS or w not in COMMUTING_GIS_WORKPLACE:
            raise InputFileError(path, f"unknown item label {label!r}", column=code,
                                 expected="labels '<就業者|雇用者>_<総数|自宅|自宅外の自市区町村|自市内他区|"
                                          "県内他市区町村|他県|従業地「不詳」>' in the second header row")
        status[code], workplace[code] = COMMUTING_GIS_GROUPS[g], COMMUTING_GIS_WORKPLACE[w]
    df["status"] = df["item_code"].map(status)
    df["workplace"] = df["item_code"].map(workplace)
    return df
