"""Emergency dispatch data as fire command systems (消防指令システム) export them.

1. **Dispatch log** (:func:`read_dispatch_log`): one row per ambulance dispatch, cp932 or UTF-8::

       事案番号,覚知日時,出場日時,現着日時,病院着日時,出場隊,出場署所,事故種別,傷病程度,年齢区分,性別,緯度,経度,町丁コード

   性別 (男 / 女 / 不明) is optional: a system that does not export it gives the other columns.
   Times are ``YYYY/MM/DD HH:MM:SS`` (ISO ``YYYY-MM-DD HH:MM:SS`` accepted). 病院着 is blank when
   the patient was not transported (不搬送). Location is coordinates (JGD2011 degrees) or, where
   they are blank, 町丁コード. Checks: 覚知 ≤ 出場 ≤ 現着 ≤ 病院着, the FDMA code lists below (and 性別
   when given), coordinates inside the city (when ``city`` is given), and a known area code.
2. **Hourly count table** (:func:`read_hourly_counts`), the layout Yokohama publishes as open data:
   ``覚知年,覚知月,覚知日,覚知時,件数`` (``傷病者数`` accepted as the count column).
3. **District population** (:func:`read_district_population`): ``地区コード,地区名,区コード,人口,65歳以上人口``
   and **district boundaries** (:func:`read_districts`, GeoJSON/GPKG with ``district_code``).
"""

from __future__ import annotations

import os
import warnings
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputFileError
from ..provenance import record_input
from .common import (
    AUTO,
    bad_rows,
    check_codes,
    check_latlon,
    check_range,
    city_member_codes,
    handle_duplicates,
    input_path,
    read_csv,
    reading,
    require_rows,
    resolve_encoding,
)

# FDMA 救急・救助の現況 categories.
ACCIDENT_TYPES = ("急病", "一般負傷", "交通事故", "転院搬送", "火災", "水難", "自然災害", "労働災害",
                  "運動競技", "加害", "自損行為", "その他")
SEVERITIES = ("死亡", "重症", "中等症", "軽症", "その他")   # blank = 不搬送 (not transported)
AGE_GROUPS = ("新生児", "乳幼児", "少年", "成人", "高齢者")
SEXES = ("男", "女", "不明")

COLUMNS = {
    "事案番号": "incident_id",
    "覚知日時": "t_call",
    "出場日時": "t_dispatch",
    "現着日時": "t_scene",
    "病院着日時": "t_hospital",
    "出場隊": "crew_id",
    "出場署所": "station_code",
    "事故種別": "accident_type",
    "傷病程度": "severity",
    "年齢区分": "age_group",
    "緯度": "lat",
    "経度": "lon",
    "町丁コード": "area_code",
}
OPTIONAL_COLUMNS = {"性別": "sex"}   # checked and kept when the file has it
TIME_COLUMNS = ("覚知日時", "出場日時", "現着日時", "病院着日時")
# The one bundled population projection: 熊本市 (43100), census + IPSS 2013 (data/raw/ipss-projection-kumamoto-city).
IPSS_PROJECTIONS = {"43100": ("ipss-projection-kumamoto-city",
                              "kumamoto_city_population_1985_2040_ipss2013_transcribed.csv")}
TIME_FORMAT = "%Y/%m/%d %H:%M:%S"


def _parse_times(s: pd.Series, path: Path, col: str, allow_blank: bool) -> pd.Series:
    s = s.str.strip()
    t = pd.to_datetime(s, format=TIME_FORMAT, errors="coerce")
    retry = t.isna() & s.notna()
    if retry.any():
        t.loc[retry] = pd.to_datetime(s[retry], format="ISO8601", errors="coerce")
    bad = t.isna() & (s.notna() if allow_blank else True)
    if bad.any():
        raise InputFileError(path, f"unparseable or missing times {s[bad].unique()[:3].tolist()}", column=col,
                             rows=bad_rows(bad),
                             expected="YYYY/MM/DD HH:MM:SS"
                                      + (" (blank only when not transported)" if allow_blank else ""))
    return t


def _check_codes(df: pd.DataFrame, col: str, allowed, path: Path, allow_blank: bool = False) -> None:
    v = df[col].str.strip()
    ok = v.isin(allowed) | (v.isna() if allow_blank else False)
    if not ok.all():
        raise InputFileError(path, f"unknown codes {v[~ok].unique()[:3].tolist()}", column=col,
                             rows=bad_rows(~ok),
                             expected=" / ".join(allowed) + (" or blank" if allow_blank else ""))


