"""Census questionnaire records (調査票情報, obtained under 統計法 第33条) for commuting analysis.

One row per employed person (15歳以上就業者). The file a city receives after the secondary-use
application is a coded CSV with a codebook; this project's layout (header row in Japanese,
codes as text, ``cp932`` or ``utf-8``) is::

    常住地コード,常住市区町村コード,男女,年齢階級,従業上の地位,従業地,産業大分類
    431010003,43101,1,05,1,2,I

- 常住地コード: small-area (小地域/学区) code of the residence, 9 digits; its first five digits
  are the 常住市区町村コード (the ward of a designated city, or the municipality).
- 従業地: 1 自宅 / 2 自宅外の自市区町村 / 3 自市内他区 (designated-city residents only) /
  4 県内他市区町村 / 5 他県 / 9 不詳 (docs/sources.md#census-workplace).
- 従業上の地位: 1 正規の職員・従業員 / 2 労働者派遣事業所の派遣社員 / 3 パート・アルバイト・その他
  (1–3 = 雇用者) / 4 役員 / 5 雇人のある業主 / 6 雇人のない業主 / 7 家族従業者 / 8 家庭内職者 / 9 不詳.

:func:`read_census_microdata` validates allowed codes and keys and raises
:class:`~ebpm_analysis.errors.InputFileError` naming the file, column and rows.
"""

from __future__ import annotations

import os

import pandas as pd

from ..errors import InputFileError
from .common import AUTO, bad_rows, input_path, read_csv, resolve_encoding

# --- codebook -------------------------------------------------------------------------------

STATUS_LABELS = {
    "1": "正規の職員・従業員",
    "2": "労働者派遣事業所の派遣社員",
    "3": "パート・アルバイト・その他",
    "4": "役員",
    "5": "雇人のある業主",
    "6": "雇人のない業主",
    "7": "家族従業者",
    "8": "家庭内職者",
    "9": "従業上の地位「不詳」",
}
EMPLOYEE_STATUS = ("1", "2", "3")  # 雇用者

WORKPLACE_LABELS = {
    "1": "自宅",
    "2": "自宅外の自市区町村",
    "3": "自市内他区",
    "4": "県内他市区町村",
    "5": "他県",
    "9": "従業地「不詳」",
}
INCITY_WORKPLACE = ("1", "2", "3")   # 市内従業 (自市区町村 + 自市内他区)
UNKNOWN_WORKPLACE = "9"

SEX_LABELS = {"1": "男", "2": "女"}
AGE_LABELS = {f"{i:02d}": (f"{10 + 5 * i}～{14 + 5 * i}歳" if i < 15 else "85歳以上") for i in range(1, 16)}
INDUSTRY_LABELS = {
    "A": "農業，林業", "B": "漁業", "C": "鉱業，採石業，砂利採取業", "D": "建設業", "E": "製造業",
    "F": "電気・ガス・熱供給・水道業", "G": "情報通信業", "H": "運輸業，郵便業", "I": "卸売業，小売業",
    "J": "金融業，保険業", "K": "不動産業，物品賃貸業", "L": "学術研究，専門・技術サービス業",
    "M": "宿泊業，飲食サービス業", "N": "生活関連サービス業，娯楽業", "O": "教育，学習支援業",
    "P": "医療，福祉", "Q": "複合サービス事業", "R": "サービス業（他に分類されないもの）",
    "S": "公務（他に分類されるものを除く）", "T": "分類不能の産業",
}

COLUMNS = {
    "常住地コード": "area_code",
    "常住市区町村コード": "ward_code",
    "男女": "sex",
    "年齢階級": "age_group",
    "従業上の地位": "status",
    "従業地": "workplace",
    "産業大分類": "industry",
}
KEY_COLUMNS = ("常住地コード", "常住市区町村コード", "従業上の地位", "従業地")
ALLOWED = {
    "男女": SEX_LABELS,
    "年齢階級": AGE_LABELS,
    "従業上の地位": STATUS_LABELS,
    "従業地": WORKPLACE_LABELS,
    "産業大分類": INDUSTRY_LABELS,
}


