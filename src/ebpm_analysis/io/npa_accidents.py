"""Police traffic accident records (警察庁 交通事故統計情報のオープンデータ, 本票 honhyo).

Three inputs give the same tidy frame:

- ``honhyo_YYYY.csv`` as published: cp932, one header row, **2019–2021 layout** (with 上下線 and
  環状交差点の直径; 車両形状; coordinates at 0-based columns 54/55) or **2022+ layout** (sunrise/sunset,
  AT, サポカー, 認知機能検査, 運転練習; 車両形状等; coordinates at 60/61). The layout is recognised from
  the header. Every value is read as text: codes stay zero-padded strings.
- the bundled GeoPackage (one layer per prefecture, original 2019–2021 columns with the codes
  stored as integers, which lose their zero padding): the codes are re-padded to their
  published widths, so both sources give identical code strings.

Coordinates are packed DMS (latitude ``DDMMSSsss``, 9 digits; longitude ``DDDMMSSsss``, 10 digits).
Rows whose coordinates cannot be decoded or lie outside Japan / the selected prefecture's range
are **excluded and reported** (``frame.attrs['excluded']``: counts by reason and the source rows).
Codes are translated with the bundled code tables (``data/raw/npa-accident-codebook``); a code not
in the table is an error naming file, column and rows.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from .. import paths
from ..errors import InputFileError, ParameterError
from ..provenance import record_input
from .common import (
    check_encoding,
    check_range,
    handle_duplicates,
    input_path,
    read_csv,
    reading,
    refuse_markup,
)

CODEBOOK_DIR = paths.raw("npa-accident-codebook")
GPKG_FILE = paths.raw("npa-accidents-kumamoto", "npa_accidents_2019-2021_pref93_kumamoto.gpkg")
ATTRIBUTION = "「警察庁 交通事故統計情報のオープンデータ」を加工して作成"

_S = "\u3000"  # full-width space used in the published header
YEAR, MONTH, DAY, HOUR, MINUTE = (f"発生日時{_S}{_S}{x}" for x in "年月日時分")
LAT, LON = f"地点{_S}緯度（北緯）", f"地点{_S}経度（東経）"

#: 2019–2021 layout (58 columns), exact header text.
COLUMNS_2019 = [
    "資料区分", "都道府県コード", "警察署等コード", "本票番号", "事故内容", "死者数", "負傷者数", "路線コード",
    "上下線", "地点コード", "市区町村コード", YEAR, MONTH, DAY, HOUR, MINUTE, "昼夜", "天候", "地形", "路面状態",
    "道路形状", "環状交差点の直径", "信号機", f"一時停止規制{_S}標識（当事者A）", f"一時停止規制{_S}表示（当事者A）",
    f"一時停止規制{_S}標識（当事者B）", f"一時停止規制{_S}表示（当事者B）", "車道幅員", "道路線形", "衝突地点",
    "ゾーン規制", "中央分離帯施設等", "歩車道区分", "事故類型", "年齢（当事者A）", "年齢（当事者B）",
    "当事者種別（当事者A）", "当事者種別（当事者B）", "用途別（当事者A）", "用途別（当事者B）",
    "車両形状（当事者A）", "車両形状（当事者B）", "速度規制（指定のみ）（当事者A）", "速度規制（指定のみ）（当事者B）",
    "車両の衝突部位（当事者A）", "車両の衝突部位（当事者B）", "車両の損壊程度（当事者A）", "車両の損壊程度（当事者B）",
    "エアバッグの装備（当事者A）", "エアバッグの装備（当事者B）", "サイドエアバッグの装備（当事者A）",
    "サイドエアバッグの装備（当事者B）", "人身損傷程度（当事者A）", "人身損傷程度（当事者B）", LAT, LON,
    "曜日(発生年月日)", "祝日(発生年月日)",
]

#: 2022+ layout (68 columns), exact header text (docs/sources.md#npa-honhyo).
COLUMNS_2022 = [
    "資料区分", "都道府県コード", "警察署等コード", "本票番号", "事故内容", "死者数", "負傷者数", "路線コード",
    "地点コード", "市区町村コード", YEAR, MONTH, DAY, HOUR, MINUTE, "昼夜",
    f"日の出時刻{_S}{_S}時", f"日の出時刻{_S}{_S}分", f"日の入り時刻{_S}{_S}時", f"日の入り時刻{_S}{_S}分",
    "天候", "地形", "路面状態", "道路形状", "信号機", f"一時停止規制{_S}標識（当事者A）",
    f"一時停止規制{_S}表示（当事者A）", f"一時停止規制{_S}標識（当事者B）", f"一時停止規制{_S}表示（当事者B）",
    "車道幅員", "道路線形", "衝突地点", "ゾーン規制", "中央分離帯施設等", "歩車道区分", "事故類型",
    "年齢（当事者A）", "年齢（当事者B）", "当事者種別（当事者A）", "当事者種別（当事者B）", "用途別（当事者A）",
    "用途別（当事者B）", "車両形状等（当事者A）", "車両形状等（当事者B）", "オートマチック車（当事者A）",
    "オートマチック車（当事者B）", "サポカー（当事者A）", "サポカー（当事者B）", "速度規制（指定のみ）（当事者A）",
    "速度規制（指定のみ）（当事者B）", "車両の衝突部位（当事者A）", "車両の衝突部位（当事者B）",
    "車両の損壊程度（当事者A）", "車両の損壊程度（当事者B）", "エアバッグの装備（当事者A）",
    "エアバッグの装備（当事者B）",
    "サイドエアバッグの装備（当事者A）", "サイドエアバッグの装備（当事者B）", "人身損傷程度（当事者A）",
    "人身損傷程度（当事者B）", LAT, LON, "曜日(発生年月日)", "祝日(発生年月日)",
    "認知機能検査経過日数（当事者A）", "認知機能検査経過日数（当事者B）", "運転練習の方法（当事者A）",
    "運転練習の方法（当事者B）",
]

LAYOUTS = {"2019-2021": COLUMNS_2019, "2022+": COLUMNS_2022}

#: Published widths of the code columns (for re-padding integer-typed sources such as the GeoPackage).
CODE_WIDTHS = {
    "資料区分": 1, "都道府県コード": 2, "警察署等コード": 3, "本票番号": 4, "事故内容": 1, "死者数": 3, "負傷者数": 3,
    "路線コード": 5, "上下線": 1, "地点コード": 4, "市区町村コード": 3, YEAR: 4, MONTH: 2, DAY: 2, HOUR: 2,
    MINUTE: 2, "昼夜": 2, "天候": 1, "地形": 1, "路面状態": 1, "道路形状": 2, "信号機": 1, "車道幅員": 2,
    "道路線形": 1, "衝突地点": 2, "ゾーン規制": 2, "中央分離帯施設等": 1, "歩車道区分": 1, "事故類型": 2,
    "年齢（当事者A）": 2, "年齢（当事者B）": 2, "当事者種別（当事者A）": 2, "当事者種別（当事者B）": 2,
    LAT: 9, LON: 10, "曜日(発生年月日)": 1, "祝日(発生年月日)": 1,
}

#: Code columns translated to labels: tidy name → (source column, code table file).
TRANSLATED = {
    "severity": ("事故内容", "accident.csv"),
    "accident_type": ("事故類型", "type.csv"),
    "weather": ("天候", "weather.csv"),
    "road_shape": ("道路形状", "roadtype.csv"),
    "day_night": ("昼夜", "time.csv"),
    "terrain": ("地形", "terrian.csv"),
    "road_surface": ("路面状態", "roadcond.csv"),
    "weekday": ("曜日(発生年月日)", "week.csv"),
    "holiday": ("祝日(発生年月日)", "holiday.csv"),
}

#: JIS X 0401 prefecture names in code order (01 北海道 … 47 沖縄), to map NPA → JIS prefecture codes.
JIS_PREFS = ["北海道", "青森", "岩手", "宮城", "秋田", "山形", "福島", "茨城", "栃木", "群馬", "埼玉", "千葉", "東京",
             "神奈川", "新潟", "富山", "石川", "福井", "山梨", "長野", "岐阜", "静岡", "愛知", "三重", "滋賀", "京都",
             "大阪", "兵庫", "奈良", "和歌山", "鳥取", "島根", "岡山", "広島", "山口", "徳島", "香川", "愛媛", "高知",
             "福岡", "佐賀", "長崎", "熊本", "大分", "宮崎", "鹿児島", "沖縄"]

# Japan's extent for plausibility (lat 20–46 N, lon 122–154 E).
LAT_RANGE = (20.0, 46.0)
LON_RANGE = (122.0, 154.0)

TIDY_COLUMNS = [
    "source_row", "layout", "pref_code", "police_code", "police_name", "report_no", "municipality_code",
    "city_code", "year", "month", "day", "hour", "minute", "occurred_at", "severity_code", "severity",
    "deaths", "injuries", "accident_type_code", "accident_type", "weather_code", "weather", "road_shape_code",
    "road_shape", "day_night_code", "day_night", "is_night", "terrain_code", "terrain", "road_surface_code",
    "road_surface", "weekday_code", "weekday", "holiday_code", "holiday", "route_code", "lat", "lon",
]


# ----------------------------------------------------------------------------------- code tables
@lru_cache(maxsize=None)
def _code_table(file: str, codebook_dir: str) -> pd.DataFrame:
    return read_csv(Path(codebook_dir) / file, encoding="utf-8", dataset="npa-accident-codebook")


def code_table(file: str, codebook_dir: str | os.PathLike | None = None) -> dict[str, str]:
    """``{code: label}`` from one code table (codes as strings, first label wins for duplicates)."""
    df = _code_table(file, str(Path(codebook_dir or CODEBOOK_DIR)))
    out: dict[str, str] = {}
    for c, v in zip(df["code"], df["value"], strict=True):
        out.setdefault(str(c).strip(), str(v).strip())
    return out


def age_bands(codebook_dir=None) -> list[str]:
    """The 本票's age bands of a party (年齢 code table), youngest first: ``["0～24歳", "25～34歳", …, "75歳以上"]``
    (``不明`` left out). The youngest band spans 0–24: children cannot be told apart
    (docs/sources.md#honhyo-age-bands)."""
    table = code_table("age.csv", codebook_dir)
    return [table[c] for c in sorted(table) if c != "00"]


def police_names(pref_code: str, codebook_dir=None) -> dict[str, str]:
    df = _code_table("police.csv", str(Path(codebook_dir or CODEBOOK_DIR)))
    sub = df[df["都道府県コード"].str.strip() == pref_code]
    return dict(zip(sub["code"].str.strip(), sub["value"].str.strip(), strict=True))


def jis_pref_code(npa_pref_code: str, codebook_dir=None) -> str:
    """JIS prefecture code (e.g. '43') for an NPA prefecture code (e.g. '93')."""
    names = code_table("pref.csv", codebook_dir)
    if npa_pref_code not in names:
        raise ParameterError("pref_code", f"{npa_pref_code!r} is not an NPA prefecture code",
                             expected="a 2-digit police prefecture code from pref.csv, e.g. '93' (熊本)")
    name = names[npa_pref_code]
    for i, n in enumerate(JIS_PREFS, start=1):
        if name.startswith(n):
            return f"{i:02d}"
    raise ParameterError("pref_code", f"cannot map {name!r} to a JIS prefecture")  # pragma: no cover


# ----------------------------------------------------------------------------------- coordinates
def decode_dms(values, degree_digits: int) -> np.ndarray:
    """Packed DMS strings → decimal degrees (NaN where the text is not all digits of the right length).

    ``degree_digits`` is 2 for latitude (``DDMMSSsss``) and 3 for longitude (``DDDMMSSsss``);
    minutes/seconds ≥ 60 give NaN.
    """
    s = pd.Series(values, dtype="string").str.strip()
    n = degree_digits + 7
    ok = s.str.fullmatch(rf"\d{{{n}}}").fillna(False).to_numpy(bool)
    out = np.full(len(s), np.nan)
    if ok.any():
        v = s[ok].astype(str)
        d = v.str[:degree_digits].astype(float).to_numpy()
        m = v.str[degree_digits:degree_digits + 2].astype(float).to_numpy()
        sec = v.str[degree_digits + 2:].astype(float).to_numpy() / 1000.0
        good = (m < 60) & (sec < 60)
        out[np.flatnonzero(ok)[good]] = (d + m / 60.0 + sec / 3600.0)[good]
    return out


def decode_lat(values) -> np.ndarray:
    return decode_dms(values, 2)


def decode_lon(values) -> np.ndarray:
    return decode_dms(values, 3)


# ----------------------------------------------------------------------------------- readers
def detect_layout(columns) -> str:
    cols = [str(c).strip() for c in columns]
    if cols[: len(COLUMNS_2022)] == COLUMNS_2022:
        return "2022+"
    if cols[: len(COLUMNS_2019)] == COLUMNS_2019:
        return "2019-2021"
    return ""


HONHYO_EXPECTED = "a published 本票 file honhyo_YYYY.csv (cp932) or a GeoPackage of 本票 records"


def read_honhyo_csv(path: str | os.PathLike, *, encoding: str = "cp932", pref_code: str | None = None,
                    municipality_codes=None, codebook_dir=None, nature: str = "real",
                    duplicates: str = "refuse") -> pd.DataFrame:
    """Read a published ``honhyo_YYYY.csv`` (either layout) into the tidy frame.

    ``nature`` is what the provenance records: ``"real"``, or ``"synthetic"`` for a generated file in
    this format (e.g. real records with a planted measure). ``duplicates``: identical rows are refused
    (``"refuse"``, the default) or dropped (``"drop"``, ``attrs['duplicates_dropped']``). There is no
    key: 本票番号 repeats within a police station and year in the published files (熊本県 2019–2021:
    253 times), so only rows identical in every column are duplicates.
    """
    path = input_path(path, expected=HONHYO_EXPECTED)
    check_encoding(path, encoding)
    refuse_markup(path)
    with reading(path, expected=HONHYO_EXPECTED):
        raw = pd.read_csv(path, encoding="cp932" if encoding.lower() in ("cp932", "shift_jis", "sjis") else encoding,
                          dtype=str, keep_default_na=False, na_values=[])
    raw.columns = [str(c).strip() for c in raw.columns]
    layout = detect_layout(raw.columns)
    if not layout:
        expected_cols = set(COLUMNS_2019) | set(COLUMNS_2022)
        missing19 = [c for c in COLUMNS_2019 if c not in raw.columns]
        missing22 = [c for c in COLUMNS_2022 if c not in raw.columns]
        missing = missing19 if len(missing19) <= len(missing22) else missing22
        extra = [c for c in raw.columns if c not in expected_cols]
        problem = ("header matches neither the 2019–2021 (58 columns) nor the 2022+ (68 columns) 本票 layout"
                   + (f"; missing {missing[:4]}" if missing else "") + (f"; unexpected {extra[:4]}" if extra else ""))
        raise InputFileError(path, problem, column=(missing[0] if missing else None),
                             expected="the published honhyo header (cp932), "
                                      "e.g. 資料区分,都道府県コード,警察署等コード,…")
    record_input(path, nature=nature, dataset="npa-honhyo")
    raw["source_row"] = np.arange(2, len(raw) + 2)  # 1-based line number in the file (header = line 1)
    return _tidy(raw, path, layout, pref_code, municipality_codes, codebook_dir, duplicates)


def read_accidents_gpkg(path: str | os.PathLike = GPKG_FILE, *, layer: str | None = None,
                        pref_code: str | None = None, municipality_codes=None, codebook_dir=None,
                        duplicates: str = "refuse") -> pd.DataFrame:
    """Read the GeoPackage (original 2019–2021 columns, integer-typed codes) into the tidy frame
    (``duplicates`` as in :func:`read_honhyo_csv`)."""
    path = input_path(path, expected="a GeoPackage of 本票 records (e.g. the bundled one)")
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        layers = [r[0] for r in con.execute("select table_name from gpkg_contents where data_type='features'")]
    except sqlite3.DatabaseError as e:
        raise InputFileError(path, f"not a GeoPackage ({e})", expected="a GeoPackage (SQLite) file") from None
    try:
        if layer is None:
            if len(layers) != 1:
                raise InputFileError(path, f"{len(layers)} feature layers ({layers[:5]})",
                                     expected="one layer, or pass layer=")
            layer = layers[0]
        elif layer not in layers:
            raise InputFileError(path, f"layer {layer!r} not found", expected=f"one of {layers}")
        raw = pd.read_sql_query(f'select * from "{layer}"', con)
    finally:
        con.close()
    missing = [c for c in COLUMNS_2019 if c not in raw.columns]
    if missing:
        raise InputFileError(path, f"missing column(s) {missing[:4]}", column=missing[0],
                             expected="the 2019–2021 本票 columns")
    record_input(path, nature="real", dataset="npa-accidents-kumamoto")
    raw = raw.drop(columns=[c for c in ("geom",) if c in raw.columns])
    raw["source_row"] = raw["fid"] if "fid" in raw.columns else np.arange(1, len(raw) + 1)
    for col in COLUMNS_2019:
        s = raw[col]
        txt = s.astype("string")
        if pd.api.types.is_numeric_dtype(s):
            txt = s.astype("Int64").astype("string")
        if col in CODE_WIDTHS:
            txt = txt.str.zfill(CODE_WIDTHS[col])
        raw[col] = txt.fillna("").astype(str)
    return _tidy(raw, path, "gpkg (2019-2021)", pref_code, municipality_codes, codebook_dir, duplicates)


def load_accidents(path: str | os.PathLike = GPKG_FILE, **kwargs) -> pd.DataFrame:
    """Dispatch on the file type: ``.gpkg`` → :func:`read_accidents_gpkg`, ``.csv`` → :func:`read_honhyo_csv`."""
    p = input_path(path, expected=HONHYO_EXPECTED)
    if p.suffix.lower() == ".gpkg":
        kwargs.pop("encoding", None)
        return read_accidents_gpkg(p, **kwargs)
    if p.suffix.lower() == ".csv":
        return read_honhyo_csv(p, **kwargs)
    raise InputFileError(p, f"unknown file type {p.suffix!r}", expected="honhyo_YYYY.csv (cp932) or a .gpkg")


#: ``accidents_path`` value meaning "the bundled 本票 file of the city's police prefecture, if any".
AUTO_FILE = "auto"


def bundled_files() -> dict[str, Path]:
    """{police prefecture code: bundled 本票 GeoPackage}: ``data/raw/npa-accidents-*/npa_accidents_*_pref<NN>_*.gpkg``
    (the naming of the bundled files; each folder's README gives source and licence)."""
    import re
    out = {}
    for f in sorted(paths.raw().glob("npa-accidents-*/npa_accidents_*_pref*_*.gpkg")):
        m = re.search(r"_pref(\d{2})_", f.name)
        if m:
            out[m.group(1)] = f
    return out


def police_file(given: str | os.PathLike | None, pref_code: str, *, param: str = "accidents_path") -> Path | None:
    """The 本票 file a run reads for a city whose police prefecture code is ``pref_code``.

    ``""``/``None`` → ``None`` (no police records: the report says what it cannot show);
    ``"auto"`` → the bundled file of that police prefecture (:func:`bundled_files`) or ``None`` when none
    is bundled; anything else → that file (relative to the project root), which must exist.
    """
    if given is None or str(given).strip() == "":
        return None
    if str(given).strip() == AUTO_FILE:
        return bundled_files().get(pref_code)
    p = paths.resolve(given)
    if not p.is_file():
        raise ParameterError(param, f"file not found: {paths.relative(p)}",
                             expected='a 本票 file (.gpkg or honhyo_YYYY.csv), "auto" (the bundled file of the '
                                      'city\'s prefecture) or "" (none)')
    return p


@dataclass(frozen=True)
class PoliceSource:
    """Which 本票 file a run reads for a city, from :func:`police_source`."""
    path: Path | None      # None: no police records (the report says what it cannot show)
    police: object | None  # ebpm_analysis.lookups.PoliceArea, or None when no file is read
    missing: str           # for the report when ``path`` is None: why there are no records


def police_source(given: str | os.PathLike | None, city: str, *, pref_code: str | None = "",
                  param: str = "accidents_path") -> PoliceSource:
    """The police file and codes of ``city`` for the parameter value ``given`` (:func:`police_file`).

    The police codes (:func:`ebpm_analysis.lookups.police_area`, ``pref_code`` overriding the prefecture)
    are derived only when a file is read, so a city whose police area the bundled tables cannot decide
    (some 北海道 towns) still runs without police records."""
    from .. import geo, lookups

    ref = geo.resolve_city(city)
    text = "" if given is None else str(given).strip()
    if not text:
        return PoliceSource(None, None, "警察の交通事故データ（本票）のファイルは指定されていません。")
    if text == AUTO_FILE and not pref_code:
        codes = set(lookups.police_pref_codes(ref.pref_code)) & set(bundled_files())
        if not codes:
            return PoliceSource(None, None, f"{ref.pref_name}の本票ファイルはこのリポジトリに同梱されていません。")
    police = lookups.police_area(ref.code, pref_code=pref_code or None)
    path = police_file(text, police.pref_code, param=param)
    if path is None:
        return PoliceSource(None, None, f"{ref.pref_name}（警察の都道府県コード {police.pref_code}）の本票ファイルは"
                                        "このリポジトリに同梱されていません。")
    return PoliceSource(path, police, "")


def _as_list(codes) -> list[str] | None:
    if codes is None or codes == "" or codes == []:
        return None
    if isinstance(codes, str):
        codes = [codes]
    out = []
    for c in codes:
        if not isinstance(c, str) or not c.isdigit() or len(c) != 3:
            raise ParameterError("municipality_codes", f"got {c!r}",
                                 expected='3-digit 市区町村コード strings as in the 本票, e.g. ["101", "102"]')
        out.append(c)
    return out


def _tidy(raw: pd.DataFrame, path: Path, layout: str, pref_code, municipality_codes, codebook_dir,
          duplicates: str = "refuse") -> pd.DataFrame:
    if pref_code is not None and (not isinstance(pref_code, str) or len(pref_code) != 2 or not pref_code.isdigit()):
        raise ParameterError("pref_code", f"got {pref_code!r}",
                             expected='a 2-digit NPA prefecture code string, e.g. "93"')
    munis = _as_list(municipality_codes)
    df = raw
    for col in CODE_WIDTHS:
        if col in df.columns:
            df[col] = df[col].astype(str).str.strip()
    if len(df) == 0:
        raise InputFileError(path, "no data rows (header only)", expected="one row per accident after the header")
    df = handle_duplicates(df, path, duplicates=duplicates, what="本票 rows", line=df["source_row"].to_numpy(),
                           among=[c for c in df.columns if c in CODE_WIDTHS or c in COLUMNS_2019 or c in COLUMNS_2022])
    dropped = df.attrs.get("duplicates_dropped")
    for col in (YEAR, "死者数", "負傷者数"):
        check_range(pd.to_numeric(df[col], errors="coerce"), path, dataset="npa-honhyo-csv", column=col,
                    line=df["source_row"].to_numpy())
    n_source = len(df)
    if pref_code is not None:
        df = df[df["都道府県コード"] == pref_code]
    if munis is not None:
        df = df[df["市区町村コード"].isin(munis)]
    df = df.reset_index(drop=True)
    out = pd.DataFrame({"source_row": df["source_row"].astype("int64"), "layout": layout})
    out["pref_code"] = df["都道府県コード"]
    out["police_code"] = df["警察署等コード"]
    out["report_no"] = df["本票番号"]
    out["municipality_code"] = df["市区町村コード"]
    out["route_code"] = df["路線コード"]
    # Date/time from the split columns (2-digit hour 00–23, minute 00–59).
    parts = {}
    for name, col in (("year", YEAR), ("month", MONTH), ("day", DAY), ("hour", HOUR), ("minute", MINUTE)):
        num = pd.to_numeric(df[col], errors="coerce")
        bad = num.isna()
        if bad.any():
            raise InputFileError(path, f"non-numeric {name} {df.loc[bad, col].unique()[:3].tolist()}", column=col,
                                 rows=df.loc[bad, "source_row"].tolist(), expected="digits")
        parts[name] = num.astype("int64")
        out[name] = parts[name]
    ts = pd.to_datetime(pd.DataFrame({k: parts[k] for k in ("year", "month", "day", "hour", "minute")}),
                        errors="coerce")
    bad = ts.isna()
    if bad.any():
        raise InputFileError(path, "impossible date/time", column=YEAR, rows=df.loc[bad, "source_row"].tolist(),
                             expected="a real calendar date, hour 0–23, minute 0–59")
    out["occurred_at"] = ts
    for name, col in (("deaths", "死者数"), ("injuries", "負傷者数")):
        num = pd.to_numeric(df[col], errors="coerce")
        bad = num.isna() | (num < 0)
        if bad.any():
            raise InputFileError(path, "non-numeric or negative count", column=col,
                                 rows=df.loc[bad, "source_row"].tolist(), expected="a zero-padded count, e.g. 001")
        out[name] = num.astype("int64")
    for name, (col, file) in TRANSLATED.items():
        table = code_table(file, codebook_dir)
        codes = df[col]
        labels = codes.map(table)
        bad = labels.isna()
        if bad.any():
            raise InputFileError(path, f"unknown code(s) {sorted(codes[bad].unique())[:5]} (not in {file})",
                                 column=col, rows=df.loc[bad, "source_row"].tolist(),
                                 expected=f"one of {sorted(table)}")
        out[f"{name}_code"] = codes
        out[name] = labels
    out["is_night"] = out["day_night_code"].str[0] == "2"
    pn = {}
    for p in out["pref_code"].unique():
        pn.update({(p, k): v for k, v in police_names(p, codebook_dir).items()})
    out["police_name"] = [pn.get((p, c)) for p, c in zip(out["pref_code"], out["police_code"], strict=True)]
    unknown = out["police_name"].isna()
    if unknown.any():
        raise InputFileError(path,
                             f"unknown police station code(s) {sorted(out.loc[unknown, 'police_code'].unique())[:5]}",
                             column="警察署等コード", rows=out.loc[unknown, "source_row"].tolist(),
                             expected="a code listed for the prefecture in police.csv")
    jis = {p: jis_pref_code(p, codebook_dir) for p in out["pref_code"].unique()}
    out["city_code"] = out["pref_code"].map(jis) + out["municipality_code"]
    # Coordinates: decode, then exclude impossible ones (reported, never silently dropped).
    lat = decode_lat(df[LAT])
    lon = decode_lon(df[LON])
    reason = np.full(len(df), "", dtype=object)
    undecodable = np.isnan(lat) | np.isnan(lon)
    reason[undecodable] = "undecodable"
    in_japan = (lat >= LAT_RANGE[0]) & (lat <= LAT_RANGE[1]) & (lon >= LON_RANGE[0]) & (lon <= LON_RANGE[1])
    outside = ~undecodable & ~in_japan
    reason[outside] = "outside_japan"
    out["lat"] = lat
    out["lon"] = lon
    excluded = reason != ""
    report = {
        "n_source_rows": int(n_source),
        "n_selected": int(len(out)),
        "n_excluded": int(excluded.sum()),
        "by_reason": {r: int((reason == r).sum()) for r in ("undecodable", "outside_japan") if (reason == r).any()},
        "source_rows": out.loc[excluded, "source_row"].astype(int).tolist(),
    }
    if excluded.any() and excluded.all():
        raise InputFileError(path, f"all {int(excluded.sum())} selected rows have impossible coordinates "
                                   f"({', '.join(f'{k} {v}' for k, v in report['by_reason'].items())})",
                             column=LAT, rows=report["source_rows"],
                             expected="packed DMS coordinates in Japan: latitude DDMMSSsss (20–46°), "
                                      "longitude DDDMMSSsss (122–154°), not swapped")
    out = out.loc[~excluded, TIDY_COLUMNS].reset_index(drop=True)
    out.attrs["excluded"] = report
    if dropped:
        out.attrs["duplicates_dropped"] = dropped
    out.attrs["path"] = paths.relative(path)
    return out


def excluded_report(df: pd.DataFrame) -> dict:
    """The excluded-coordinates report attached by the loaders."""
    return dict(df.attrs.get("excluded", {}))


def to_honhyo_csv(raw: pd.DataFrame, path: str | os.PathLike, layout: str = "2019-2021",
                  encoding: str = "cp932") -> Path:
    """Write raw 本票 columns as a published-style CSV (header, CRLF, given encoding). For fixtures/tests."""
    cols = LAYOUTS[layout]
    path = Path(path)
    raw[cols].to_csv(path, index=False, encoding=encoding, lineterminator="\r\n")
    return path


def read_gpkg_raw(path: str | os.PathLike = GPKG_FILE, *, with_source_row: bool = False) -> pd.DataFrame:
    """The GeoPackage's 本票 columns as zero-padded text (the published CSV values), no checks or translation.

    ``with_source_row=True`` adds ``source_row`` (the feature id, as in :func:`read_accidents_gpkg`), so
    rows of the tidy frame can be matched back to their raw text (e.g. to write a subset as a CSV).
    """
    path = paths.resolve(path)
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        layer = [r[0] for r in con.execute("select table_name from gpkg_contents where data_type='features'")][0]
        raw = pd.read_sql_query(f'select * from "{layer}"', con)
    finally:
        con.close()
    for col in COLUMNS_2019:
        s = raw[col].astype("Int64") if pd.api.types.is_numeric_dtype(raw[col]) else raw[col]
        s = s.astype("string")
        if col in CODE_WIDTHS:
            s = s.str.zfill(CODE_WIDTHS[col])
        raw[col] = s.fillna("").astype(str)
    out = raw[COLUMNS_2019].copy()
    if with_source_row:
        out["source_row"] = (raw["fid"] if "fid" in raw.columns else pd.Series(np.arange(1, len(raw) + 1))).to_numpy()
    return out