def read_dispatch_log(path: str | os.PathLike, *, encoding: str = AUTO, nature: str = "real",
                      city=None, known_areas=None, known_stations=None,
                      boundary_tolerance_m: float = 50.0, duplicates: str = "refuse") -> pd.DataFrame:
    """Validated, tidy dispatch log (English column names, datetimes, float coordinates).

    - ``city``: the city (code or name, or the GeoDataFrame of :func:`ebpm_analysis.geo.load_city`);
      coordinates must fall inside it (:func:`ebpm_analysis.geo.inside_city`, or within
      ``boundary_tolerance_m`` of its boundary: geocoded points on boundary roads).
    - ``known_areas``: iterable of valid 町丁コード (checked where the code is given).
    - ``known_stations``: iterable of valid 出場署所 codes.
    Derived columns: ``response_min`` (覚知→現着), ``travel_min`` (出場→現着),
    ``to_hospital_min`` (覚知→病院着), ``transported`` (bool). ``encoding``: ``"auto"`` (cp932 or utf-8)
    or a codec name. ``duplicates``: ``"refuse"`` (default) an identical row or a crew listed twice for
    one 事案番号 (the key is 事案番号 + 出場隊: several crews may serve one incident), ``"drop"`` keeps the
    first (``attrs['duplicates_dropped']``). Times must lie in the catalog's plausible range.
    """
    path = input_path(path, expected="the dispatch log CSV (check dispatch_log_path)")
    enc = resolve_encoding(path, encoding)
    df = read_csv(path, encoding=enc, required=list(COLUMNS), numeric=["緯度", "経度"], nature=nature,
                  dataset="dispatch-log", record=False)
    require_rows(df, path, what="one row per dispatch after the header")
    df = handle_duplicates(df, path, duplicates=duplicates, what="dispatch rows")
    df = handle_duplicates(df, path, key=["事案番号", "出場隊"], duplicates=duplicates, what="dispatch rows",
                           line=df.index.to_numpy() + 2)
    dropped = df.attrs.get("duplicates_dropped")
    df = df.reset_index(drop=True)
    times = {c: _parse_times(df[c], path, c, allow_blank=(c == "病院着日時")) for c in TIME_COLUMNS}
    for c in TIME_COLUMNS:
        check_range(times[c], path, dataset="emergency-dispatch-log", column=c)
    order = list(TIME_COLUMNS)
    for a, b in pairwise(order):
        bad = (times[b] < times[a]).fillna(False).to_numpy()
        if bad.any():
            raise InputFileError(path, f"{b} is earlier than {a}", column=b, rows=bad_rows(bad),
                                 expected="覚知 ≤ 出場 ≤ 現着 ≤ 病院着")
    _check_codes(df, "事故種別", ACCIDENT_TYPES, path)
    _check_codes(df, "傷病程度", SEVERITIES, path, allow_blank=True)
    _check_codes(df, "年齢区分", AGE_GROUPS, path)
    optional = [c for c in OPTIONAL_COLUMNS if c in df.columns]
    if "性別" in optional:
        _check_codes(df, "性別", SEXES, path)
    if known_stations is not None:
        _check_codes(df, "出場署所", tuple(known_stations), path)
    has_xy = df["緯度"].notna() & df["経度"].notna()
    half = df["緯度"].notna() ^ df["経度"].notna()
    if half.any():
        raise InputFileError(path, "latitude without longitude (or the reverse)", column="緯度/経度",
                             rows=bad_rows(half), expected="both or neither")
    check_latlon(df["緯度"], df["経度"], path, allow_blank=True)
    code = df["町丁コード"].str.strip()
    no_loc = ~has_xy & code.isna()
    if no_loc.any():
        raise InputFileError(path, "no location (neither coordinates nor area code)", column="町丁コード",
                             rows=bad_rows(no_loc),
                             expected="緯度・経度, or a 町丁コード where coordinates are withheld")
    if known_areas is not None:
        known = set(known_areas)
        bad = code.notna() & ~code.isin(known)
        if bad.any():
            raise InputFileError(path, f"unknown area codes {code[bad].unique()[:3].tolist()}", column="町丁コード",
                                 rows=bad_rows(bad),
                                 expected="codes of the city's districts / 町丁")
    if city is not None and has_xy.any():
        from .. import geo
        code = city.attrs["city_code"] if hasattr(city, "attrs") else city
        inside = np.ones(len(df), dtype=bool)
        xy = df.loc[has_xy, ["経度", "緯度"]].to_numpy(dtype=float)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # swapped lat/lon → inf
            # points on boundary roads within ``boundary_tolerance_m`` count as inside
            inside[has_xy.to_numpy()] = geo.inside_city(xy[:, 0], xy[:, 1], code, tolerance_m=boundary_tolerance_m)
        if not inside.all():
            raise InputFileError(path, f"{int((~inside).sum())} dispatch location(s) outside the city",
                                 column="緯度/経度", rows=bad_rows(~inside),
                                 expected="JGD2011 latitude/longitude inside the city boundary (lat, lon not swapped)")
    names = COLUMNS | {c: OPTIONAL_COLUMNS[c] for c in optional}
    out = df.rename(columns=names)[list(names.values())].copy()
    for c in TIME_COLUMNS:
        out[COLUMNS[c]] = times[c]
    out["lat"] = out["lat"].astype(float)
    out["lon"] = out["lon"].astype(float)
    for c in ("incident_id", "crew_id", "station_code", "accident_type", "severity", "age_group", "area_code",
              *(OPTIONAL_COLUMNS[c] for c in optional)):
        out[c] = out[c].str.strip()
    out["response_min"] = (out["t_scene"] - out["t_call"]).dt.total_seconds() / 60
    out["travel_min"] = (out["t_scene"] - out["t_dispatch"]).dt.total_seconds() / 60
    out["to_hospital_min"] = (out["t_hospital"] - out["t_call"]).dt.total_seconds() / 60
    out["transported"] = out["t_hospital"].notna()
    record_input(path, nature=nature, dataset="dispatch-log")
    out = out.sort_values("t_call", kind="stable").reset_index(drop=True)
    if dropped:
        out.attrs["duplicates_dropped"] = dropped
    return out


