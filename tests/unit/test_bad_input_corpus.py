"""Bad-input corpus (issue 15): every reader, well over 100 bad files, each with the words its error must carry.

Each case builds one bad file from a small valid template (written here, so no binary fixture is committed)
and calls the reader as a notebook does. The test asserts that **every** case raises an
:class:`~ebpm_analysis.errors.EbpmError` whose message names the file and carries the expected fragment —
no silent result (the reader returning a frame) and no raw library exception. ``test_templates_are_valid``
proves each template alone reads without error, so every failure comes from the one thing a case breaks.
"""

from __future__ import annotations

import json
import sqlite3
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import pytest

from ebpm_analysis import paths
from ebpm_analysis.errors import EbpmError
from ebpm_analysis.io import (
    census_microdata,
    counter_log,
    dental_sheet,
    dispatch_log,
    estat,
    etc2,
    jma,
    measures,
    npa_accidents,
    school_fixes,
    stations,
)

FIX = Path(__file__).resolve().parents[1] / "fixtures"
CITY = "43100"


# ----------------------------------------------------------------------------------- templates
def _lines(header: str, rows: list[str]) -> str:
    return "\r\n".join([header, *rows]) + "\r\n"


DISPATCH_H = (
    "事案番号,覚知日時,出場日時,現着日時,病院着日時,出場隊,出場署所,事故種別,傷病程度,年齢区分,緯度,経度,町丁コード"
)
DISPATCH = [
    "R1,2024/07/01 10:00:00,2024/07/01 10:01:30,2024/07/01 10:09:30,2024/07/01 10:40:00,中央1,S01,急病,中等症,高齢者,"
    "32.803100,130.741700,43101-D01",
    "R2,2024/07/01 23:59:00,2024/07/02 00:00:30,2024/07/02 00:06:00,,南1,S04,一般負傷,,成人,32.734000,130.713000,"
    "43104-D02",
    "R3,2024/07/02 08:15:00,2024/07/02 08:16:00,2024/07/02 08:30:00,2024/07/02 09:02:00,中央2,S01,交通事故,軽症,少年,,,"
    "43101-D02",
]
HOURLY_H = "覚知年,覚知月,覚知日,覚知時,件数"
HOURLY = ["2024,7,1,0,3", "2024,7,1,1,2", "2024,7,1,2,4"]
POP_H = "地区コード,地区名,区コード,人口,65歳以上人口"
POP = ["43101-D01,中央1,43101,12000,3000", "43102-D01,東1,43102,15000,4000", "43104-D02,南2,43104,9000,2500"]
PROJ_H = "year,kind,total,age65plus"
PROJ = ["2015,census,740822,181000", "2020,census,738865,200000", "2025,ipss,730000,"]
ST_H = "署所コード,署所名,区分,救急隊数_24時間,救急隊数_日勤,緯度,経度"
ST = ["S01,中央消防署,消防署,2,0,32.80,130.71", "S02,東出張所,出張所,1,1,32.78,130.77"]
COUNTER_H = "日付,曜日,受付件数,平均待ち時間(分),最大待ち時間(分),窓口職員数,備考"
COUNTER = ["2024/4/26,金,12,15,48,2,", "2024/4/27,土,0,,,,閉庁", "2024/4/30,火,17,22,61,2,", "2024/5/1,水,9,,,2,"]
EXPIRY_H = "有効期限月,使用者証数"
EXPIRY = [f"{m},{100 + m}" for m in range(1, 13)]
JMA_HEAD = (
    "ダウンロードした時刻：2024/05/01 10:00:00\r\n\r\n"
    ",熊本,熊本,熊本,熊本,熊本,熊本,熊本\r\n"
    "年月日,平均気温(℃),平均気温(℃),平均気温(℃),降水量の合計(mm),降水量の合計(mm),降水量の合計(mm),降水量の合計(mm)\r\n"
    ",,,,,現象なし情報,,\r\n"
    ",,品質情報,均質番号,,現象なし情報,品質情報,均質番号\r\n"
)
JMA = ["2023/1/1,6.5,8,1,0.0,1,8,1", "2023/1/2,7.0,8,1,12.5,0,8,1", "2023/1/3,8.1,8,1,3.0,0,8,1"]
FIX_H = "device_id,school_id,school_name,grade,timestamp,lat,lon,accuracy,battery"
FIXES = [
    "D001,S01,A小学校,1,2026-10-05 07:31:00,32.803100,130.741700,8,90",
    "D002,S01,A小学校,3,2026-10-05 07:31:30,32.803300,130.741900,12,75",
    "D001,S01,A小学校,1,2026-10-05 07:34:00,32.804100,130.741700,9,90",
]
SCHOOLS_H = "school_id,school_name,lat,lon"
SCHOOLS = ["S01,A小学校,32.8031,130.7417", "S02,B小学校,32.7900,130.7000"]
CROSS_H = "crossing_id,crossing_name,lat,lon"
CROSS = ["X00001,中央,32.8031,130.7417", "X00002,東,32.7900,130.7500"]
MEAS_H = "施策ID,施策名,区域種別,区域コード,状態,開始年月"
MEAS = [
    "Z30-001,ゾーン30,500mメッシュ,493015134,実施,2020-07",
    "Z30-002,ゾーン30,500mメッシュ,493015241,候補（未実施）,",
    "CITY-001,市全域,市区町村,43100,実施,2020-10",
]
HTML = "<!DOCTYPE html>\n<html><head><title>エラー</title></head><body>ログインしてください</body></html>\n"


def _set(rows: list[str], i: int, header: str, col: str, value: str) -> list[str]:
    out = [r.split(",") for r in rows]
    out[i][header.split(",").index(col)] = value
    return [",".join(r) for r in out]


