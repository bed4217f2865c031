"""JMA weather: the daily CSV from 過去の気象データ・ダウンロード, and the bundled normals.

Station numbers and normals: docs/sources.md#jma-stations.

The download CSV is cp932 with a multi-row header::

    ダウンロードした時刻：2024/05/01 10:00:00
    (blank)
    ,熊本,熊本,熊本,...                      ← station per column
    年月日,平均気温(℃),平均気温(℃),...       ← element per column
    ,,,,,,,現象なし情報,,                     ← optional sub-header (precipitation)
    ,,品質情報,均質番号,...                   ← value / 品質情報 / 均質番号 per element
    2023/1/1,6.5,8,1,...

Quality (品質情報): 8 正常, 5 準正常 (kept); 4 資料不足, 2 疑問, 1 欠測, 0 観測なし (→ missing,
never zero). 現象なし情報 1 means no precipitation occurred (value 0).
This one loader serves every case that needs weather (cases 4 and 6).
"""

from __future__ import annotations

import csv
import io
import os

import numpy as np
import pandas as pd

from ..errors import InputFileError
from ..provenance import record_input
from .common import (
    bad_rows,
    check_encoding,
    check_range,
    input_path,
    plausible_range,
    reading,
    refuse_markup,
    resolve_encoding,
)

ELEMENTS = {
    "平均気温(℃)": "temp_mean",
    "最高気温(℃)": "temp_max",
    "最低気温(℃)": "temp_min",
    "降水量の合計(mm)": "precip_mm",
    "日照時間(時間)": "sunshine_h",
    "平均湿度(％)": "humidity",
    "平均風速(m/s)": "wind_ms",
}
GOOD_QUALITY = {"8", "5"}
#: The catalog entry documenting the daily download's plausible ranges (one definition; 00_data_catalog shows them).
DAILY_CATALOG = "counter-weather-jma-daily"


def _has_range(element: str) -> bool:
    try:
        plausible_range(DAILY_CATALOG, element)
        return True
    except KeyError:
        return False


def read_jma_daily(path: str | os.PathLike, *, encoding: str = "cp932", nature: str = "real") -> pd.DataFrame:
    """Tidy daily weather: ``date`` plus the elements present (``temp_mean``, ``temp_max``,
    ``temp_min``, ``precip_mm``, …) as floats, and ``<element>_flag`` (quality code) columns.

    ``encoding``: the JMA download is Shift_JIS (``"cp932"``, the default, checked strictly); ``"auto"``
    detects cp932 / utf-8 for a re-saved file."""
    path = input_path(path, expected="a JMA daily weather CSV (check weather_path)")
    enc = resolve_encoding(path, encoding)
    check_encoding(path, enc)
    refuse_markup(path)
    text = path.read_bytes().decode(enc)
    rows = list(csv.reader(io.StringIO(text)))
    header_i = next((i for i, r in enumerate(rows) if r and r[0].strip() == "年月日"), None)
    if header_i is None:
        raise InputFileError(path, "no header row starting with '年月日'",
                             expected="the JMA 過去の気象データ・ダウンロード CSV (daily values)")
    first_data = next((i for i in range(header_i + 1, len(rows)) if rows[i] and _is_date(rows[i][0])), None)
    if first_data is None:
        raise InputFileError(path, "no data rows (first column a date like 2023/1/1)",
                             expected="daily rows after the header block")
    elements = rows[header_i]
    subs = rows[header_i + 1:first_data]
    width = len(elements)
    names = []
    for j in range(width):
        el = elements[j].strip()
        sub = next((s[j].strip() for s in reversed(subs) if j < len(s) and s[j].strip()), "")
        names.append((el, sub))
    known = {el for el, _ in names if el in ELEMENTS}
    if not known:
        raise InputFileError(path, f"no known weather elements in header {sorted(set(e for e, _ in names[1:]))[:6]}",
                             expected=f"some of {', '.join(ELEMENTS)}")
    data = [r + [""] * (width - len(r)) for r in rows[first_data:] if r and r[0].strip()]
    out = {"date": pd.to_datetime([r[0].strip() for r in data], format="%Y/%m/%d", errors="coerce")}
    if out["date"].isna().any():
        raise InputFileError(path, "unparseable dates", column="年月日",
                             rows=bad_rows(out["date"].isna(), first_line=first_data + 1), expected="YYYY/M/D")
    lines = [first_data + 1 + i for i, r in enumerate(rows[first_data:]) if r and r[0].strip()]
    check_range(out["date"], path, dataset=DAILY_CATALOG, column="年月日", line=lines)
    for el in known:
        key = ELEMENTS[el]
        cols = {sub: j for j, (e, sub) in enumerate(names) if e == el}
        vj = cols.get("", min(cols.values()))
        qj = cols.get("品質情報")
        nj = cols.get("現象なし情報")
        raw = pd.Series([r[vj].strip() for r in data])
        vals = pd.to_numeric(raw.replace({"": np.nan, "--": np.nan, "×": np.nan, "///": np.nan}), errors="coerce")
        bad = raw.ne("") & vals.isna() & ~raw.isin(["--", "×", "///"])
        if bad.any():
            raise InputFileError(path, f"non-numeric values {raw[bad].unique()[:3].tolist()}", column=el,
                                 rows=bad_rows(bad, first_line=first_data + 1), expected="numbers")
        flag = pd.Series([r[qj].strip() for r in data]) if qj is not None else pd.Series(["8"] * len(data))
        vals = vals.where(flag.isin(GOOD_QUALITY))
        if nj is not None:
            none = pd.Series([r[nj].strip() for r in data]) == "1"
            vals = vals.where(~none, 0.0)
        if _has_range(el):
            check_range(vals, path, dataset=DAILY_CATALOG, column=el, line=lines)
        out[key] = vals.to_numpy(dtype=float)
        out[f"{key}_flag"] = flag.to_numpy()
    df = pd.DataFrame(out).sort_values("date").reset_index(drop=True)
    if df["date"].duplicated().any():
        dup = df.loc[df["date"].duplicated(), "date"].dt.strftime("%Y-%m-%d").tolist()
        raise InputFileError(path, f"duplicate dates {dup[:3]}", column="年月日", expected="one row per day")
    record_input(path, nature=nature, dataset="jma-daily")
    return df


