"""Children's position fixes from a city sensor network (GPS over LPWA; docs/sources.md#toyama-monitoring) and the
reference layers used with them (schools, monitored crossings, designated school routes).

Fixes file (CSV, utf-8 / utf-8-sig / cp932), one row per fix::

    device_id, school_id, [school_name], [grade], timestamp, lat, lon, accuracy, [battery]

Japanese headers are accepted too (端末ID, 学校ID, 学校名, 学年, 測位日時, 緯度, 経度, 測位精度,
電池残量). ``device_id`` is pseudonymous. ``timestamp`` is local time (JST) ``YYYY-MM-DD HH:MM:SS``.
``accuracy`` is the reported horizontal accuracy in metres.

Validation (each raises :class:`~ebpm_analysis.errors.InputFileError` naming file, column and rows):
missing columns, unparseable timestamps, non-numeric or impossible coordinates/accuracy,
coordinates outside the city (when its boundary is given), time going backwards for a device
in file order, and duplicate fixes (same device and timestamp).
"""

from __future__ import annotations

import os

import geopandas as gpd
import pandas as pd

from .. import geo
from ..errors import InputFileError, ParameterError
from ..provenance import record_input
from .common import (
    AUTO,
    bad_rows,
    check_latlon,
    check_range,
    input_path,
    read_csv,
    reading,
    require_columns,
    require_rows,
    resolve_encoding,
)

FIX_ALIASES = {
    "端末ID": "device_id", "端末id": "device_id", "学校ID": "school_id", "学校コード": "school_id",
    "学校名": "school_name", "学年": "grade", "測位日時": "timestamp", "日時": "timestamp",
    "緯度": "lat", "経度": "lon", "測位精度": "accuracy", "測位精度(m)": "accuracy", "精度": "accuracy",
    "電池残量": "battery",
}
FIX_REQUIRED = ("device_id", "school_id", "timestamp", "lat", "lon", "accuracy")
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def read_fixes(path: str | os.PathLike, *, encoding: str = AUTO, city=None, city_margin_m: float = 200.0,
               nature: str = "real") -> pd.DataFrame:
    """Read and validate a fixes CSV. Returns a tidy frame (``timestamp`` as datetime, numbers as float).

    ``city``: the city's areas (:func:`geo.load_city`, whose ``attrs['city_code']`` names the city);
    fixes farther than ``city_margin_m`` outside it are an error.
    """
    path = input_path(path, expected="the position fixes CSV (check fixes_path)")
    enc = resolve_encoding(path, encoding)
    df = read_csv(path, encoding=enc, nature=nature, dataset="school_fixes", record=False)
    df = df.rename(columns={c: FIX_ALIASES.get(c, c) for c in df.columns})
    require_columns(df, FIX_REQUIRED, path)
    if df.empty:
        raise InputFileError(path, "no data rows", expected="one row per position fix")
    for col in ("device_id", "school_id"):
        blank = df[col].isna() | (df[col].astype("string").str.strip() == "")
        if blank.any():
            raise InputFileError(path, "blank identifiers", column=col, rows=bad_rows(blank),
                                 expected="a pseudonymous device id / school id on every row")
        df[col] = df[col].astype(str).str.strip()
    ts = pd.to_datetime(df["timestamp"], format=TIME_FORMAT, errors="coerce")
    bad = ts.isna()
    if bad.any():
        raise InputFileError(path, f"unreadable timestamps {df.loc[bad, 'timestamp'].head(3).tolist()}",
                             column="timestamp", rows=bad_rows(bad), expected="local time as YYYY-MM-DD HH:MM:SS")
    check_range(ts, path, dataset="school-route-fixes", column="timestamp")
    df["timestamp"] = ts
    for col, what in (("lat", "latitude in decimal degrees"), ("lon", "longitude in decimal degrees"),
                      ("accuracy", "accuracy in metres (≥ 0)")):
        s = df[col].astype("string").str.strip()
        num = pd.to_numeric(s, errors="coerce")
        nonnum = num.isna()
        if nonnum.any():
            raise InputFileError(path, f"missing or non-numeric values {s[nonnum].head(3).tolist()}", column=col,
                                 rows=bad_rows(nonnum), expected=what)
        df[col] = num.astype(float)
    check_latlon(df["lat"], df["lon"], path, columns=("lat", "lon"))
    check_range(df["accuracy"], path, dataset="school-route-fixes", column="accuracy", unit=" m")
    for col in ("grade", "battery"):
        if col in df.columns:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    if city is not None:
        _check_inside(df, city, city_margin_m, path)
    # Time going backwards per device (in file order).
    prev = df.groupby("device_id", sort=False)["timestamp"].shift()
    back = (df["timestamp"] < prev).to_numpy()
    if back.any():
        raise InputFileError(path, "time goes backwards for a device (a fix is earlier than the device's previous fix)",
                             column="timestamp", rows=bad_rows(back),
                             expected="fixes of each device in time order (sort by device and timestamp)")
    dup = df.duplicated(["device_id", "timestamp"], keep="first").to_numpy()
    if dup.any():
        raise InputFileError(path, "duplicate fixes (same device and timestamp)", column="timestamp",
                             rows=bad_rows(dup), expected="one fix per device and timestamp (remove repeated rows)")
    record_input(path, nature=nature, dataset="school_fixes")
    return df.reset_index(drop=True)