def _drop(header: str, rows: list[str], col: str) -> tuple[str, list[str]]:
    k = header.split(",").index(col)
    cut = [",".join(c for j, c in enumerate(r.split(",")) if j != k) for r in [header, *rows]]
    return cut[0], cut[1:]


def _feature_collection(features) -> str:
    return json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False)


def _square(x, y, d=0.01):
    return {"type": "Polygon", "coordinates": [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]}


DISTRICTS = [
    {
        "type": "Feature",
        "properties": {"district_code": "43101-D01", "district_name": "中央1"},
        "geometry": _square(130.70, 32.79),
    },
    {
        "type": "Feature",
        "properties": {"district_code": "43101-D02", "district_name": "中央2"},
        "geometry": _square(130.72, 32.79),
    },
]
ROUTES = [
    {
        "type": "Feature",
        "properties": {"segment_id": "G1", "school_id": "S01"},
        "geometry": {"type": "LineString", "coordinates": [[130.74, 32.80], [130.742, 32.801]]},
    },
    {
        "type": "Feature",
        "properties": {"segment_id": "G2", "school_id": "S01"},
        "geometry": {"type": "LineString", "coordinates": [[130.742, 32.801], [130.744, 32.802]]},
    },
]
SMALL_AREAS = [
    {
        "type": "Feature",
        "properties": {
            "KEY_CODE": "431010010",
            "S_NAME": "A町",
            "PREF": "43",
            "CITY": "101",
            "CITY_NAME": "熊本市中央区",
        },
        "geometry": _square(130.70, 32.79),
    }
]


def _honhyo_raw(n: int = 6) -> pd.DataFrame:
    return npa_accidents.read_gpkg_raw(npa_accidents.GPKG_FILE).head(n).reset_index(drop=True)


def _positions() -> pd.DataFrame:
    rows = [
        {
            "run_date": 20251006,
            "opid": f"{t // 2:012d}",
            "gps_time": 20251006073000 + t * 100 + k * 10,
            "trip_no": t % 2 + 1,
            "lon": 130.70 + 0.001 * k,
            "lat": 32.80 + 0.0005 * t,
            "speed_kmh": 30.0 + k,
        }
        for t in range(3)
        for k in range(4)
    ]
    return pd.DataFrame(rows)


def _events() -> pd.DataFrame:
    n = 3
    return pd.DataFrame(
        {
            "opid": [f"{i:012d}" for i in range(n)],
            "trip_no": [1] * n,
            "event_time": [20251006080000 + i for i in range(n)],
            "lon": [130.71] * n,
            "lat": [32.79] * n,
            "heading": [3] * n,
            "speed_kmh": [40.0] * n,
            "accel_long_g": [-0.35, -0.26, -0.5],
            "accel_lat_g": [0.0, 0.0, 0.01],
            "trigger": ["前後", "前後", "前後"],
        }
    )


# ----------------------------------------------------------------------------------- readers
@dataclass(frozen=True)
class Reader:
    name: str
    suffix: str  # file name suffix of the input
    read: Callable[[Path], object]  # how a notebook calls it
    good: Callable[[Path], None]  # writes a valid file at the path
    text: bool = True  # a CSV-like text input (HTML and encoding cases apply)


def _text(content: str, encoding: str = "utf-8") -> Callable[[Path], None]:
    return lambda p: p.write_bytes(content.encode(encoding))


def _copy(src: Path) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(src.read_bytes())


def _write_honhyo(raw: pd.DataFrame, encoding: str = "cp932") -> Callable[[Path], None]:
    return lambda p: npa_accidents.to_honhyo_csv(raw, p, encoding=encoding)


def _write_delivery(df: pd.DataFrame, kind: str = "1-2") -> Callable[[Path], None]:
    return lambda p: etc2.write_delivery(df, p, kind)