def _is_date(s: str) -> bool:
    s = s.strip()
    parts = s.split("/")
    return len(parts) == 3 and all(p.isdigit() for p in parts)


NORMALS_DIR = ("jma-normals-national",)
NORMALS_FILE = "jma_normals_1991_2020_monthly.csv"
STATIONS_FILE = "jma_stations.csv"


def read_jma_normals(path: str | os.PathLike | None = None, *, station_no: str | None = None) -> pd.DataFrame:
    """Monthly climate normals 1991–2020 with ``month`` 1–12.

    ``station_no`` (e.g. ``"47607"``, from :func:`ebpm_analysis.lookups.nearest_station`) selects one
    station of the national table (``path`` default: the bundled jma-normals-national file); without it
    the default is the bundled Kumamoto table (47819). JMA quality marks (``@``, ``)``, ``]``) are
    stripped from values; ``---`` (no phenomenon) and ``///`` (not observed) become missing.
    """
    from .. import paths
    if station_no is not None:
        path = paths.resolve(path) if path else paths.raw(*NORMALS_DIR, NORMALS_FILE)
    else:
        path = (paths.resolve(path) if path
                else paths.raw("jma-normals-kumamoto", "kumamoto_47819_normals_1991_2020.csv"))
    check_encoding(path, "utf-8")
    refuse_markup(path)
    with reading(path, expected="the JMA normals table (station_no, month, …)"):
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "month" not in df.columns or "station_no" not in df.columns:
        raise InputFileError(path, "missing column 'month' or 'station_no'", expected="the normals table layout")
    if station_no is not None:
        df = df[df["station_no"].str.strip() == str(station_no)]
        if df.empty:
            raise InputFileError(path, f"no normals for station {station_no!r}", column="station_no",
                                 expected="a station number listed in jma_stations.csv with normals (e.g. 47607)")
    lines = df.index.to_numpy() + 2   # file lines (header = line 1) of the monthly rows kept below
    keep = (df["month"].str.endswith("月") & (df["month"] != "年")).to_numpy()
    df, lines = df[keep].copy(), lines[keep]
    df["month"] = df["month"].str.replace("月", "", regex=False).astype(int)
    dataset = "jma-normals-national" if station_no is not None else "jma-normals-kumamoto"
    for c in df.columns:
        if c in ("station_no", "month", "wind_direction"):
            continue
        s = df[c].str.replace(r"[@)\]\s]", "", regex=True).replace({"---": "", "///": "", "": None})
        df[c] = pd.to_numeric(s, errors="coerce")
        bad = (s.notna() & (s != "")).to_numpy() & df[c].isna().to_numpy()
        if bad.any():
            raise InputFileError(path, f"{int(bad.sum())} value(s) that are not numbers", column=c,
                                 rows=lines[bad].tolist(),
                                 expected="a number, optionally with a JMA quality mark (@ ) ]), or --- / ///")
        check_range(df[c], path, dataset=dataset, column=c, line=lines)
    record_input(path, "real", dataset="jma-normals")
    return df.reset_index(drop=True)


def read_jma_stations(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """The JMA station list (bundled: every station with 1991–2020 normals): ``station_no`` (string;
    5 digits = observatory 気象台等, 4 = AMeDAS), ``name``, ``yomi``, ``region``, ``lat``, ``lon``,
    ``altitude_m``, ``active`` (no end date), ``observatory`` (5-digit number)."""
    from .. import paths
    path = paths.resolve(path) if path else paths.raw(*NORMALS_DIR, STATIONS_FILE)
    check_encoding(path, "utf-8")
    refuse_markup(path)
    with reading(path, expected="the JMA station list (station, station_no, latitude, longitude, …)"):
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    need = ["station", "station_no", "latitude", "longitude"]
    missing = [c for c in need if c not in raw.columns]
    if missing:
        raise InputFileError(path, f"missing columns {missing}", column=missing[0], expected=f"columns {need}")
    out = pd.DataFrame({
        "station_no": raw["station_no"].str.strip(),
        "name": raw["station"].str.strip(),
        "yomi": raw.get("yomi", ""),
        "region": raw.get("prec", ""),
        "lat": pd.to_numeric(raw["latitude"], errors="coerce"),
        "lon": pd.to_numeric(raw["longitude"], errors="coerce"),
        "altitude_m": pd.to_numeric(raw.get("altitude"), errors="coerce"),
        "active": (raw["end_date"].str.startswith("9999") if "end_date" in raw.columns
                   else pd.Series(True, index=raw.index)),
    })
    bad = out["lat"].isna() | out["lon"].isna() | ~out["station_no"].str.fullmatch(r"\d{4,5}")
    if bad.any():
        raise InputFileError(path, "station without a number or coordinates", rows=bad_rows(bad),
                             expected="4/5-digit station_no and decimal latitude/longitude")
    out["observatory"] = out["station_no"].str.len() == 5
    record_input(path, "real", dataset="jma-stations")
    return out