def _check_inside(df, city, margin_m, path):
    """Every fix within ``margin_m`` of the city (:func:`ebpm_analysis.geo.distance_to_city_m`, measured in
    the city's plane CRS)."""
    code = getattr(city, "attrs", {}).get("city_code")
    if not code:
        raise ParameterError("city", "the areas carry no city code",
                             expected="the city's areas from ebpm_analysis.geo.load_city(city_code)")
    inside = geo.distance_to_city_m(df["lon"].to_numpy(float), df["lat"].to_numpy(float), code) <= margin_m
    if not inside.all():
        out = ~inside
        sample = df.loc[out, ["lat", "lon"]].head(2).to_numpy().tolist()
        raise InputFileError(path, f"{int(out.sum())} fix(es) outside the city boundary, e.g. (lat, lon) {sample}",
                             column="lat/lon", rows=bad_rows(out),
                             expected=f"positions inside the city (within {margin_m:g} m of its boundary); "
                                      "check the city_code parameter and the lat/lon column order")


def read_schools(path: str | os.PathLike, *, encoding: str = AUTO, nature: str = "real") -> pd.DataFrame:
    """Schools CSV: school_id, school_name, lat, lon (学校ID, 学校名, 緯度, 経度 accepted)."""
    path = input_path(path, expected="the schools CSV (check schools_path)")
    df = read_csv(path, encoding=resolve_encoding(path, encoding), numeric=(), nature=nature, dataset="school_fixes",
                  record=False)
    df = df.rename(columns={c: FIX_ALIASES.get(c, c) for c in df.columns})
    require_columns(df, ("school_id", "school_name", "lat", "lon"), path)
    require_rows(df, path, what="one row per school after the header")
    _numeric_latlon(df, path)
    if df["school_id"].duplicated().any():
        raise InputFileError(path, "duplicate school ids", column="school_id",
                             rows=bad_rows(df["school_id"].duplicated()), expected="one row per school")
    record_input(path, nature=nature, dataset="school_fixes")
    return df


def read_crossings(path: str | os.PathLike, *, encoding: str = AUTO, nature: str = "real") -> pd.DataFrame:
    """Monitored crossings CSV: crossing_id, lat, lon (optional crossing_name)."""
    path = input_path(path, expected="the crossings CSV (check crossings_path)")
    df = read_csv(path, encoding=resolve_encoding(path, encoding), nature=nature, dataset="school_fixes", record=False)
    df = df.rename(columns={"交差点ID": "crossing_id", "交差点名": "crossing_name", "緯度": "lat", "経度": "lon"})
    require_columns(df, ("crossing_id", "lat", "lon"), path)
    require_rows(df, path, what="one row per monitored crossing after the header")
    _numeric_latlon(df, path)
    dup = df["crossing_id"].duplicated()
    if dup.any():
        raise InputFileError(path, "duplicate crossing ids", column="crossing_id", rows=bad_rows(dup),
                             expected="one row per crossing")
    record_input(path, nature=nature, dataset="school_fixes")
    return df


def read_designated_routes(path: str | os.PathLike, *, nature: str = "real") -> gpd.GeoDataFrame:
    """Designated school routes (GeoJSON/GPKG): one LineString per segment with segment_id and school_id."""
    expected = "a GeoJSON/GeoPackage of designated route segments (check routes_path)"
    path = input_path(path, expected=expected)
    with reading(path, expected=expected):
        gdf = gpd.read_file(path)
    require_rows(gdf, path, what="LineString features of the designated routes")
    require_columns(gdf, ("segment_id", "school_id"), path)
    kinds = set(gdf.geom_type.dropna())
    if not kinds <= {"LineString", "MultiLineString"}:
        raise InputFileError(path, f"geometry types {sorted(kinds)}", column="geometry",
                             expected="LineString segments of the designated routes")
    if gdf.crs is None:
        gdf = gdf.set_crs(4326)
    gdf["segment_id"] = gdf["segment_id"].astype(str)
    gdf["school_id"] = gdf["school_id"].astype(str)
    dup = gdf["segment_id"].duplicated()
    if dup.any():
        raise InputFileError(path, "duplicate segment ids", column="segment_id", rows=bad_rows(dup, first_line=1),
                             expected="one feature per segment")
    record_input(path, nature=nature, dataset="school_fixes")
    return gdf.to_crs(geo.GEO_CRS)


def _numeric_latlon(df, path):
    for col in ("lat", "lon"):
        num = pd.to_numeric(df[col].astype("string").str.strip(), errors="coerce")
        if num.isna().any():
            raise InputFileError(path, "missing or non-numeric coordinates", column=col, rows=bad_rows(num.isna()),
                                 expected="decimal degrees")
        df[col] = num.astype(float)
    check_latlon(df["lat"], df["lon"], path, columns=("lat", "lon"))