READERS = {
    r.name: r
    for r in [
        Reader(
            "census",
            ".csv",
            lambda p: census_microdata.read_census_microdata(p, city_code=CITY),
            _copy(FIX / "census" / "microdata_small_utf8.csv"),
        ),
        Reader(
            "checkups",
            ".csv",
            lambda p: dental_sheet.read_checkup_sheets(p),
            _copy(FIX / "dental" / "sheet_japanese_utf8.csv"),
        ),
        Reader(
            "facilities",
            ".csv",
            lambda p: dental_sheet.read_facilities(p, city=CITY),
            _copy(FIX / "dental" / "facilities_cp932.csv"),
        ),
        Reader(
            "dispatch",
            ".csv",
            lambda p: dispatch_log.read_dispatch_log(p),
            _text(_lines(DISPATCH_H, DISPATCH), "cp932"),
        ),
        Reader("hourly", ".csv", lambda p: dispatch_log.read_hourly_counts(p), _text(_lines(HOURLY_H, HOURLY))),
        Reader(
            "population",
            ".csv",
            lambda p: dispatch_log.read_district_population(p, city=CITY),
            _text(_lines(POP_H, POP)),
        ),
        Reader("projection", ".csv", lambda p: dispatch_log.read_population_projection(p), _text(_lines(PROJ_H, PROJ))),
        Reader(
            "districts",
            ".geojson",
            lambda p: dispatch_log.read_districts(p, city=CITY),
            _text(_feature_collection(DISTRICTS)),
            text=False,
        ),
        Reader("stations", ".csv", lambda p: stations.read_stations(p), _text(_lines(ST_H, ST), "cp932")),
        Reader(
            "counter", ".csv", lambda p: counter_log.read_counter_log(p), _text(_lines(COUNTER_H, COUNTER), "cp932")
        ),
        Reader("expiry", ".csv", lambda p: counter_log.read_expiry_register(p), _text(_lines(EXPIRY_H, EXPIRY))),
        Reader(
            "jma_daily",
            ".csv",
            lambda p: jma.read_jma_daily(p),
            _text(JMA_HEAD + "".join(r + "\r\n" for r in JMA), "cp932"),
        ),
        Reader(
            "jma_normals",
            ".csv",
            lambda p: jma.read_jma_normals(p, station_no="47819"),
            _copy(paths.raw("jma-normals-kumamoto", "kumamoto_47819_normals_1991_2020.csv")),
        ),
        Reader(
            "jma_stations",
            ".csv",
            lambda p: jma.read_jma_stations(p),
            _text("station,station_no,latitude,longitude\r\n熊本,47819,32.8133,130.7067\r\n"),
        ),
        Reader("honhyo", ".csv", lambda p: npa_accidents.read_honhyo_csv(p), lambda p: _write_honhyo(_honhyo_raw())(p)),
        Reader(
            "gpkg", ".gpkg", lambda p: npa_accidents.read_accidents_gpkg(p), _copy(npa_accidents.GPKG_FILE), text=False
        ),
        Reader(
            "positions",
            ".zip",
            lambda p: etc2.read_positions(p),
            lambda p: _write_delivery(_positions())(p),
            text=False,
        ),
        Reader(
            "events", ".zip", lambda p: etc2.read_events(p), lambda p: _write_delivery(_events(), "1-4")(p), text=False
        ),
        Reader("fixes", ".csv", lambda p: school_fixes.read_fixes(p), _text(_lines(FIX_H, FIXES))),
        Reader("schools", ".csv", lambda p: school_fixes.read_schools(p), _text(_lines(SCHOOLS_H, SCHOOLS))),
        Reader("crossings", ".csv", lambda p: school_fixes.read_crossings(p), _text(_lines(CROSS_H, CROSS))),
        Reader(
            "routes",
            ".geojson",
            lambda p: school_fixes.read_designated_routes(p),
            _text(_feature_collection(ROUTES)),
            text=False,
        ),
        Reader("measures", ".csv", lambda p: measures.read_measures(p), _text(_lines(MEAS_H, MEAS))),
        Reader(
            "estat_api", ".csv", lambda p: estat.read_estat_api_csv(p), _copy(FIX / "census" / "api_commuting_utf8.csv")
        ),
        Reader(
            "estat_gis",
            ".csv",
            lambda p: estat.read_estat_gis_csv(p),
            _copy(FIX / "census" / "gis_commuting_cp932.csv"),
        ),
        Reader(
            "small_areas",
            ".geojson",
            lambda p: estat.read_small_area_boundaries(p),
            _text(_feature_collection(SMALL_AREAS)),
            text=False,
        ),
    ]
}


# ----------------------------------------------------------------------------------- cases
@dataclass(frozen=True)
class Case:
    id: str
    reader: str
    build: Callable[[Path], Path]  # writes the bad input under the folder given, returns its path
    expect: str  # a fragment the message must contain


CASES: list[Case] = []


def case(reader: str, what: str, expect: str, build: Callable[[Path], Path]) -> None:
    CASES.append(Case(f"{reader}-{what}", reader, build, expect))


def file_case(reader: str, what: str, expect: str, write: Callable[[Path], None]) -> None:
    def build(d: Path) -> Path:
        p = d / f"input{READERS[reader].suffix}"
        write(p)
        return p

    case(reader, what, expect, build)


def text_case(reader: str, what: str, expect: str, content: str, encoding: str = "utf-8") -> None:
    file_case(reader, what, expect, _text(content, encoding))


# Every reader: a folder instead of a file, a missing file; every text reader also an HTML page, a UTF-16 file
# and an empty (0-byte) file.
for name, r in READERS.items():

    def folder(d: Path, r=r) -> Path:
        p = d / f"folder{r.suffix}"  # checkup sheets may be a folder of CSVs: an empty one is refused
        p.mkdir()
        return p

    case(
        name,
        "folder",
        "no files matching" if name == "checkups" else "no ZIP files found" if r.suffix == ".zip" else "is a folder",
        folder,
    )
    case(name, "missing", "file not found", lambda d, r=r: d / f"missing{r.suffix}")
    if r.text:
        text_case(name, "html", "HTML", HTML)
        text_case(name, "utf16", "NUL byte at byte", "日付,件数\r\n2024/4/1,3\r\n", "utf-16")
        text_case(
            name,
            "empty-file",
            {"jma_daily": "no header row", "estat_api": 'no "VALUE" line', "estat_gis": "fewer than two lines"}.get(
                name, "empty"
            ),
            "",
        )

# census microdata (common + city codes)
_cen = (FIX / "census" / "microdata_small_utf8.csv").read_text(encoding="utf-8-sig").splitlines()
CEN_H, CEN = _cen[0], _cen[1:]
text_case("census", "header-only", "no data rows", _lines(CEN_H, []))
text_case("census", "missing-column", "missing column(s) '従業地'", _lines(*_drop(CEN_H, CEN, "従業地")))
text_case("census", "unknown-workplace", "unknown code(s) ['7']", _lines(CEN_H, _set(CEN, 0, CEN_H, "従業地", "7")))
text_case(
    "census",
    "ward-code-missing-digit",
    "malformed codes ['4310']",
    _lines(CEN_H, _set(CEN, 0, CEN_H, "常住市区町村コード", "4310")),
)
text_case(
    "census",
    "other-city",
    "outside city",
    _lines(CEN_H, _set(_set(CEN, 0, CEN_H, "常住市区町村コード", "13101"), 0, CEN_H, "常住地コード", "131010001")),
)
text_case("census", "unknown-age", "unknown code(s) ['99']", _lines(CEN_H, _set(CEN, 1, CEN_H, "年齢階級", "99")))