def _codes_desc(mapping: dict) -> str:
    items = list(mapping.items())
    shown = ", ".join(f"{k} {v}" for k, v in items[:9])
    return shown + (" …" if len(items) > 9 else "")


def city_ward_codes(city_code: str) -> tuple[bool, "callable"]:
    """(has_wards, predicate) for the residence codes allowed for ``city_code``: its own code, or the
    codes of its wards for a designated city (札幌市 01100: 01101–01110; 川崎市 14130: 14131–14137),
    from the national boundary file (:func:`ebpm_analysis.geo.resolve_city`)."""
    from .. import geo
    ref = geo.resolve_city(city_code)
    members = set(ref.member_codes)
    return ref.has_wards, lambda s: s.isin(members)


def read_census_microdata(path: str | os.PathLike, *, encoding: str = AUTO, city_code: str | None = None,
                          nature: str = "real") -> pd.DataFrame:
    """Validated person records with English column names and categorical codes.

    ``encoding`` ``"auto"`` detects utf-8(-sig) or cp932. ``city_code`` (e.g. "43100") checks that every
    residence belongs to the city (its wards for a designated city) and that 自市内他区 (3) is only
    used where the city has wards.
    Returns columns ``area_code, ward_code, sex, age_group, status, workplace, industry``.
    """
    path = input_path(path, expected="the census microdata CSV (check microdata_path)")
    enc = resolve_encoding(path, encoding)
    df = read_csv(path, encoding=enc, required=list(COLUMNS), nature=nature, dataset="census-microdata")
    df = df[list(COLUMNS)]
    for col in COLUMNS:
        df[col] = df[col].str.strip()
    if len(df) == 0:
        raise InputFileError(path, "no data rows", expected="one row per employed person")
    for col in KEY_COLUMNS:
        miss = df[col].isna() | (df[col] == "")
        if miss.any():
            raise InputFileError(path, "missing key values", column=col, rows=bad_rows(miss),
                                 expected="a code in every row (use 9 for 不詳 where the codebook allows it)")
    for col, allowed in ALLOWED.items():
        bad = ~df[col].isin(list(allowed))
        if col not in KEY_COLUMNS:
            bad &= df[col].notna()  # blank sex/age/industry allowed (unknown)
        if bad.any():
            vals = df.loc[bad, col].astype(str).unique()[:5].tolist()
            raise InputFileError(path, f"unknown code(s) {vals}", column=col, rows=bad_rows(bad),
                                 expected=f"one of {_codes_desc(allowed)}")
    ward = df["常住市区町村コード"]
    bad = ~ward.str.fullmatch(r"\d{5}")
    if bad.any():
        raise InputFileError(path, f"malformed codes {ward[bad].unique()[:3].tolist()}", column="常住市区町村コード",
                             rows=bad_rows(bad), expected="a 5-digit 標準地域コード as text, e.g. 43101")
    area = df["常住地コード"]
    bad = ~area.str.fullmatch(r"\d{9,11}") | (area.str[:5] != ward)
    if bad.any():
        raise InputFileError(path, f"codes {area[bad].unique()[:3].tolist()} do not match the residence ward",
                             column="常住地コード", rows=bad_rows(bad),
                             expected="a 9–11 digit small-area code whose first 5 digits equal 常住市区町村コード")
    if city_code is not None:
        has_wards, ok = city_ward_codes(city_code)
        bad = ~ok(ward)
        if bad.any():
            raise InputFileError(path, f"residences outside city {city_code}: {ward[bad].unique()[:5].tolist()}",
                                 column="常住市区町村コード", rows=bad_rows(bad),
                                 expected=("ward codes of the designated city" if has_wards else f"{city_code} only"))
        if not has_wards:
            bad = df["従業地"] == "3"
            if bad.any():
                raise InputFileError(path, "従業地 3 (自市内他区) in a city without wards", column="従業地",
                                     rows=bad_rows(bad),
                                     expected="1, 2, 4, 5 or 9 for a municipality that is not a designated city")
    out = df.rename(columns=COLUMNS)
    for col in out.columns:
        out[col] = out[col].astype("category")
    return out