def read_hourly_counts(path: str | os.PathLike, *, encoding: str = AUTO, nature: str = "real") -> pd.DataFrame:
    """Yokohama-style hourly table → ``time`` (hour start), ``count``; checks dates, hours 0–23,
    whole non-negative counts and duplicates."""
    path = input_path(path, expected="the hourly count CSV (check hourly_counts_path)")
    enc = resolve_encoding(path, encoding)
    df = read_csv(path, encoding=enc, required=["覚知年", "覚知月", "覚知日", "覚知時"], nature=nature,
                  dataset="hourly-counts", record=False)
    count_col = next((c for c in ("件数", "傷病者数", "救急出場件数") if c in df.columns), None)
    if count_col is None:
        raise InputFileError(path, "no count column", expected="a column 件数 (or 傷病者数)")
    num = {}
    for c in ("覚知年", "覚知月", "覚知日", "覚知時", count_col):
        v = pd.to_numeric(df[c].str.strip(), errors="coerce")
        bad = v.isna() | (v < 0) | (v != np.round(v))
        if bad.any():
            raise InputFileError(path, f"not a whole number ≥ 0: {df.loc[bad, c].unique()[:3].tolist()}", column=c,
                                 rows=bad_rows(bad), expected="integers")
        num[c] = v.astype(int)
    require_rows(df, path, what="one row per date and hour after the header")
    check_range(num["覚知年"], path, dataset="emergency-hourly-counts", column="覚知年")
    check_range(num[count_col], path, dataset="emergency-hourly-counts", column="件数", label=count_col)
    bad = (num["覚知時"] > 23).to_numpy()
    if bad.any():
        raise InputFileError(path, "hour outside 0–23", column="覚知時", rows=bad_rows(bad),
                             expected="0–23 (hour of 覚知)")
    date = pd.to_datetime(pd.DataFrame({"year": num["覚知年"], "month": num["覚知月"], "day": num["覚知日"]}),
                          errors="coerce")
    if date.isna().any():
        raise InputFileError(path, "impossible dates", column="覚知月/覚知日",
                             rows=bad_rows(date.isna()), expected="valid calendar dates")
    out = pd.DataFrame({"time": date + pd.to_timedelta(num["覚知時"], unit="h"), "count": num[count_col]})
    dup = out["time"].duplicated(keep=False).to_numpy()
    if dup.any():
        raise InputFileError(path, "duplicate date-hour rows", column="覚知時", rows=bad_rows(dup),
                             expected="one row per 覚知年・月・日・時")
    record_input(path, nature=nature, dataset="hourly-counts")
    return out.sort_values("time").reset_index(drop=True)