# dental checkup sheets and facilities
_sh = (FIX / "dental" / "sheet_japanese_utf8.csv").read_text(encoding="utf-8").splitlines()
SH_H, SH = _sh[0], _sh[1:]
text_case("checkups", "header-only", "no data rows", _lines(SH_H, []))
text_case("checkups", "date-2099", "implausible value", _lines(SH_H, _set(SH, 0, SH_H, "健診日", "2099/05/12")))
text_case("checkups", "age-12", "impossible ages", _lines(SH_H, _set(SH, 0, SH_H, "年齢", "12")))
text_case("checkups", "duplicate-row", "duplicate exams", _lines(SH_H, SH + SH[:1]))
text_case("checkups", "unknown-symbol", "unknown symbols", _lines(SH_H, _set(SH, 0, SH_H, "右上B", "Q")))
text_case("checkups", "missing-tooth", "missing tooth column(s) 右上A", _lines(*_drop(SH_H, SH, "右上A")))
text_case("checkups", "snacks-99", "impossible values", _lines(SH_H, _set(SH, 0, SH_H, "間食回数", "99")))
text_case(
    "checkups", "unreadable-date", "unreadable dates", _lines(SH_H, _set(SH, 0, SH_H, "健診日", "令和8年5月12日"))
)
_fa = (FIX / "dental" / "facilities_cp932.csv").read_text(encoding="cp932").splitlines()
FA_H, FA = _fa[0], _fa[1:]
text_case(
    "facilities", "ward-code-4310", "unknown code(s) ['4310']", _lines(FA_H, _set(FA, 0, FA_H, "区コード", "4310"))
)
text_case(
    "facilities",
    "ward-of-another-city",
    "unknown code(s) ['13101']",
    _lines(FA_H, _set(FA, 1, FA_H, "区コード", "13101")),
)
text_case(
    "facilities", "swapped", "swapped", _lines(FA_H, _set(_set(FA, 0, FA_H, "緯度", "130.74"), 0, FA_H, "経度", "32.8"))
)
text_case(
    "facilities", "null-island", "null-island", _lines(FA_H, _set(_set(FA, 0, FA_H, "緯度", "0"), 0, FA_H, "経度", "0"))
)
text_case("facilities", "duplicate-code", "duplicate facility codes", _lines(FA_H, FA + FA[:1]))
text_case("facilities", "header-only", "no data rows", _lines(FA_H, []))
text_case(
    "facilities", "unknown-type", "unknown facility types", _lines(FA_H, _set(FA, 0, FA_H, "施設種別", "学童保育"))
)
text_case("facilities", "lat-with-unit", "non-numeric", _lines(FA_H, _set(FA, 0, FA_H, "緯度", "北緯32.8")))

# dispatch log
text_case(
    "dispatch",
    "duplicate-row",
    "duplicate dispatch rows (identical rows",
    _lines(DISPATCH_H, DISPATCH + DISPATCH[:1]),
    "cp932",
)
text_case(
    "dispatch",
    "duplicate-incident-crew",
    "same 事案番号 + 出場隊",
    _lines(DISPATCH_H, DISPATCH + _set(DISPATCH, 0, DISPATCH_H, "覚知日時", "2024/07/01 09:59:00")[:1]),
    "cp932",
)
_d2099 = DISPATCH
for _c in ("覚知日時", "出場日時", "現着日時", "病院着日時"):
    _d2099 = _set(
        _d2099, 0, DISPATCH_H, _c, _d2099[0].split(",")[DISPATCH_H.split(",").index(_c)].replace("2024", "2099")
    )
text_case("dispatch", "dates-2099", "implausible value", _lines(DISPATCH_H, _d2099), "cp932")
text_case(
    "dispatch",
    "time-order",
    "earlier than",
    _lines(DISPATCH_H, _set(DISPATCH, 0, DISPATCH_H, "現着日時", "2024/07/01 09:00:00")),
    "cp932",
)
text_case(
    "dispatch",
    "unknown-type",
    "unknown codes ['事故']",
    _lines(DISPATCH_H, _set(DISPATCH, 0, DISPATCH_H, "事故種別", "事故")),
    "cp932",
)
text_case(
    "dispatch",
    "null-island",
    "null-island",
    _lines(DISPATCH_H, _set(_set(DISPATCH, 0, DISPATCH_H, "緯度", "0"), 0, DISPATCH_H, "経度", "0")),
    "cp932",
)
text_case(
    "dispatch",
    "swapped",
    "swapped",
    _lines(DISPATCH_H, _set(_set(DISPATCH, 0, DISPATCH_H, "緯度", "130.7417"), 0, DISPATCH_H, "経度", "32.8031")),
    "cp932",
)
text_case("dispatch", "header-only", "no data rows", _lines(DISPATCH_H, []), "cp932")
text_case(
    "dispatch",
    "unparseable-time",
    "unparseable or missing times",
    _lines(DISPATCH_H, _set(DISPATCH, 1, DISPATCH_H, "覚知日時", "昨日")),
    "cp932",
)
text_case(
    "dispatch", "missing-column", "missing column(s) '出場隊'", _lines(*_drop(DISPATCH_H, DISPATCH, "出場隊")), "cp932"
)
text_case(
    "dispatch",
    "ragged-row",
    "not a well-formed CSV",
    _lines(DISPATCH_H, DISPATCH + ["R9,a,b,c,d,e,f,g,h,i,j,k,l,m,n,o"]),
    "cp932",
)
text_case("dispatch", "huge-line", "not a well-formed CSV", _lines(DISPATCH_H, DISPATCH + ["x," * 300_000]), "cp932")

