"""Fire stations and branch offices (消防署・出張所) with their ambulance crews.

One row per station, as a fire bureau keeps it (CSV, UTF-8 or cp932)::

    署所コード,署所名,区分,救急隊数_24時間,救急隊数_日勤,緯度,経度
    S01,中央消防署,消防署,2,0,32.80,130.71

- ``区分`` is 消防署 or 出張所 (分署 is accepted as a branch office too).
- ``救急隊数_24時間``: crews on 24-hour duty; ``救急隊数_日勤``: daytime-only crews
  (e.g. Sendai's weekday 08:30–17:00 デイタイム救急隊). Whole numbers ≥ 0, at least one crew in total.
- Coordinates are JGD2011 degrees. A station may sit just outside the area it serves (e.g. a
  station in a neighbouring town), so the check is "within ``max_outside_m`` of the city".
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ..errors import InputFileError
from .common import (
    AUTO,
    bad_rows,
    check_latlon,
    check_range,
    input_path,
    raise_bad_rows,
    read_csv,
    require_rows,
    resolve_encoding,
)

COLUMNS = {
    "署所コード": "station_code",
    "署所名": "station_name",
    "区分": "kind",
    "救急隊数_24時間": "crews_24h",
    "救急隊数_日勤": "crews_day",
    "緯度": "lat",
    "経度": "lon",
}
KINDS = {"消防署": "消防署", "出張所": "出張所", "分署": "出張所"}


def read_stations(path: str | os.PathLike, *, encoding: str = AUTO, nature: str = "real",
                  city=None, max_outside_m: float = 10_000.0) -> pd.DataFrame:
    """Tidy station table: station_code, station_name, kind, crews_24h, crews_day, lat, lon.

    ``city`` (a code or name, or the GeoDataFrame of :func:`ebpm_analysis.geo.load_city`) enables the
    location check (:func:`ebpm_analysis.geo.distance_to_city_m`, in the city's plane zone).
    """
    path = input_path(path, expected="the stations CSV (check stations_path)")
    enc = resolve_encoding(path, encoding)
    df = read_csv(path, encoding=enc, required=list(COLUMNS), numeric=["救急隊数_24時間", "救急隊数_日勤", "緯度",
                                                                       "経度"],
                  nature=nature, dataset="stations", record=False)
    require_rows(df, path, what="one row per fire station / branch office after the header")
    df = df.rename(columns=COLUMNS)[list(COLUMNS.values())]
    df["station_code"] = df["station_code"].str.strip()
    if df["station_code"].isna().any() or df["station_code"].duplicated().any():
        bad = bad_rows(df["station_code"].isna() | df["station_code"].duplicated(keep=False))
        raise InputFileError(path, "blank or duplicate station codes", column="署所コード", rows=bad,
                             expected="one row per station with a unique code")
    kind = df["kind"].str.strip().map(KINDS)
    if kind.isna().any():
        raise_bad_rows(path, kind.isna(), "unknown station kind", column="区分", values=df["kind"], show=3,
                       expected="消防署 or 出張所 (分署)")
    df["kind"] = kind
    df["lat"] = df["lat"].astype(float)
    df["lon"] = df["lon"].astype(float)
    for col, jp in (("crews_24h", "救急隊数_24時間"), ("crews_day", "救急隊数_日勤")):
        v = df[col]
        bad = v.isna() | (v < 0) | (v != np.round(v))
        if bad.any():
            raise InputFileError(path, "crew counts must be whole numbers ≥ 0", column=jp,
                                 rows=bad_rows(bad), expected="0, 1, 2, …")
        check_range(v, path, dataset="emergency-stations", column=jp)
        df[col] = v.astype(int)
    none = (df["crews_24h"] + df["crews_day"]) == 0
    if none.all():
        raise InputFileError(path, "no ambulance crews at any station", column="救急隊数_24時間",
                             expected="at least one crew")
    check_latlon(df["lat"], df["lon"], path)
    if city is not None:
        from .. import geo
        code = city.attrs["city_code"] if hasattr(city, "attrs") else city
        dist = geo.distance_to_city_m(df["lon"].to_numpy(), df["lat"].to_numpy(), code)
        bad = dist > max_outside_m
        if bad.any():
            raise InputFileError(path, f"stations more than {max_outside_m / 1000:g} km outside the city",
                                 column="緯度/経度", rows=bad_rows(bad),
                                 expected="coordinates (JGD2011 lat/lon) of stations serving the city")
    from ..provenance import record_input
    record_input(path, nature=nature, dataset="stations")
    return df.reset_index(drop=True)


def crews_table(stations: pd.DataFrame) -> pd.DataFrame:
    """One row per crew: crew_id, station_code, shift ('24h' | 'day'), lat, lon."""
    rows = []
    for r in stations.itertuples(index=False):
        for i in range(int(r.crews_24h)):
            rows.append((f"{r.station_code}-A{i + 1}", r.station_code, "24h", r.lat, r.lon))
        for i in range(int(r.crews_day)):
            rows.append((f"{r.station_code}-D{i + 1}", r.station_code, "day", r.lat, r.lon))
    return pd.DataFrame(rows, columns=["crew_id", "station_code", "shift", "lat", "lon"])