def read_district_population(path: str | os.PathLike, *, encoding: str = AUTO, city=None,
                             nature: str = "real") -> pd.DataFrame:
    """District population table → district_code, district_name, ward_code, population, pop65.

    ``city`` (a code or name, or the GeoDataFrame of :func:`ebpm_analysis.geo.load_city`): every 区コード
    must be a ward of the city in the boundary file (the city's own code where it has no wards)."""
    path = input_path(path, expected="the district population CSV (check district_population_path)")
    enc = resolve_encoding(path, encoding)
    df = read_csv(path, encoding=enc, required=["地区コード", "地区名", "区コード", "人口", "65歳以上人口"],
                  numeric=["人口", "65歳以上人口"], nature=nature, dataset="district-population", record=False)
    require_rows(df, path, what="one row per district after the header")
    if city is not None:
        check_codes(df["区コード"], city_member_codes(city), path, column="区コード",
                    what="a ward (or the city) code of the boundary file")
    for c in ("人口", "65歳以上人口"):
        check_range(df[c], path, dataset="emergency-district-population", column=c)
    bad = (df["人口"].isna() | (df["人口"] <= 0) | df["65歳以上人口"].isna() | (df["65歳以上人口"] < 0)
           | (df["65歳以上人口"] > df["人口"])).to_numpy()
    if bad.any():
        raise InputFileError(path, "population must be > 0 and 65歳以上人口 between 0 and 人口", column="65歳以上人口",
                             rows=bad_rows(bad), expected="whole person counts")
    if df["地区コード"].duplicated().any():
        raise InputFileError(path, "duplicate district codes", column="地区コード",
                             rows=bad_rows(df["地区コード"].duplicated(keep=False)),
                             expected="one row per district")
    out = pd.DataFrame({"district_code": df["地区コード"].str.strip(), "district_name": df["地区名"].str.strip(),
                        "ward_code": df["区コード"].str.strip(), "population": df["人口"].astype(int),
                        "pop65": df["65歳以上人口"].astype(int)})
    record_input(path, nature=nature, dataset="district-population")
    return out


def read_districts(path: str | os.PathLike, *, city, nature: str = "real"):
    """District polygons (GeoJSON/GPKG) with ``district_code`` (and ``district_name``), in the plane
    zone of ``city`` (a code or name, or the GeoDataFrame of :func:`ebpm_analysis.geo.load_city`;
    :func:`ebpm_analysis.geo.plane_crs`)."""
    import geopandas as gpd

    from .. import geo
    code = city.attrs["city_code"] if hasattr(city, "attrs") else city
    expected = "a GeoJSON/GeoPackage of districts (check districts_path)"
    path = input_path(path, expected=expected)
    with reading(path, expected=expected):
        gdf = gpd.read_file(path)
    require_rows(gdf, path, what="district polygons with district_code, district_name")
    if "district_code" not in gdf.columns:
        raise InputFileError(path, "missing property 'district_code'", column="district_code",
                             expected="district polygons with district_code, district_name")
    gdf["district_code"] = gdf["district_code"].astype(str)
    if "district_name" not in gdf.columns:
        gdf["district_name"] = gdf["district_code"]
    if gdf.crs is None:
        gdf = gdf.set_crs(geo.GEO_CRS)
    record_input(path, nature=nature, dataset="districts")
    return gdf.to_crs(geo.plane_crs(code))


def projection_path_for(city_code: str, path: str | os.PathLike = "") -> Path | None:
    """The population projection of a city: ``path`` when given, else the bundled projection of that
    city (熊本市 only, :data:`IPSS_PROJECTIONS`), else None (no ageing scenario: another city's
    projection is never used)."""
    from .. import paths
    if str(path).strip():
        return paths.resolve(path)
    return paths.raw(*IPSS_PROJECTIONS[city_code]) if city_code in IPSS_PROJECTIONS else None


def projection_source(path: str | os.PathLike) -> str:
    """How a report names the population projection at ``path``: a bundled one (:data:`IPSS_PROJECTIONS`) by
    the title and attribution of its catalog entry, another by its file name. The report named the bundled file by
    its path in the repository, which its readers cannot open."""
    import yaml

    from .. import paths
    p = Path(path)
    for folder, name in IPSS_PROJECTIONS.values():
        if p.name == name and p.parent.name == folder:
            entry = yaml.safe_load((paths.CATALOG_DIR / f"{folder}.yml").read_text(encoding="utf-8"))
            return f"{entry['title']}：{str(entry['attribution']).removeprefix('出典：')}"
    return f"指定された将来人口推計（ファイル {p.name}）"


def read_population_projection(path: str | os.PathLike, *, nature: str = "real") -> pd.DataFrame:
    """Population by year (census + IPSS projection): year, kind, total, age65plus (NaN where not given)."""
    path = input_path(path, expected="the population projection CSV (check projection_path)")
    df = read_csv(path, encoding=resolve_encoding(path, AUTO), required=["year", "total", "age65plus"],
                  numeric=["year", "total", "age65plus"], nature=nature, dataset="population-projection")
    require_rows(df, path, what="one row per year after the header")
    df = handle_duplicates(df, path, key=["year"], what="years")
    if df["total"].isna().any() or (df["total"] <= 0).any():
        raise InputFileError(path, "missing or non-positive totals", column="total",
                             rows=bad_rows((df["total"].isna() | (df["total"] <= 0))),
                             expected="population counts")
    df["year"] = df["year"].astype(int)
    return df.sort_values("year").reset_index(drop=True)