# hourly counts, district population, projection, districts, stations
text_case("hourly", "count-99999", "implausible value", _lines(HOURLY_H, _set(HOURLY, 0, HOURLY_H, "件数", "99999")))
text_case("hourly", "year-2099", "implausible value", _lines(HOURLY_H, _set(HOURLY, 0, HOURLY_H, "覚知年", "2099")))
text_case("hourly", "hour-24", "hour outside 0–23", _lines(HOURLY_H, _set(HOURLY, 0, HOURLY_H, "覚知時", "24")))
text_case("hourly", "duplicate-hour", "duplicate date-hour rows", _lines(HOURLY_H, HOURLY + HOURLY[:1]))
text_case("hourly", "header-only", "no data rows", _lines(HOURLY_H, []))
text_case("hourly", "no-count-column", "no count column", _lines(*_drop(HOURLY_H, HOURLY, "件数")))
text_case(
    "hourly",
    "february-30",
    "impossible dates",
    _lines(HOURLY_H, _set(_set(HOURLY, 0, HOURLY_H, "覚知月", "2"), 0, HOURLY_H, "覚知日", "30")),
)
text_case(
    "population", "ward-code-4310", "unknown code(s) ['4310']", _lines(POP_H, _set(POP, 0, POP_H, "区コード", "4310"))
)
text_case("population", "zero-population", "implausible value", _lines(POP_H, _set(POP, 0, POP_H, "人口", "0")))
text_case(
    "population",
    "more-old-than-all",
    "65歳以上人口 between 0 and 人口",
    _lines(POP_H, _set(POP, 0, POP_H, "65歳以上人口", "20000")),
)
text_case("population", "duplicate-district", "duplicate district codes", _lines(POP_H, POP + POP[:1]))
text_case("population", "header-only", "no data rows", _lines(POP_H, []))
text_case("population", "population-5m", "implausible value", _lines(POP_H, _set(POP, 0, POP_H, "人口", "5000000")))
text_case("projection", "duplicate-year", "duplicate years", _lines(PROJ_H, PROJ + PROJ[:1]))
text_case("projection", "zero-total", "non-positive totals", _lines(PROJ_H, _set(PROJ, 0, PROJ_H, "total", "0")))
text_case("projection", "header-only", "no data rows", _lines(PROJ_H, []))
text_case("districts", "no-features", "no data rows", _feature_collection([]))
text_case(
    "districts",
    "no-district-code",
    "missing property 'district_code'",
    _feature_collection([{**f, "properties": {"name": "x"}} for f in DISTRICTS]),
)
text_case("districts", "not-json", "not a readable vector file", "district_code;geometry\nD01;POLYGON((0 0))\n")
text_case("districts", "html", "not a readable vector file", HTML)
text_case(
    "stations",
    "negative-crews",
    "crew counts must be whole numbers",
    _lines(ST_H, _set(ST, 0, ST_H, "救急隊数_24時間", "-1")),
    "cp932",
)
text_case(
    "stations", "99-crews", "implausible value", _lines(ST_H, _set(ST, 0, ST_H, "救急隊数_24時間", "99")), "cp932"
)
text_case(
    "stations",
    "swapped",
    "swapped",
    _lines(ST_H, _set(_set(ST, 0, ST_H, "緯度", "130.71"), 0, ST_H, "経度", "32.8")),
    "cp932",
)
text_case("stations", "duplicate-code", "blank or duplicate station codes", _lines(ST_H, ST + ST[:1]), "cp932")
text_case(
    "stations", "no-crews", "no ambulance crews", _lines(ST_H, [_set(ST, 0, ST_H, "救急隊数_24時間", "0")[0]]), "cp932"
)
text_case("stations", "header-only", "no data rows", _lines(ST_H, []), "cp932")
text_case("stations", "unknown-kind", "unknown station kind", _lines(ST_H, _set(ST, 0, ST_H, "区分", "本部")), "cp932")

# counter log and expiry register
text_case(
    "counter",
    "wait-9999",
    "implausible value",
    _lines(COUNTER_H, _set(COUNTER, 0, COUNTER_H, "平均待ち時間(分)", "9999")),
    "cp932",
)
text_case(
    "counter",
    "date-2099",
    "implausible value",
    _lines(COUNTER_H, _set(_set(COUNTER, 0, COUNTER_H, "日付", "2099/4/27"), 0, COUNTER_H, "曜日", "")),
    "cp932",
)
text_case(
    "counter",
    "count-99999",
    "implausible value",
    _lines(COUNTER_H, _set(COUNTER, 0, COUNTER_H, "受付件数", "99999")),
    "cp932",
)
text_case("counter", "duplicate-date", "duplicate dates", _lines(COUNTER_H, COUNTER + COUNTER[:1]), "cp932")
text_case("counter", "only-closed-days", "every listed day is a closed day", _lines(COUNTER_H, [COUNTER[1]]), "cp932")
text_case("counter", "header-only", "no data rows", _lines(COUNTER_H, []), "cp932")
text_case(
    "counter",
    "weekday-mismatch",
    "does not match date",
    _lines(COUNTER_H, _set(COUNTER, 0, COUNTER_H, "曜日", "月")),
    "cp932",
)
text_case(
    "counter",
    "count-with-unit",
    "non-numeric values",
    _lines(COUNTER_H, _set(COUNTER, 0, COUNTER_H, "受付件数", "12件")),
    "cp932",
)
text_case("expiry", "month-13", "months outside 1–12", _lines(EXPIRY_H, _set(EXPIRY, 0, EXPIRY_H, "有効期限月", "13")))
text_case(
    "expiry",
    "duplicate-month",
    "each month must appear exactly once",
    _lines(EXPIRY_H, _set(EXPIRY, 1, EXPIRY_H, "有効期限月", "1")),
)
text_case(
    "expiry",
    "negative",
    "permit counts must be whole numbers",
    _lines(EXPIRY_H, _set(EXPIRY, 0, EXPIRY_H, "使用者証数", "-1")),
)
text_case(
    "expiry", "too-many", "implausible value", _lines(EXPIRY_H, _set(EXPIRY, 0, EXPIRY_H, "使用者証数", "99999999"))
)
text_case("expiry", "eleven-months", "each month must appear exactly once", _lines(EXPIRY_H, EXPIRY[:11]))

# JMA daily / normals / stations
text_case(
    "jma_daily",
    "temperature-999",
    "implausible value",
    JMA_HEAD + "".join(r + "\r\n" for r in [JMA[0].replace("6.5", "999"), *JMA[1:]]),
    "cp932",
)
text_case(
    "jma_daily",
    "date-2099",
    "implausible value",
    JMA_HEAD + "".join(r + "\r\n" for r in [JMA[0].replace("2023/1/1", "2099/1/1"), *JMA[1:]]),
    "cp932",
)
text_case(
    "jma_daily",
    "precip-negative",
    "implausible value",
    JMA_HEAD + "".join(r + "\r\n" for r in [JMA[1].replace("12.5", "-5"), JMA[0]]),
    "cp932",
)
text_case(
    "jma_daily", "duplicate-date", "duplicate dates", JMA_HEAD + "".join(r + "\r\n" for r in [*JMA, JMA[0]]), "cp932"
)
text_case("jma_daily", "no-rows", "no data rows", JMA_HEAD, "cp932")
text_case("jma_daily", "no-header", "no header row", "".join(r + "\r\n" for r in JMA), "cp932")
text_case(
    "jma_daily",
    "temperature-text",
    "non-numeric values",
    JMA_HEAD + "".join(r + "\r\n" for r in [JMA[0].replace("6.5", "暖かい"), *JMA[1:]]),
    "cp932",
)
text_case("jma_normals", "no-month-column", "missing column 'month'", "station_no,temp\r\n47819,16.9\r\n")
text_case("jma_normals", "other-station", "no normals for station", "station_no,month,temp_mean\r\n47607,1月,2.0\r\n")
text_case("jma_normals", "temperature-999", "implausible value(s) ['999']",
          "station_no,month,temperature\r\n47819,1月,6.0\r\n47819,2月,999 @\r\n")
text_case("jma_normals", "text-value", "value(s) that are not numbers",
          "station_no,month,temperature\r\n47819,1月,6.0\r\n47819,2月,six\r\n")
text_case("jma_stations", "missing-columns", "missing columns", "station,number\r\n熊本,47819\r\n")
text_case(
    "jma_stations",
    "no-coordinates",
    "station without a number or coordinates",
    "station,station_no,latitude,longitude\r\n熊本,47819,,130.7\r\n",
)

# 本票 CSV and GeoPackage
_raw = _honhyo_raw()
file_case("honhyo", "duplicate-rows", "duplicate 本票 rows", lambda p: _write_honhyo(pd.concat([_raw, _raw]))(p))
file_case(
    "honhyo",
    "year-2099",
    "implausible value",
    lambda p: _write_honhyo(_raw.assign(**{npa_accidents.YEAR: ["2099"] + list(_raw[npa_accidents.YEAR][1:])}))(p),
)
file_case(
    "honhyo",
    "deaths-999",
    "implausible value",
    lambda p: _write_honhyo(_raw.assign(死者数=["999"] + list(_raw["死者数"][1:])))(p),
)
file_case("honhyo", "header-only", "no data rows", lambda p: _write_honhyo(_raw.head(0))(p))
file_case(
    "honhyo",
    "swapped-coordinates",
    "impossible coordinates",
    lambda p: _write_honhyo(_raw.assign(**{npa_accidents.LAT: "1304500000", npa_accidents.LON: "324800000"}))(p),
)
file_case("honhyo", "unknown-weather", "unknown code(s) ['9']", lambda p: _write_honhyo(_raw.assign(天候="9"))(p))
file_case(
    "honhyo",
    "missing-column",
    "header matches neither",
    lambda p: (
        p.write_bytes(_lines(",".join(c for c in npa_accidents.COLUMNS_2019 if c != "天候"), []).encode("cp932"))
    ),
)
file_case("honhyo", "utf8-file", "decodes as utf-8", lambda p: _write_honhyo(_raw, "utf-8")(p))
file_case(
    "honhyo",
    "impossible-date",
    "impossible date/time",
    lambda p: _write_honhyo(_raw.assign(**{npa_accidents.MONTH: "02", npa_accidents.DAY: "30"}))(p),
)
text_case("gpkg", "text-file", "not a GeoPackage", "this is not a database\n")
text_case("gpkg", "html", "not a GeoPackage", HTML)


def _sqlite_without_gpkg(p: Path) -> None:
    con = sqlite3.connect(p)
    con.execute("create table t (a int)")
    con.commit()
    con.close()


file_case("gpkg", "plain-sqlite", "not a GeoPackage", _sqlite_without_gpkg)


def _truncated(p: Path) -> None:
    _write_delivery(_positions())(p)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])


def _zip_of(members: dict[str, bytes]) -> Callable[[Path], None]:
    def write(p: Path) -> None:
        with zipfile.ZipFile(p, "w") as zf:
            for name, data in members.items():
                zf.writestr(name, data)

    return write


_pos = _positions()
file_case(
    "positions",
    "duplicate-rows",
    "duplicate position rows",
    lambda p: _write_delivery(
        pd.concat([_pos, _pos.iloc[[0]]]).sort_values(["opid", "trip_no", "gps_time"], kind="stable")
    )(p),
)
file_case(
    "positions",
    "swapped",
    "lat/lon may be swapped",
    lambda p: _write_delivery(_pos.assign(lat=_pos["lon"], lon=_pos["lat"]))(p),
)
file_case("positions", "speed-999", "out of range", lambda p: _write_delivery(_pos.assign(speed_kmh=999.0))(p))
file_case("positions", "time-backwards", "time goes backwards", lambda p: _write_delivery(_pos.iloc[[1, 0, 2, 3]])(p))
file_case("positions", "not-a-time", "not a time", lambda p: _write_delivery(_pos.assign(gps_time=20251306073000))(p))
file_case("positions", "truncated-zip", "not a ZIP", _truncated)
file_case("positions", "no-csv-inside", "no CSV inside", _zip_of({"readme.txt": b"hello"}))
file_case("positions", "empty-csv-inside", "inner CSV is empty", _zip_of({"data.csv": b""}))
file_case("positions", "too-few-columns", "only 3 columns", _zip_of({"data.csv": b"1,2,3\r\n4,5,6\r\n"}))
text_case("positions", "text-file", "not a ZIP", "OUT1-2 delivery\n")
text_case("positions", "html", "not a ZIP", HTML)
_ev = _events()
file_case("events", "accel-5g", "out of range", lambda p: _write_delivery(_ev.assign(accel_long_g=5.0), "1-4")(p))
file_case(
    "events", "missing-time", "not a time", lambda p: _write_delivery(_ev.assign(event_time=20251006996000), "1-4")(p)
)
file_case("events", "truncated-zip", "not a ZIP", _truncated)

# school-route fixes, schools, crossings, designated routes
text_case("fixes", "accuracy-99999", "implausible value", _lines(FIX_H, _set(FIXES, 0, FIX_H, "accuracy", "99999")))
text_case(
    "fixes",
    "timestamp-2099",
    "implausible value",
    _lines(FIX_H, _set(FIXES, 0, FIX_H, "timestamp", "2099-10-05 07:31:00")),
)
text_case(
    "fixes", "null-island", "null-island", _lines(FIX_H, _set(_set(FIXES, 0, FIX_H, "lat", "0"), 0, FIX_H, "lon", "0"))
)
text_case(
    "fixes",
    "swapped",
    "swapped",
    _lines(FIX_H, _set(_set(FIXES, 0, FIX_H, "lat", "130.7417"), 0, FIX_H, "lon", "32.8031")),
)
text_case("fixes", "duplicate-fix", "duplicate fixes", _lines(FIX_H, FIXES + FIXES[2:3]))
text_case("fixes", "header-only", "no data rows", _lines(FIX_H, []))
text_case("fixes", "missing-column", "missing column(s) 'accuracy'", _lines(*_drop(FIX_H, FIXES, "accuracy")))
text_case("fixes", "time-backwards", "time goes backwards", _lines(FIX_H, [FIXES[2], FIXES[1], FIXES[0]]))
for _r, _h, _rows in (("schools", SCHOOLS_H, SCHOOLS), ("crossings", CROSS_H, CROSS)):
    text_case(
        _r, "swapped", "swapped", _lines(_h, _set(_set(_rows, 0, _h, "lat", "130.7417"), 0, _h, "lon", "32.8031"))
    )
    text_case(_r, "null-island", "null-island", _lines(_h, _set(_set(_rows, 0, _h, "lat", "0"), 0, _h, "lon", "0")))
    text_case(_r, "duplicate-id", "duplicate", _lines(_h, _rows + _rows[:1]))
    text_case(_r, "header-only", "no data rows", _lines(_h, []))
    text_case(_r, "lat-text", "non-numeric coordinates", _lines(_h, _set(_rows, 0, _h, "lat", "北緯32")))
text_case(
    "routes",
    "points",
    "geometry types",
    _feature_collection([{**f, "geometry": {"type": "Point", "coordinates": [130.74, 32.80]}} for f in ROUTES]),
)
text_case("routes", "duplicate-segment", "duplicate segment ids", _feature_collection(ROUTES + ROUTES[:1]))
text_case("routes", "no-features", "no data rows", _feature_collection([]))
text_case("routes", "not-json", "not a readable vector file", "segment_id;school_id\nG1;S01\n")
text_case(
    "routes",
    "no-segment-id",
    "missing column(s) 'segment_id'",
    _feature_collection([{**f, "properties": {"school_id": "S01"}} for f in ROUTES]),
)

# measures register
text_case(
    "measures",
    "duplicate-id",
    "duplicate measure rows",
    _lines(MEAS_H, MEAS + [MEAS[0].replace("493015134", "493015135")]),
)
text_case(
    "measures",
    "unknown-city",
    "unknown 市区町村 code(s) ['43999']",
    _lines(MEAS_H, _set(MEAS, 2, MEAS_H, "区域コード", "43999")),
)
text_case("measures", "start-2099", "in the future", _lines(MEAS_H, _set(MEAS, 0, MEAS_H, "開始年月", "2099-07")))
text_case("measures", "header-only", "no data rows", _lines(MEAS_H, []))
text_case("measures", "unknown-status", "unknown 状態", _lines(MEAS_H, _set(MEAS, 0, MEAS_H, "状態", "検討中")))
text_case("measures", "mesh-8-digits", "bad area code", _lines(MEAS_H, _set(MEAS, 0, MEAS_H, "区域コード", "49301513")))
text_case(
    "measures",
    "same-area-twice",
    "an area is listed twice",
    _lines(MEAS_H, MEAS + [MEAS[0].replace("Z30-001", "Z30-009")]),
)

# e-Stat API CSV, 統計GIS CSV, small-area boundaries
_api = (FIX / "census" / "api_commuting_utf8.csv").read_text(encoding="utf-8-sig").splitlines()
_v = next(i for i, ln in enumerate(_api) if ln.strip('"') == "VALUE")
text_case("estat_api", "no-data-rows", "no data rows", "\r\n".join(_api[: _v + 2]) + "\r\n")
text_case("estat_api", "duplicate-cell", "duplicate cells", "\r\n".join(_api + _api[_v + 2 : _v + 3]) + "\r\n")
text_case(
    "estat_api",
    "value-with-unit",
    "unknown value(s)",
    "\r\n".join(_api[: _v + 2] + [_api[_v + 2].rsplit(",", 2)[0] + ',"12人",""'] + _api[_v + 3 :]) + "\r\n",
)
text_case(
    "estat_api",
    "api-error",
    "API status",
    "\r\n".join(ln.replace('"STATUS","0"', '"STATUS","100"') for ln in _api) + "\r\n",
)
text_case("estat_api", "no-value-line", 'no "VALUE" line', "\r\n".join(_api[:_v]) + "\r\n")
_gis = (FIX / "census" / "gis_commuting_cp932.csv").read_text(encoding="cp932").splitlines()
text_case("estat_gis", "no-data-rows", "no data rows", "\r\n".join(_gis[:2]) + "\r\n", "cp932")
text_case("estat_gis", "duplicate-area", "duplicate areas", "\r\n".join(_gis + _gis[2:3]) + "\r\n", "cp932")
text_case(
    "estat_gis",
    "unknown-htksyori",
    "unknown code(s) ['7']",
    "\r\n".join(_gis[:2] + [_gis[2].replace(",1,熊本市中央区,,0,", ",1,熊本市中央区,,7,")] + _gis[3:]) + "\r\n",
    "cp932",
)
text_case("estat_gis", "ragged", "different number of fields", "\r\n".join(_gis + ["43102,1,東区"]) + "\r\n", "cp932")
text_case(
    "estat_gis",
    "value-text",
    "unknown value(s)",
    "\r\n".join(_gis[:2] + [_gis[2].replace("  1000,", "  千,")] + _gis[3:]) + "\r\n",
    "cp932",
)
text_case(
    "small_areas",
    "no-key-code",
    "missing attribute 'KEY_CODE'",
    _feature_collection([{**f, "properties": {"S_NAME": "A町"}} for f in SMALL_AREAS]),
)
text_case("small_areas", "no-features", "no data rows", _feature_collection([]))
text_case("small_areas", "not-json", "not a readable vector file", "KEY_CODE\n431010010\n")


# ----------------------------------------------------------------------------------- tests
def test_the_corpus_covers_every_reader_with_over_100_bad_files():
    assert len(CASES) >= 100
    assert {c.reader for c in CASES} == set(READERS)
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("name", sorted(READERS))
def test_templates_are_valid(tmp_path, name):
    r = READERS[name]
    p = tmp_path / f"good{r.suffix}"
    r.good(p)
    out = r.read(p)
    frame = out.exams if hasattr(out, "exams") else out
    assert len(frame) > 0


def test_every_bad_file_gives_an_ebpm_error_with_the_expected_message(tmp_path):
    """One test over the whole corpus, so its summary is the Must-show figure: 100 % EbpmError, 0 silent."""
    silent, raw, wrong = [], [], []
    for i, c in enumerate(CASES):
        d = tmp_path / f"c{i:03d}"
        d.mkdir()
        path = c.build(d)
        try:
            READERS[c.reader].read(path)
        except EbpmError as e:
            msg = str(e)
            if c.expect not in msg or path.name not in msg or "\n" in msg.strip():
                wrong.append(f"{c.id}: expected {c.expect!r} and the file name in: {msg[:300]}")
        except Exception as e:  # noqa: BLE001 - a raw library exception is what this test exists to catch
            raw.append(f"{c.id}: {type(e).__name__}: {str(e)[:200]}")
        else:
            silent.append(c.id)
    assert not silent, f"{len(silent)} of {len(CASES)} bad files read silently: {silent}"
    assert not raw, f"{len(raw)} of {len(CASES)} bad files raised a raw exception: " + "; ".join(raw)
    assert not wrong, f"{len(wrong)} of {len(CASES)} messages lack the expected words: " + "\n".join(wrong)


def test_duplicates_can_be_dropped_explicitly_and_say_how_many(tmp_path):
    p = tmp_path / "log.csv"
    p.write_bytes(_lines(DISPATCH_H, DISPATCH + DISPATCH[:1] + DISPATCH[:1]).encode("cp932"))
    out = dispatch_log.read_dispatch_log(p, duplicates="drop")
    assert len(out) == 3
    assert out.attrs["duplicates_dropped"]["n_dropped"] == 2
    assert out.attrs["duplicates_dropped"]["lines"] == [5, 6]
    raw = _honhyo_raw()
    q = tmp_path / "honhyo.csv"
    npa_accidents.to_honhyo_csv(pd.concat([raw, raw.iloc[[2]]]), q)
    got = npa_accidents.read_honhyo_csv(q, duplicates="drop")
    assert len(got) == len(raw) and got.attrs["duplicates_dropped"]["lines"] == [len(raw) + 2]
    with pytest.raises(EbpmError, match="parameter 'duplicates'"):
        dispatch_log.read_dispatch_log(p, duplicates="ignore")


def test_the_bundled_police_files_have_no_identical_rows_but_repeat_report_numbers():
    """Why the 本票 reader has no key: report numbers repeat within a station and year in the real files."""
    raw = npa_accidents.read_gpkg_raw(npa_accidents.GPKG_FILE)
    assert not raw.duplicated().any()
    key = ["都道府県コード", "警察署等コード", "本票番号", npa_accidents.YEAR]
    assert raw.duplicated(key).sum() == 253
