"""Case 3: ETC2.0 probe slowdowns, sudden braking and police accident records on a regional mesh.

Pure functions over tidy frames or DuckDB relations (no file reading, no plotting):

- :func:`mesh_code` / :func:`mesh_code_sql`: JIS X 0410 regional mesh codes (levels 1–6; 6 = 1/8
  mesh ≈ 125 m) in numpy and as a SQL expression (identical arithmetic; checked against jismesh).
- :func:`aggregate_positions`: per mesh × day type × hour: records, share ≤ ``congested_kmh``
  (20 km/h 混雑, 10 km/h 渋滞 on ordinary roads: docs/sources.md#congestion-speeds), mean speed,
  distinct trips. One SQL text (:func:`positions_sql`) run by DuckDB (default) or Apache Spark
  (:mod:`ebpm_analysis.engines`) over Parquet (or a frame);
  :func:`aggregate_positions_pandas` is the plain pandas reference used to check it and in the benchmark.
- :func:`mesh_passes`, :func:`aggregate_events`, :func:`braking_rates`: sudden braking (≤ −0.3 G)
  events per 1,000 passes, passes = distinct trips whose interpolated path crosses the mesh
  (:func:`mesh_passes_pandas`: the plain pandas reference).
- :func:`braking_hazards`: the hazard list: each mesh's braking events against the count the city's rate per
  vehicle-km expects there (exact one-sided test, Benjamini–Hochberg FDR); :func:`hotspot_power` its power.
- :func:`mesh_hotspots`: Getis-Ord Gi* (:mod:`ebpm_analysis.stats.hotspots`) on mesh values with
  queen contiguity on the mesh grid and Benjamini–Hochberg FDR control (the view of areas).
- accident summaries (:func:`accidents_per_mesh`, :func:`accident_breakdowns`, :func:`accident_trend`).
- :func:`congestion_test` / :func:`congestion_flags`: congested weekday mesh-hours: slow in at least half of
  their trips and slower than the same mesh's other hours explain (scaled by the city's hour profile), by an
  exact one-sided binomial test with Benjamini–Hochberg FDR.
- :func:`rank_spots`: one table combining braking, congestion and accidents with a class
  (既知の危険箇所 known danger / 潜在的危険箇所 latent risk / 渋滞のみ congestion only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np
import pandas as pd

from ..engines import Engine, as_engine, sql_float
from ..errors import ParameterError
from ..jpcalendar import day_type
from ..stats import disclosure as D
from ..stats.hotspots import gi_star, grid_weights

CLASS_LABELS = {"known_danger": "既知の危険箇所", "latent_risk": "潜在的危険箇所", "congestion_only": "渋滞のみ"}
#: Approximate mesh size per level (m).
MESH_SIZE_M = {1: 80000, 2: 10000, 3: 1000, 4: 500, 5: 250, 6: 125}


# ------------------------------------------------------------------------------------------ mesh
def mesh_code(lat, lon, level: int = 6) -> np.ndarray:
    """JIS X 0410 mesh codes (int64) for arrays of lat/lon (JGD2011 degrees). Levels 1–6 (6 = 1/8 mesh).

    The arithmetic is that of :func:`mesh_code_sql` / :func:`mesh_select` (same operations in the same order,
    so the same codes); it runs in place on blocks of :data:`MESH_BLOCK` rows, which keeps the temporaries in
    the CPU cache (about 3× faster than whole-array numpy at 10 M rows; ingest computes it for every row).
    """
    if level not in MESH_SIZE_M:
        raise ValueError(f"mesh level must be 1–6, not {level!r}")
    lat = np.asarray(lat, dtype=float)
    lon = np.asarray(lon, dtype=float)
    out = np.empty(lat.shape, np.int64)
    flat_lat, flat_lon, flat_out = lat.reshape(-1), lon.reshape(-1), out.reshape(-1)
    for s in range(0, flat_lat.size, MESH_BLOCK):
        e = min(s + MESH_BLOCK, flat_lat.size)
        flat_out[s:e] = _mesh_block(flat_lat[s:e], flat_lon[s:e], level)
    return out


#: Rows per block of :func:`mesh_code` (a block's eight temporaries stay in the CPU cache).
MESH_BLOCK = 16384


def _mesh_block(lat: np.ndarray, lon: np.ndarray, level: int) -> np.ndarray:
    a = lat * 60.0
    p = np.floor(a / 40.0)
    a -= p * 40.0
    fl = np.floor(lon)
    u = fl - 100.0
    b = lon - fl
    b *= 60.0
    code = p * 100
    code += u
    t = np.empty_like(a)
    if level >= 2:
        q = np.floor(np.divide(a, 5.0, out=t))
        v = np.floor(b / 7.5)
        a -= q * 5.0
        b -= v * 7.5
        code *= 100
        code += q * 10
        code += v
    if level >= 3:
        a *= 60.0
        b *= 60.0
        r = np.floor(np.divide(a, 30.0, out=t))
        w = np.floor(b / 45.0)
        a -= r * 30.0
        b -= w * 45.0
        code *= 100
        code += r * 10
        code += w
    da, db = 15.0, 22.5
    for _ in range(4, level + 1):
        i = np.floor(np.divide(a, da, out=t))
        j = np.floor(b / db)
        a -= i * da
        b -= j * db
        code *= 10
        code += i * 2
        code += j
        code += 1
        da, db = da / 2, db / 2
    return code.astype(np.int64)


def mesh_code_sql(lat: str = "lat", lon: str = "lon", level: int = 6) -> str:
    """The same computation as :func:`mesh_code` as a SQL expression (BIGINT) that DuckDB and Spark SQL
    both run (float literals written as doubles: :func:`ebpm_analysis.engines.sql_float`)."""
    if level not in MESH_SIZE_M:
        raise ValueError(f"mesh level must be 1–6, not {level!r}")
    f = sql_float
    a0 = f"({lat} * {f(60)})"
    p = f"floor({a0} / {f(40)})"
    a = f"({a0} - {p} * {f(40)})"
    u = f"(floor({lon}) - {f(100)})"
    b = f"(({lon} - floor({lon})) * {f(60)})"
    code = f"({p} * 100 + {u})"
    if level >= 2:
        q, v = f"floor({a} / {f(5)})", f"floor({b} / {f(7.5)})"
        a, b = f"({a} - {q} * {f(5)})", f"({b} - {v} * {f(7.5)})"
        code = f"({code} * 100 + {q} * 10 + {v})"
    if level >= 3:
        a, b = f"({a} * {f(60)})", f"({b} * {f(60)})"
        r, w = f"floor({a} / {f(30)})", f"floor({b} / {f(45)})"
        a, b = f"({a} - {r} * {f(30)})", f"({b} - {w} * {f(45)})"
        code = f"({code} * 100 + {r} * 10 + {w})"
    da, db = 15.0, 22.5
    for _ in range(4, level + 1):
        i, j = f"floor({a} / {f(da)})", f"floor({b} / {f(db)})"
        a, b = f"({a} - {i} * {f(da)})", f"({b} - {j} * {f(db)})"
        code = f"({code} * 10 + {i} * 2 + {j} + 1)"
        da, db = da / 2, db / 2
    return f"CAST({code} AS BIGINT)"


#: The level-6 (1/8) mesh grid: 3.75" of latitude and 5.625" of longitude per cell, i.e. 960 rows per degree of
#: latitude and 640 columns per degree of longitude (columns counted from 100°E). Every coarser mesh is a block
#: of these cells (level 1: 640 × 640, level 2: 80 × 80, level 3: 8 × 8, then 4 × 4, 2 × 2).
GRID_ROWS_PER_DEG, GRID_COLS_PER_DEG = 960, 640
#: Digits a level-6 code has beyond the code of each level (level 3 adds two digits, levels 4–6 one each).
_DROP_DIGITS = {1: 7, 2: 5, 3: 3, 4: 2, 5: 1, 6: 0}


def grid_index(lat, lon) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of the level-6 cell holding each point: floor(lat × 960), floor((lon − 100) × 640)."""
    lat = np.asarray(lat, dtype=float)
    lon = np.asarray(lon, dtype=float)
    return (np.floor(lat * GRID_ROWS_PER_DEG).astype(np.int64),
            np.floor((lon - 100.0) * GRID_COLS_PER_DEG).astype(np.int64))


def grid_mesh_code(row, col, level: int = 6) -> np.ndarray:
    """JIS X 0410 code (int64) of the level-``level`` mesh holding level-6 cell (row, col) (integer arithmetic;
    the same as :func:`mesh_code` of any point inside the cell)."""
    if level not in MESH_SIZE_M:
        raise ValueError(f"mesh level must be 1–6, not {level!r}")
    r = np.asarray(row, dtype=np.int64)
    c = np.asarray(col, dtype=np.int64)
    code = ((r // 640) * 100 + c // 640) * 100 + (r % 640 // 80) * 10 + c % 640 // 80
    code = code * 100 + (r % 80 // 8) * 10 + c % 80 // 8
    for k in (4, 2, 1):
        code = code * 10 + (r % (2 * k) // k) * 2 + c % (2 * k) // k + 1
    return code // 10 ** _DROP_DIGITS[level]


def mesh_grid_index(codes, level: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of each mesh on the grid of its own level (neighbouring meshes differ by 1), the inverse
    of :func:`grid_mesh_code`: for contiguity weights (:func:`ebpm_analysis.stats.hotspots.grid_weights`)."""
    if level not in MESH_SIZE_M:
        raise ValueError(f"mesh level must be 1–6, not {level!r}")
    code = np.asarray([int(c) for c in np.atleast_1d(codes)], dtype=np.int64)
    # extend to the level-6 code of the south-west cell: digits 0 for levels 2–3, 1 for levels 4–6
    code = code * 10 ** max(0, _DROP_DIGITS[level] - 3)
    code = code * 10 ** min(3, _DROP_DIGITS[level]) + [0, 1, 11, 111][min(3, _DROP_DIGITS[level])]
    d = [(code // 10 ** k) % 10 for k in range(9)]  # d[0] last digit (level 6), d[2] level 4, d[3..6] w r v q
    row = (code // 10 ** 9) * 640 + d[6] * 80 + d[4] * 8 + (d[2] - 1) // 2 * 4 + (d[1] - 1) // 2 * 2 + (d[0] - 1) // 2
    col = ((code // 10 ** 7) % 100 * 640 + d[5] * 80 + d[3] * 8
           + (d[2] - 1) % 2 * 4 + (d[1] - 1) % 2 * 2 + (d[0] - 1) % 2)
    block = {1: 640, 2: 80, 3: 8, 4: 4, 5: 2, 6: 1}[level]
    return row // block, col // block


def mesh_select(source: str, level: int = 6, lat: str = "lat", lon: str = "lon", out: str = "mesh") -> str:
    """``source`` (a table or view name) with a column ``out``: :func:`mesh_code_sql`'s arithmetic in steps.

    A subquery per step (each names the remainders the next one uses) keeps the SQL linear in the level:
    the single expression of :func:`mesh_code_sql` repeats each remainder in the next, doubling per level,
    which Spark compiles slowly. Same operations in the same order, so the same codes.
    """
    if level not in MESH_SIZE_M:
        raise ValueError(f"mesh level must be 1–6, not {level!r}")
    f = sql_float
    steps = [f"{lat} * {f(60)} as _ma, floor({lon}) as _mf",
             f"floor(_ma / {f(40)}) as _mp, ({lon} - _mf) * {f(60)} as _mb",
             f"_ma - _mp * {f(40)} as _ma1, _mp * 100 + (_mf - {f(100)}) as _mc"]
    a, b, c = "_ma1", "_mb", "_mc"
    n = 1
    if level >= 2:
        steps += [f"floor({a} / {f(5)}) as _mi{n}, floor({b} / {f(7.5)}) as _mj{n}",
                  f"{a} - _mi{n} * {f(5)} as _ma{n + 1}, {b} - _mj{n} * {f(7.5)} as _mb{n + 1}, "
                  f"{c} * 100 + _mi{n} * 10 + _mj{n} as _mc{n + 1}"]
        n += 1
        a, b, c = f"_ma{n}", f"_mb{n}", f"_mc{n}"
    if level >= 3:
        steps += [f"{a} * {f(60)} as _mx{n}, {b} * {f(60)} as _my{n}",
                  f"floor(_mx{n} / {f(30)}) as _mi{n}, floor(_my{n} / {f(45)}) as _mj{n}",
                  f"_mx{n} - _mi{n} * {f(30)} as _ma{n + 1}, _my{n} - _mj{n} * {f(45)} as _mb{n + 1}, "
                  f"{c} * 100 + _mi{n} * 10 + _mj{n} as _mc{n + 1}"]
        n += 1
        a, b, c = f"_ma{n}", f"_mb{n}", f"_mc{n}"
    da, db = 15.0, 22.5
    for _ in range(4, level + 1):
        steps += [f"floor({a} / {f(da)}) as _mi{n}, floor({b} / {f(db)}) as _mj{n}",
                  f"{a} - _mi{n} * {f(da)} as _ma{n + 1}, {b} - _mj{n} * {f(db)} as _mb{n + 1}, "
                  f"{c} * 10 + _mi{n} * 2 + _mj{n} + 1 as _mc{n + 1}"]
        n += 1
        a, b, c = f"_ma{n}", f"_mb{n}", f"_mc{n}"
        da, db = da / 2, db / 2
    sql = source
    for k, st in enumerate(steps):
        sql = f"(select *, {st} from {sql} _s{k})"
    return f"(select *, CAST({c} AS BIGINT) as {out} from {sql} _s)"


#: Column of an ingested dataset holding the level-6 (1/8) mesh code of each row
#: (:func:`ebpm_analysis.io.etc2.ingest` computes it once with :func:`mesh_code`).
MESH6_COLUMN = "mesh6"


def meshed(eng: Engine, source: str, columns, level: int = 6, out: str = "mesh") -> str:
    """``source`` with a column ``out`` holding the mesh code of ``level``: from the stored level-6 code
    (:data:`MESH6_COLUMN`, written at ingest) when ``columns`` has it, the level-``k`` code being its first
    digits (``mesh6 div 10^(6-k)``: each finer level appends digits), else computed from lat/lon by
    :func:`mesh_select`. Both give the same codes; the stored one spares each query the arithmetic (in Spark
    it was most of the time of a query)."""
    if level not in MESH_SIZE_M:
        raise ValueError(f"mesh level must be 1–6, not {level!r}")
    if MESH6_COLUMN not in columns:
        return mesh_select(source, level, out=out)
    digits = {1: 7, 2: 5, 3: 3, 4: 2, 5: 1, 6: 0}[level]  # digits a level-6 code has beyond level k
    code = MESH6_COLUMN if digits == 0 else eng.idiv(MESH6_COLUMN, 10 ** digits)
    return f"(select *, {code} as {out} from {source} _s)"


def mesh_polygons(codes: Iterable, level: int = 6):
    """GeoDataFrame (EPSG:6668) of mesh cells with ``mesh`` (string code) and ``lon``/``lat`` centre."""
    import geopandas as gpd
    import shapely
    from jismesh import utils as ju

    codes = pd.Series(list(codes), dtype="string").dropna().unique()
    arr = np.asarray([int(c) for c in codes], dtype=np.int64)
    if len(arr) == 0:
        return gpd.GeoDataFrame({"mesh": pd.Series([], dtype="string")}, geometry=[], crs="EPSG:6668")
    pad = np.r_[arr, arr[:1]] if len(arr) == 1 else arr  # jismesh breaks on size-1 arrays under numpy 2
    lat0, lon0 = ju.to_meshpoint(pad, 0, 0)
    lat1, lon1 = ju.to_meshpoint(pad, 1, 1)
    lat0, lon0, lat1, lon1 = (np.asarray(x)[: len(arr)] for x in (lat0, lon0, lat1, lon1))
    geom = shapely.box(lon0, lat0, lon1, lat1)
    return gpd.GeoDataFrame({"mesh": pd.array(arr.astype(str), dtype="string"),
                             "lon": (lon0 + lon1) / 2, "lat": (lat0 + lat1) / 2}, geometry=geom, crs="EPSG:6668")


# ------------------------------------------------------------------------------------------ engines
def connect(memory_limit: str | None = None, threads: int | None = None, temp_directory: str | None = None):
    """A DuckDB connection with optional memory limit / threads / spill directory."""
    import duckdb

    con = duckdb.connect()
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if temp_directory:
        con.execute(f"SET temp_directory = '{temp_directory}'")
        con.execute("SET preserve_insertion_order = false")
    return con


def _engine(con, source, name: str) -> tuple[Engine, list[str]]:
    """The engine of ``con`` (:func:`ebpm_analysis.engines.as_engine`) with ``source`` viewed as ``name``;
    and the view's columns."""
    eng = as_engine(con)
    eng.view(source, name)
    return eng, eng.columns(name)


def _trip_second(eng: Engine, columns, time_col: str = "gps_time", prefix: str = "") -> str:
    """Second part of the trip key (with ``opid``): trip number, else 運行日, else the day of ``time_col``."""
    if "trip_no" in columns:
        return prefix + "trip_no"
    if "run_date" in columns and time_col == "gps_time":
        return prefix + "run_date"
    return eng.idiv(prefix + time_col, 1000000)


#: Column of an ingested 様式1-2 dataset holding one exact integer per trip (運行ID × trip number,
#: :func:`trip_keys`), written at ingest when every 運行ID of the delivery is digits; queries group and
#: partition on it instead of the text 運行ID and the trip number.
TRIP_KEY_COLUMN = "trip_key"
#: Longest 運行ID (digits) and largest trip number + 1 that :func:`trip_keys` packs into one int64.
TRIP_KEY_OPID_DIGITS, TRIP_KEY_TRIP_LIMIT = 12, 10**6


def trip_keys(opid, trip_no) -> np.ndarray | None:
    """One int64 per (運行ID, trip number), equal exactly when both are equal: ``int("1" + opid) * 10**6 +
    trip_no``, or None when a 運行ID is not 1–12 ASCII digits or a trip number lies outside 0 … 999,999.

    Prefixing "1" keeps leading zeros ("0012" → 10012, "12" → 112: different lengths, different numbers) and
    the trip number fills the last six decimal digits, so the map is one-to-one (no hash: no collisions);
    the largest key, 1,999,999,999,999,999,999, fits in an int64. ``opid``: text (pyarrow array, pandas
    Series or numpy array); ``trip_no``: integers.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    o = opid if isinstance(opid, (pa.Array, pa.ChunkedArray)) else pa.array(np.asarray(opid, dtype=object),
                                                                              pa.string())
    tn = np.asarray(trip_no.to_numpy() if hasattr(trip_no, "to_numpy") else trip_no)
    if len(o) == 0:
        return np.zeros(0, np.int64)
    if tn.dtype.kind not in "iu" or tn.min() < 0 or tn.max() >= TRIP_KEY_TRIP_LIMIT or o.null_count:
        return None
    n_digits = pc.binary_length(o)
    shortest, longest = (v.as_py() for v in pc.min_max(n_digits).values())
    if shortest < 1 or longest > TRIP_KEY_OPID_DIGITS or not pc.all(pc.ascii_is_decimal(o)).as_py():
        return None  # empty, too long, or not only the digits 0-9 (a sign, a space, a letter)
    value = pc.cast(o, pa.int64()).to_numpy(zero_copy_only=False)
    # "1" + opid as a number: 10**len + value (one power when all 運行ID have the same length, the usual case)
    prefix = (10**shortest if shortest == longest
              else (10 ** np.arange(TRIP_KEY_OPID_DIGITS + 1, dtype=np.int64))[n_digits.to_numpy(zero_copy_only=False)])
    return ((prefix + value) * TRIP_KEY_TRIP_LIMIT + tn).astype(np.int64)


def _trip(eng: Engine, columns, time_col: str = "gps_time", prefix: str = "") -> list[tuple[str, str]]:
    """The trip as (expression, name) pairs: the stored :data:`TRIP_KEY_COLUMN` when ``columns`` has it
    (positions), else ``opid`` and :func:`_trip_second`. Both identify the same trips (:func:`trip_keys`)."""
    if TRIP_KEY_COLUMN in columns and time_col == "gps_time":
        return [(prefix + TRIP_KEY_COLUMN, TRIP_KEY_COLUMN)]
    return [(prefix + "opid", "opid"), (_trip_second(eng, columns, time_col, prefix), "trip2")]


def day_type_table(dates: Iterable[int]) -> pd.DataFrame:
    """``date_int`` (YYYYMMDD) and ``day_type`` (:func:`ebpm_analysis.jpcalendar.day_type`: weekday /
    holiday = Sat, Sun, national holidays), one row per distinct date, for joining in SQL."""
    d = pd.to_datetime(pd.Series(sorted(set(int(x) for x in dates))).astype(str), format="%Y%m%d")
    return pd.DataFrame({"date_int": d.dt.strftime("%Y%m%d").astype("int64"), "day_type": day_type(d)})


def _calendar(eng: Engine, view: str, time_col: str = "gps_time") -> None:
    """Register ``_cal``: :func:`day_type_table` for every date from the first to the last record of ``view``."""
    lo, hi = eng.df(f"select min({eng.idiv(time_col, 1000000)}) as lo, max({eng.idiv(time_col, 1000000)}) as hi "
                    f"from {view}").iloc[0]
    if pd.isna(lo):
        days: list[int] = []
    else:
        rng = pd.date_range(pd.to_datetime(str(int(lo)), format="%Y%m%d"),
                            pd.to_datetime(str(int(hi)), format="%Y%m%d"))
        days = rng.strftime("%Y%m%d").astype("int64").tolist()
    cal = day_type_table(days) if days else pd.DataFrame({"date_int": pd.Series([], dtype="int64"),
                                                          "day_type": pd.Series([], dtype=object)})
    eng.view(cal, "_cal")


def positions_sql(eng: Engine, columns, *, level: int = 6, congested_kmh: float = 20.0, heavy_kmh: float = 10.0,
                  view: str = "_pos") -> str:
    """The SQL of :func:`aggregate_positions` for ``eng`` (one text for DuckDB and Spark;
    see :mod:`ebpm_analysis.engines`)."""
    # Distinct trips as the number of distinct (mesh, day type, hour, trip) rows, exact (no hash of the trip
    # key); the sums in a separate aggregation over the ~110 k (mesh, day type, hour) groups. (Sums per
    # (mesh, day type, hour, trip) first and then per (mesh, day type, hour) took ~1.5× the CPU: nearly
    # every record is its own (mesh, hour, trip) group, a record every ~200 m in 125 m meshes.)
    trip = _trip(eng, columns, prefix="t.")
    tsel = ", ".join(f"{e} as {n}" for e, n in trip)
    tnames = ", ".join(n for _, n in trip)
    return f"""
        with b as (
            select t.mesh as mesh, c.day_type as day_type,
                   cast({eng.idiv('t.gps_time', 10000)} % 100 as integer) as hour, {tsel}, t.speed_kmh as speed_kmh
            from {meshed(eng, view, columns, level)} t join _cal c on c.date_int = {eng.idiv('t.gps_time', 1000000)}),
        d as (
            select mesh, day_type, hour, count(*) as n_trips
            from (select distinct mesh, day_type, hour, {tnames} from b) u
            group by mesh, day_type, hour),
        s as (
            select mesh, day_type, hour, count(*) as n_records,
                   sum(case when speed_kmh <= {sql_float(congested_kmh)} then 1 else 0 end) as n_slow,
                   sum(case when speed_kmh <= {sql_float(heavy_kmh)} then 1 else 0 end) as n_heavy,
                   sum(speed_kmh) / count(*) as mean_speed
            from b group by mesh, day_type, hour)
        select s.mesh as mesh, s.day_type as day_type, s.hour as hour, s.n_records as n_records,
               s.n_slow as n_slow, s.n_heavy as n_heavy, s.mean_speed as mean_speed, d.n_trips as n_trips
        from s join d on s.mesh = d.mesh and s.day_type = d.day_type and s.hour = d.hour"""


def aggregate_positions(source, *, con=None, level: int = 6, congested_kmh: float = 20.0, heavy_kmh: float = 10.0):
    """Per mesh × day type × hour: ``n_records``, ``n_slow`` (≤ congested_kmh), ``n_heavy`` (≤ heavy_kmh),
    ``mean_speed``, ``n_trips`` (distinct trips) and ``share_slow``.

    ``source``: a DuckDB relation (e.g. from :func:`ebpm_analysis.io.etc2.open_parquet`), a Spark DataFrame,
    Parquet files / an ingested dataset folder or URL, or a pandas/Arrow frame with ``opid``, ``gps_time``
    (YYYYMMDDHHMMSS int), ``lat``, ``lon``, ``speed_kmh`` and optionally ``trip_no``.
    ``con``: a DuckDB connection (default: a new one), a SparkSession or an :class:`ebpm_analysis.engines.Engine`.
    """
    eng, cols = _engine(con, source, "_pos")
    _calendar(eng, "_pos")
    df = eng.df(positions_sql(eng, cols, level=level, congested_kmh=congested_kmh, heavy_kmh=heavy_kmh))
    return _finish_positions(df)


def _finish_positions(df: pd.DataFrame) -> pd.DataFrame:
    df["mesh"] = df["mesh"].astype("int64").astype(str)
    for c in ("n_records", "n_slow", "n_heavy", "n_trips"):
        df[c] = df[c].astype("int64")
    df["hour"] = df["hour"].astype("int64")
    df["mean_speed"] = df["mean_speed"].astype(float)
    df["share_slow"] = df["n_slow"] / df["n_records"]
    df["share_heavy"] = df["n_heavy"] / df["n_records"]
    return df.sort_values(["mesh", "day_type", "hour"]).reset_index(drop=True)


def aggregate_positions_pandas(df: pd.DataFrame, *, level: int = 6, congested_kmh: float = 20.0,
                               heavy_kmh: float = 10.0) -> pd.DataFrame:
    """Straightforward pandas version of :func:`aggregate_positions` (reference and benchmark baseline)."""
    out = pd.DataFrame({"mesh": mesh_code(df["lat"].to_numpy(), df["lon"].to_numpy(), level)})
    date = df["gps_time"].to_numpy() // 1_000_000
    cal = day_type_table(np.unique(date)).set_index("date_int")["day_type"]
    out["day_type"] = pd.Series(date).map(cal).to_numpy()
    out["hour"] = (df["gps_time"].to_numpy() // 10_000) % 100
    sp = df["speed_kmh"].to_numpy()
    out["slow"] = (sp <= congested_kmh).astype(np.int64)
    out["heavy"] = (sp <= heavy_kmh).astype(np.int64)
    out["speed"] = sp
    second = df["trip_no"].astype(str) if "trip_no" in df.columns else pd.Series(date).astype(str)
    out["trip"] = df["opid"].astype(str).to_numpy() + "#" + second.to_numpy()
    g = out.groupby(["mesh", "day_type", "hour"], sort=False)
    res = g.agg(n_records=("speed", "size"), n_slow=("slow", "sum"), n_heavy=("heavy", "sum"),
                mean_speed=("speed", "mean"), n_trips=("trip", "nunique")).reset_index()
    return _finish_positions(res)


def grid_mesh_code_sql(eng: Engine, row: str, col: str, level: int = 6) -> str:
    """:func:`grid_mesh_code` as a SQL expression (integer arithmetic, one text for every engine)."""
    if level not in MESH_SIZE_M:
        raise ValueError(f"mesh level must be 1–6, not {level!r}")
    d = eng.idiv
    code = (f"(({d(row, 640)} * 100 + {d(col, 640)}) * 100 + {d(f'({row} % 640)', 80)} * 10 "
            f"+ {d(f'({col} % 640)', 80)})")
    code = f"({code} * 100 + {d(f'({row} % 80)', 8)} * 10 + {d(f'({col} % 80)', 8)})"
    for k in (4, 2, 1):
        code = f"({code} * 10 + {d(f'({row} % {2 * k})', k)} * 2 + {d(f'({col} % {2 * k})', k)} + 1)"
    return d(code, 10 ** _DROP_DIGITS[level]) if _DROP_DIGITS[level] else code


#: Consecutive records of a trip farther apart than this are not joined (a gap in the record, e.g. a tunnel
#: or a lost fix): twice the ~200 m recording interval (docs/sources.md#etc2-recording).
MAX_STEP_M = 400.0
#: Metres per degree of latitude and (× cos latitude) of longitude, for the step length only.
_M_PER_DEG_LAT, _M_PER_DEG_LON = 110_950.0, 111_320.0


def passes_sql(eng: Engine, columns, *, level: int = 6, view: str = "_pos2", max_step_m: float = MAX_STEP_M) -> str:
    """The SQL of :func:`mesh_passes` (one text for every engine).

    Each record is joined to the previous record of its trip (by GPS time; ties broken by position) by a
    straight line, and the line is walked over the level-6 grid column by column: in each column it crosses,
    the rows between the line's latitude where it enters and where it leaves the column. A trip passes
    every cell its path crosses; the distinct (mesh, trip) pairs are counted per mesh of ``level``, and the
    length of the path inside each cell (the share of the line's length between the cell's edges, in metres)
    is summed per mesh as vehicle-km.
    """
    f = sql_float
    # y, x: position in level-6 cells (row = floor(y), column = floor(x)); dx, dy: the step in metres
    dx = f"((x1 - px) * {f(_M_PER_DEG_LON / GRID_COLS_PER_DEG)} * cos(radians(y1 / {f(GRID_ROWS_PER_DEG)})))"
    dy = f"((y1 - py) * {f(_M_PER_DEG_LAT / GRID_ROWS_PER_DEG)})"
    far = f"{dx} * {dx} + {dy} * {dy} > {f(max_step_m * max_step_m)}"
    keep = f"(px is null or pt = gt or {far})"  # first record of a trip, same time stamp, or a gap: its own cell
    trip = _trip(eng, columns)
    tk = ", ".join(n for _, n in trip)  # the trip's columns (an integer key, or 運行ID and trip number)
    w = f"over (partition by {tk} order by gps_time, y, x)"
    # Passes are counted per cell of the level's grid (row, column) and the cell's code computed once per
    # mesh at the end, not for each of the ~3 cells a step crosses (~28 M rows at 10 M records).
    block = {1: 640, 2: 80, 3: 8, 4: 4, 5: 2, 6: 1}.get(level, 1)  # level-6 cells per cell of ``level``

    def cell(v: str) -> str:
        return v if block == 1 else eng.idiv(v, block)

    y_at = "y0 + ({x} - x0) * (y1 - y0) / (x1 - x0)"
    xa, xb = "greatest(least(x0, x1), gcol)", "least(greatest(x0, x1), gcol + 1)"
    return f"""
        with t as (
            select {", ".join(f"{e} as {n}" for e, n in trip)}, gps_time, lat * {f(GRID_ROWS_PER_DEG)} as y,
                   (lon - {f(100)}) * {f(GRID_COLS_PER_DEG)} as x
            from {view}),
        s as (
            select {tk}, gps_time as gt, x as x1, y as y1, lag(x) {w} as px, lag(y) {w} as py,
                   lag(gps_time) {w} as pt
            from t),
        g as (
            select {tk}, x1, y1, case when {keep} then x1 else px end as x0,
                   case when {keep} then y1 else py end as y0,
                   case when {keep} then {f(0)} else sqrt({dx} * {dx} + {dy} * {dy}) end as len
            from s),
        c as (
            select {tk}, x0, y0, x1, y1, len,
                   {eng.series('floor(least(x0, x1))', 'floor(greatest(x0, x1))')} as gcol
            from g),
        k as (
            select {tk}, gcol,
                   case when x1 = x0 then y0 else {y_at.format(x=xa)} end as ya,
                   case when x1 = x0 then y1 else {y_at.format(x=xb)} end as yb,
                   case when x1 = x0 then len else len * ({xb} - {xa}) / abs(x1 - x0) end as clen
            from c),
        r as (
            select {tk}, gcol, ya, yb, clen,
                   {eng.series('floor(least(ya, yb))', 'floor(greatest(ya, yb))')} as grow
            from k),
        m as (
            select {cell('grow')} as mr, {cell('gcol')} as mc, {tk},
                   sum(case when ya = yb then clen else clen * (least(greatest(ya, yb), grow + 1)
                       - greatest(least(ya, yb), grow)) / abs(yb - ya) end) as len
            from r group by {', '.join(str(i) for i in range(1, len(trip) + 3))}),
        n as (
            select mr, mc, count(*) as n_passes, sum(len) as len from m group by mr, mc)
        select {grid_mesh_code_sql(eng, f'mr * {block}', f'mc * {block}', level)} as mesh, n_passes,
               len / {f(1000)} as vehicle_km
        from n"""


def mesh_passes(source, *, con=None, level: int = 6, max_step_m: float = MAX_STEP_M) -> pd.DataFrame:
    """Per mesh: ``n_passes`` = distinct trips whose path crosses the mesh and ``vehicle_km`` = the length of
    their paths inside it (``source``/``con`` as in :func:`aggregate_positions`; :func:`passes_sql`).

    A trip is counted in every mesh its path crosses, not only in meshes holding one of its position
    records: with a record every ~200 m a trip crosses about a third of the ~125 m meshes on its way between
    records, and counting only the meshes with a record undercounts passes there, which inflates braking
    rates by the road's geometry (issue 13). The path between consecutive records is taken as a straight
    line; records more than ``max_step_m`` apart (a gap) and records with the same time stamp (minute-
    resolution times, whose order within the minute is unknown) are not joined (no length).

    ``vehicle_km`` is the exposure of the braking test (:func:`braking_hazards`): a pass that clips a mesh's
    corner drives a few metres in it, one along its diagonal ~190 m, and background braking comes per
    distance driven, not per pass.
    """
    eng, cols = _engine(con, source, "_pos2")
    df = eng.df(passes_sql(eng, cols, level=level, max_step_m=max_step_m))
    df["mesh"] = df["mesh"].astype("int64").astype(str)
    df["n_passes"] = df["n_passes"].astype("int64")
    df["vehicle_km"] = df["vehicle_km"].astype(float)
    return df.sort_values("mesh").reset_index(drop=True)


def mesh_passes_pandas(df: pd.DataFrame, *, level: int = 6, max_step_m: float = MAX_STEP_M) -> pd.DataFrame:
    """Straightforward pandas/numpy version of :func:`mesh_passes` (reference and benchmark baseline): the
    same steps as :func:`passes_sql` on arrays (sort each trip's records, the previous record by ``shift``,
    the grid walk by ``np.repeat``), then ``groupby``. ``df``: ``opid``, ``gps_time``, ``lat``, ``lon`` and
    ``trip_no`` (else ``run_date``, else the day of ``gps_time``)."""
    if level not in MESH_SIZE_M:
        raise ValueError(f"mesh level must be 1–6, not {level!r}")
    second = ("trip_no" if "trip_no" in df.columns else "run_date" if "run_date" in df.columns else None)
    keys = df[["opid"]].assign(trip2=df[second] if second else df["gps_time"] // 1_000_000)
    t = pd.DataFrame({"trip": keys.groupby(["opid", "trip2"], sort=False).ngroup().to_numpy(),
                      "gt": df["gps_time"].to_numpy(), "y": df["lat"].to_numpy() * float(GRID_ROWS_PER_DEG),
                      "x": (df["lon"].to_numpy() - 100.0) * float(GRID_COLS_PER_DEG)})
    t = t.sort_values(["trip", "gt", "y", "x"], ignore_index=True)
    trip, gt, y1, x1 = (t[c].to_numpy() for c in ("trip", "gt", "y", "x"))
    first = np.r_[True, trip[1:] != trip[:-1]]
    px, py, pt = np.r_[np.nan, x1[:-1]], np.r_[np.nan, y1[:-1]], np.r_[-1, gt[:-1]]
    with np.errstate(invalid="ignore"):
        dx = (x1 - px) * (_M_PER_DEG_LON / GRID_COLS_PER_DEG) * np.cos(np.radians(y1 / float(GRID_ROWS_PER_DEG)))
        dy = (y1 - py) * (_M_PER_DEG_LAT / GRID_ROWS_PER_DEG)
        keep = first | (pt == gt) | (dx * dx + dy * dy > max_step_m * max_step_m)
    x0, y0 = np.where(keep, x1, px), np.where(keep, y1, py)
    seg_len = np.where(keep, 0.0, np.sqrt(np.where(keep, 0.0, dx * dx + dy * dy)))
    # columns of the grid each step crosses
    lo = np.floor(np.minimum(x0, x1))
    n = (np.floor(np.maximum(x0, x1)) - lo).astype(np.int64) + 1
    i = np.repeat(np.arange(len(n)), n)
    gcol = lo[i] + (np.arange(len(i)) - np.repeat(np.cumsum(n) - n, n))
    xs0, xs1, ys0, ys1, ln = x0[i], x1[i], y0[i], y1[i], seg_len[i]
    xa = np.maximum(np.minimum(xs0, xs1), gcol)
    xb = np.minimum(np.maximum(xs0, xs1), gcol + 1)
    vert = xs1 == xs0
    with np.errstate(invalid="ignore", divide="ignore"):
        ya = np.where(vert, ys0, ys0 + (xa - xs0) * (ys1 - ys0) / (xs1 - xs0))
        yb = np.where(vert, ys1, ys0 + (xb - xs0) * (ys1 - ys0) / (xs1 - xs0))
        clen = np.where(vert, ln, ln * (xb - xa) / np.abs(xs1 - xs0))
    # rows of the grid in each column
    lo = np.floor(np.minimum(ya, yb))
    n = (np.floor(np.maximum(ya, yb)) - lo).astype(np.int64) + 1
    j = np.repeat(np.arange(len(n)), n)
    grow = lo[j] + (np.arange(len(j)) - np.repeat(np.cumsum(n) - n, n))
    a, b, c = ya[j], yb[j], clen[j]
    with np.errstate(invalid="ignore", divide="ignore"):
        piece = np.where(a == b, c, c * (np.minimum(np.maximum(a, b), grow + 1) - np.maximum(np.minimum(a, b), grow))
                         / np.abs(b - a))
    block = {1: 640, 2: 80, 3: 8, 4: 4, 5: 2, 6: 1}[level]
    cells = pd.DataFrame({"mr": grow.astype(np.int64) // block, "mc": gcol[j].astype(np.int64) // block,
                          "trip": trip[i][j], "len": piece})
    per_trip = cells.groupby(["mr", "mc", "trip"], sort=False)["len"].sum()
    out = per_trip.groupby(level=["mr", "mc"], sort=False).agg(["size", "sum"]).reset_index()
    return pd.DataFrame({"mesh": grid_mesh_code(out["mr"] * block, out["mc"] * block, level).astype(str),
                         "n_passes": out["size"].astype("int64"), "vehicle_km": out["sum"] / 1000.0}
                        ).sort_values("mesh").reset_index(drop=True)


def events_sql(eng: Engine, columns, *, level: int = 6, threshold_g: float = -0.3, view: str = "_ev") -> str:
    """The SQL of :func:`aggregate_events` (one text for every engine)."""
    return f"""
        with e as (
            select mesh, opid, {_trip_second(eng, columns, 'event_time')} as trip2, count(*) as n,
                   sum(accel_long_g) as sa
            from {meshed(eng, view, columns, level)} m where accel_long_g <= {sql_float(threshold_g)}
            group by 1, 2, 3)
        select mesh, sum(n) as n_events, count(*) as n_event_trips, sum(sa) / sum(n) as mean_accel_g
        from e group by mesh"""


def aggregate_events(source, *, con=None, level: int = 6, threshold_g: float = -0.3) -> pd.DataFrame:
    """Per mesh: sudden-braking events (``accel_long_g`` ≤ threshold) and distinct trips braking
    (``source``/``con`` as in :func:`aggregate_positions`)."""
    eng, cols = _engine(con, source, "_ev")
    df = eng.df(events_sql(eng, cols, level=level, threshold_g=threshold_g))
    df["mesh"] = df["mesh"].astype("int64").astype(str)
    for c in ("n_events", "n_event_trips"):
        df[c] = df[c].astype("int64")
    df["mean_accel_g"] = df["mean_accel_g"].astype(float)
    return df.sort_values("mesh").reset_index(drop=True)


def braking_rates(passes: pd.DataFrame, events: pd.DataFrame, *, min_passes: int = 30) -> pd.DataFrame:
    """Events per 1,000 passes per mesh (meshes with ≥ ``min_passes`` passes), with exact Poisson 95 % CI;
    ``vehicle_km`` (the paths' length in the mesh, :func:`mesh_passes`) is kept when ``passes`` has it."""
    from ..stats.intervals import poisson_ci

    df = passes.merge(events, on="mesh", how="left")
    df[["n_events", "n_event_trips"]] = df[["n_events", "n_event_trips"]].fillna(0).astype("int64")
    df = df[df["n_passes"] >= min_passes].reset_index(drop=True)
    df["rate_per_1000"] = df["n_events"] / df["n_passes"] * 1000
    lo, hi = poisson_ci(df["n_events"].to_numpy())
    df["rate_lo"] = lo / df["n_passes"] * 1000
    df["rate_hi"] = hi / df["n_passes"] * 1000
    return df


#: Shortest mean path (m) a mesh's passes must drive in it to be tested: a road clipping a mesh's corner puts a few
#: metres of path in it, and a position error of 5–10 m (GPS) moves braking events in or out of such a mesh far
#: more than its exposure says.
MIN_METRES_PER_PASS = 20.0


def braking_hazards(br: pd.DataFrame, *, alpha: float = 0.05) -> pd.DataFrame:
    """The per-mesh braking test (:func:`ebpm_analysis.stats.hotspots.excess_test`) on a :func:`braking_rates`
    table: each mesh's sudden-braking events against the count expected from the city's rate per vehicle-km
    and the vehicle-km driven in the mesh (``expected``; ``ratio`` = observed / expected), exact one-sided p
    (``p_value``) and Benjamini–Hochberg ``q_value`` over the meshes tested; ``hazard``: q < ``alpha``.

    The exposure is the distance driven, not the passes: background braking comes per km, and a pass along a
    mesh's diagonal drives ~190 m in it, one clipping a corner a few metres; measured on the synthetic
    delivery without planted spots, per-pass expectations put 0.4× the events in meshes crossed briefly and
    1.3× in meshes crossed along their length, and flagged meshes with nothing planted, the per-km ones not.
    Tested: meshes of the table (≥ the minimum passes) whose passes drive on average at least
    :data:`MIN_METRES_PER_PASS` in them. ``ratio_eb``: the ratio shrunk toward 1 by empirical Bayes
    (:func:`eb_rate` of events on the expected count), for maps and ranking.
    """
    from ..stats.hotspots import excess_test

    if "vehicle_km" not in br.columns:
        raise ParameterError("passes", "no column 'vehicle_km'",
                             expected="the table of mesh_passes (passes and the vehicle-km driven in each mesh)")
    out = br.copy()
    km = out["vehicle_km"].to_numpy(dtype=float)
    tested = km * 1000 >= MIN_METRES_PER_PASS * out["n_passes"].to_numpy()
    res = excess_test(out["n_events"].to_numpy(), km, tested=tested, alpha=alpha)
    out["tested"] = res.tested
    out["expected"] = res.expected
    out["ratio"] = res.ratio
    out["p_value"] = res.p
    out["q_value"] = res.q
    out["hazard"] = res.flag
    ok = res.tested
    eb = np.full(len(out), np.nan)
    if ok.any():
        eb[ok] = eb_rate(out.loc[ok, "n_events"].to_numpy(), res.expected[ok])
    out["ratio_eb"] = eb
    return out


def eb_rate(events, exposure) -> np.ndarray:
    """Global empirical-Bayes (Marshall 1991) smoothed rate: small-exposure meshes shrink to the mean."""
    e = np.asarray(events, dtype=float)
    n = np.asarray(exposure, dtype=float)
    if len(e) == 0 or n.sum() == 0:
        return np.full(len(e), np.nan)
    m = e.sum() / n.sum()
    r = e / n
    var = (n * (r - m) ** 2).sum() / n.sum() - m / n.mean()
    var = max(var, 0.0)
    w = var / (var + m / n) if var > 0 else np.zeros_like(n)
    return w * r + (1 - w) * m


def mesh_hotspots(meshes, column: str, *, level: int = 6, alpha: float = 0.05, weights=None):
    """Getis-Ord Gi* (:func:`ebpm_analysis.stats.hotspots.gi_star`) of ``column`` over mesh cells.

    ``meshes``: frame with ``mesh`` codes of ``level``. Neighbours: queen contiguity on the mesh grid (the 8
    surrounding meshes, from the mesh codes' row and column, :func:`mesh_grid_index`; a distance band on the
    cell centres gave 2–4 neighbours to most meshes and none to some, because meshes are not square in metres).
    Adds ``gi_z``, ``gi_neighbours`` (meshes of the frame among the 8), ``gi_p`` (upper-tail normal p, P(Z ≥ z),
    adjusted over all meshes by Benjamini–Hochberg: a false discovery rate of ``alpha`` among the hot spots)
    and ``hotspot`` (z > 0 and adjusted p < alpha). Only hot spots are reported, so the p is one-sided in the
    upper tail, not esda's folded p. ``weights``: the grid weights of these meshes in this order, when the
    caller reuses them (:func:`hotspot_power`).
    """
    import warnings

    out = meshes.copy()
    if len(out) < 3:
        out["gi_z"], out["gi_p"], out["gi_neighbours"], out["hotspot"] = np.nan, np.nan, 0, False
        return out
    if weights is None:
        row, col = mesh_grid_index(out["mesh"], level)
        weights = grid_weights(row, col, queen=True)
    # Analytic p (normal approximation). The conditional permutation test keeps the focal value fixed,
    # which for Gi* (focal included) hides isolated single-cell spikes.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = gi_star(out[column], weights, inference="normal", alpha=alpha,
                      sided="greater", correction="fdr_bh")
    out["gi_z"] = res.z
    out["gi_p"] = res.p
    out["gi_neighbours"] = res.n_neighbours
    out["hotspot"] = res.hot
    return out


def rank_braking_hotspots(br) -> pd.DataFrame:
    """Braking meshes ordered: hazard meshes (:func:`braking_hazards`) first, by q-value, then by the smoothed
    ratio to the city's rate per vehicle-km; adds ``braking_rank``."""
    out = br.sort_values(["hotspot", "q_value", "ratio_eb", "n_events"], ascending=[False, True, False, False],
                         na_position="last").reset_index(drop=True)
    out["braking_rank"] = np.arange(1, len(out) + 1)
    return out


def braking_hotspot_table(passes: pd.DataFrame, events: pd.DataFrame, *, level: int = 6, min_passes: int = 30,
                          alpha: float = 0.05, plane_crs: str):
    """Rates → per-mesh test → mesh cells → Gi* → ranking (GeoDataFrame in ``plane_crs``, the city's plane CRS:
    :func:`ebpm_analysis.geo.plane_crs`).

    ``hotspot`` (the braking hazard list of the report) = :func:`braking_hazards`' ``hazard``: the mesh's own
    events exceed what the city's rate per vehicle-km expects there (exact test, FDR ``alpha``). Gi* on the
    smoothed ratio (``gi_z``, ``gi_p``, ``gi_significant``) is kept as the view of areas: it marks clusters of
    meshes above the city's rate, and misses single-mesh spikes (it averages a mesh with its 8 neighbours).
    """
    br = braking_hazards(braking_rates(passes, events, min_passes=min_passes), alpha=alpha)
    cells = mesh_polygons(br["mesh"], level).to_crs(plane_crs).merge(br, on="mesh")
    gi = mesh_hotspots(cells.loc[cells["tested"], ["mesh", "ratio_eb"]], "ratio_eb", level=level, alpha=alpha)
    cells = cells.merge(gi[["mesh", "gi_z", "gi_p", "gi_neighbours", "hotspot"]], on="mesh", how="left")
    cells["gi_neighbours"] = cells["gi_neighbours"].fillna(0).astype("int64")
    cells["gi_significant"] = cells["hotspot"].fillna(False).astype(bool)
    cells["hotspot"] = cells["hazard"]
    return rank_braking_hotspots(cells.drop(columns="hazard"))


def mesh_hour_factors(mesh_index, hour, slow, trips) -> tuple[np.ndarray, np.ndarray]:
    """The mesh factors ``a`` (one per ``mesh_index`` 0…M-1) and hour factors ``b`` (24) of the two-factor Poisson
    log-linear model slow ~ mesh × hour with exposure ``trips`` (expected slow trips = trips × a[mesh] × b[hour]),
    the reference of :func:`congestion_test`."""
    mi, hi = np.asarray(mesh_index, np.int64), np.asarray(hour, np.int64)
    k, n = np.asarray(slow, float), np.asarray(trips, float)
    n_m, n_h = (int(mi.max()) + 1 if len(mi) else 0), 24
    # Fitted by iterative proportional fitting: written out because a GLM with one dummy per mesh (thousands)
    # would be a dense, slow design.
    a, b = np.ones(n_m), np.ones(n_h)
    km, kh = np.bincount(mi, k, n_m), np.bincount(hi, k, n_h)
    for _ in range(200):
        a = km / np.maximum(np.bincount(mi, n * b[hi], n_m), 1e-12)
        b_new = kh / np.maximum(np.bincount(hi, n * a[mi], n_h), 1e-12)
        done = np.allclose(b_new, b, rtol=1e-9, atol=1e-12)
        b = b_new
        if done:
            break
    return a, b


def congestion_test(agg: pd.DataFrame, *, share_threshold: float = 0.5, min_trips: int = 10,
                    min_baseline_trips: int = 30, alpha: float = 0.05, day_type: str = "weekday") -> pd.DataFrame:
    """Every mesh-hour of ``day_type`` with ≥ ``min_trips`` trips, tested for congestion beyond chance.

    Units are trips, not records (the records of one trip in one mesh-hour are not independent):
    ``slow_trips`` = ``n_slow`` × ``n_trips`` / ``n_records``, rounded (the slow records scaled to the trips
    that made them; with ETC2.0's ~200 m between records a trip leaves about one record per 125 m mesh).

    Reference: the same mesh's slow share in its **other** hours of ``day_type``, scaled by how much slower the
    whole city is at this hour (``hour_factor``): a log-linear model of the slow trips with a mesh and an hour
    factor (exposure: trips), fitted by iterative proportional fitting, then the mesh factor recomputed
    without the tested cell (leave-one-out, so a congested hour does not raise its own reference).
    ``expected_share`` = that mesh factor × the hour factor (at most 1). A road that is slow at every peak
    hour is therefore not "congested" at one of them by chance, and a mesh slow at one hour but not at its
    others is. The p is the exact one-sided binomial P(X ≥ slow_trips | n_trips, expected_share) (scipy);
    ``q_value`` adjusts it by Benjamini–Hochberg over the tested cells (statsmodels). Tested (``tested``):
    cells whose other hours hold ≥ ``min_baseline_trips`` trips. ``congested``: tested, q < ``alpha`` and a
    slow share (of trips) ≥ ``share_threshold`` (the cell is slow, not merely slower than usual).
    """
    from scipy.stats import binom
    from statsmodels.stats.multitest import multipletests

    if not 0 < alpha < 1:
        raise ParameterError("alpha", f"{alpha}", expected="a false discovery rate between 0 and 1, e.g. 0.05")
    sub = agg[(agg["day_type"] == day_type) & (agg["n_trips"] >= min_trips)].reset_index(drop=True).copy()
    n = sub["n_trips"].to_numpy(float)
    k = np.round(sub["n_slow"].to_numpy(float) * n / np.maximum(sub["n_records"].to_numpy(float), 1))
    mi = pd.factorize(sub["mesh"])[0]
    hi = sub["hour"].to_numpy(np.int64)
    n_m = int(mi.max()) + 1 if len(mi) else 0
    a, b = mesh_hour_factors(mi, hi, k, n)
    km = np.bincount(mi, k, n_m)
    # leave-one-out mesh factor: the mesh's other hours only
    num = km[mi] - k if len(mi) else k
    den = np.bincount(mi, n * b[hi], n_m)[mi] - n * b[hi] if len(mi) else n
    base = np.bincount(mi, n, n_m)[mi] - n if len(mi) else n
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.minimum(np.where(den > 0, num / den, np.nan) * b[hi], 1.0)
    tested = np.isfinite(expected) & (base >= min_baseline_trips)
    p, q = np.full(len(sub), np.nan), np.full(len(sub), np.nan)
    if tested.any():
        p[tested] = binom.sf(k[tested] - 1, n[tested], expected[tested])
        q[tested] = multipletests(p[tested], alpha=alpha, method="fdr_bh")[1]
    sub["slow_trips"] = k.astype("int64")
    sub["share_slow_trips"] = k / n
    sub["expected_share"] = expected
    sub["hour_factor"] = b[hi]
    sub["baseline_trips"] = base.astype("int64")
    sub["p_value"], sub["q_value"], sub["tested"] = p, q, tested
    sub["congested"] = tested & (q < alpha) & (sub["share_slow_trips"] >= share_threshold)
    return sub


def congestion_flags(agg: pd.DataFrame, *, share_threshold: float = 0.5, min_trips: int = 10,
                     min_baseline_trips: int = 30, alpha: float = 0.05, day_type: str = "weekday") -> pd.DataFrame:
    """The congested mesh-hours of ``day_type``: the rows of :func:`congestion_test` with ``congested``."""
    t = congestion_test(agg, share_threshold=share_threshold, min_trips=min_trips,
                        min_baseline_trips=min_baseline_trips, alpha=alpha, day_type=day_type)
    return t[t["congested"]].reset_index(drop=True)


def peak_offpeak(agg: pd.DataFrame, *, peak_hours=(7, 8, 17, 18), day_type: str = "weekday",
                 min_records: int = 10) -> pd.DataFrame:
    """Per mesh: slow share and mean speed in weekday peak hours vs off-peak daytime (10–15 h)."""
    sub = agg[agg["day_type"] == day_type].copy()
    sub["period"] = np.where(sub["hour"].isin(peak_hours), "peak",
                             np.where(sub["hour"].between(10, 15), "offpeak", "other"))
    sub = sub[sub["period"] != "other"]
    sub["speed_sum"] = sub["mean_speed"] * sub["n_records"]
    g = sub.groupby(["mesh", "period"]).agg(n_records=("n_records", "sum"), n_slow=("n_slow", "sum"),
                                             speed_sum=("speed_sum", "sum")).reset_index()
    g = g[g["n_records"] >= min_records]
    g["share_slow"] = g["n_slow"] / g["n_records"]
    g["mean_speed"] = g["speed_sum"] / g["n_records"]
    wide = g.pivot(index="mesh", columns="period", values=["share_slow", "mean_speed", "n_records"])
    wide.columns = [f"{a}_{b}" for a, b in wide.columns]
    cols = [f"{a}_{b}" for a in ("share_slow", "mean_speed", "n_records") for b in ("offpeak", "peak")]
    return wide.reindex(columns=cols).reset_index()  # a small delivery may lack one period: its columns stay NaN


def hourly_profile(agg: pd.DataFrame) -> pd.DataFrame:
    """City-wide records, slow share and mean speed by day type × hour."""
    a = agg.assign(speed_sum=agg["mean_speed"] * agg["n_records"])
    g = a.groupby(["day_type", "hour"]).agg(n_records=("n_records", "sum"), n_slow=("n_slow", "sum"),
                                            speed_sum=("speed_sum", "sum")).reset_index()
    g["share_slow"] = g["n_slow"] / g["n_records"]
    g["mean_speed"] = g["speed_sum"] / g["n_records"]
    return g.drop(columns="speed_sum")


# ------------------------------------------------------------------------------------------ accidents
ACCIDENT_MESH_COLUMNS = ("mesh", "n_accidents", "n_fatal", "n_pedestrian", "n_night")


def accidents_per_mesh(acc: pd.DataFrame, *, level: int = 6) -> pd.DataFrame:
    """Per mesh: accidents, fatal accidents, pedestrian accidents, night accidents."""
    m = mesh_code(acc["lat"].to_numpy(), acc["lon"].to_numpy(), level).astype(str)
    df = pd.DataFrame({"mesh": m, "fatal": acc["severity_code"].eq("1").to_numpy(),
                       "pedestrian": acc["accident_type_code"].eq("01").to_numpy(),
                       "night": acc["is_night"].to_numpy()})
    g = df.groupby("mesh").agg(n_accidents=("fatal", "size"), n_fatal=("fatal", "sum"),
                               n_pedestrian=("pedestrian", "sum"), n_night=("night", "sum")).reset_index()
    return g.astype({"n_accidents": "int64", "n_fatal": "int64", "n_pedestrian": "int64", "n_night": "int64"})


def accident_breakdowns(acc: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Counts by accident type, hour, day/night, severity, weather and road shape."""
    out = {}
    for key, col in (("type", "accident_type"), ("day_night", "day_night"), ("severity", "severity"),
                     ("weather", "weather"), ("road_shape", "road_shape")):
        t = acc.groupby([f"{col}_code" if f"{col}_code" in acc else col, col]).size().rename("n").reset_index()
        t["share"] = t["n"] / t["n"].sum()
        out[key] = t.sort_values("n", ascending=False).reset_index(drop=True)
    h = acc.groupby("hour").size().reindex(range(24), fill_value=0).rename("n").reset_index()
    out["hour"] = h
    nd = acc.groupby(["hour", "is_night"]).size().unstack(fill_value=0).reindex(range(24), fill_value=0)
    out["hour_night"] = nd.rename(columns={False: "昼", True: "夜"}).reset_index()
    return out


def accident_trend(acc: pd.DataFrame, years=(2019, 2020, 2021), by: str | None = "city_code") -> dict:
    """Yearly counts (city and ``by`` groups), % change first→last year, and a Poisson log-linear trend.

    Rows whose occurrence year is outside ``years`` (late-registered older accidents) are counted
    separately (``n_outside``), not silently dropped.
    """
    import statsmodels.api as sm

    years = list(years)
    inside = acc["year"].isin(years)
    sub = acc[inside]
    city = sub.groupby("year").size().reindex(years, fill_value=0)
    res = {"years": years, "city": city.rename("n").reset_index(), "n_outside": int((~inside).sum())}
    first, last = city.iloc[0], city.iloc[-1]
    res["change_pct"] = float((last - first) / first * 100) if first else math.nan
    X = sm.add_constant(np.arange(len(years), dtype=float))
    fit = sm.GLM(city.to_numpy(dtype=float), X, family=sm.families.Poisson()).fit()
    b, se = fit.params[1], fit.bse[1]
    res["rate_ratio_per_year"] = float(np.exp(b))
    res["rate_ratio_ci"] = (float(np.exp(b - 1.96 * se)), float(np.exp(b + 1.96 * se)))
    if by:
        res["by_group"] = sub.groupby([by, "year"]).size().unstack(fill_value=0).reindex(columns=years, fill_value=0)
    return res


# ------------------------------------------------------------------------------------------ overlay & ranking
def rank_spots(braking: pd.DataFrame, congestion: pd.DataFrame, accidents: pd.DataFrame, *,
               many_accidents: int = 3, few_accidents: int = 1) -> pd.DataFrame:
    """One table of spots combining braking, congestion and accidents, ranked and classed.

    ``braking``: mesh, n_passes, n_events, rate_per_1000, gi_z, hotspot. ``congestion``: mesh,
    share_slow_peak (weekday peak), n_congested_hours. ``accidents``: mesh, n_accidents, n_fatal, ….

    Classes: ``known_danger`` (≥ ``many_accidents``), ``latent_risk`` (braking hazard mesh with
    ≤ ``few_accidents`` so far), ``congestion_only`` (a congested hour, ``n_congested_hours`` > 0 by
    :func:`congestion_test`, without a braking hazard and with < ``many_accidents``; a high peak slow share
    alone is not congestion: it crosses any threshold by chance where few trips pass). Score = mean of the
    percentile ranks of braking rate, peak slow share and accidents (missing = 0) over the meshes listed.
    """
    df = braking.merge(congestion, on="mesh", how="outer").merge(accidents, on="mesh", how="outer")
    for c, fill in (("n_accidents", 0), ("n_fatal", 0), ("n_pedestrian", 0), ("hotspot", False),
                    ("n_congested_hours", 0)):
        if c in df:
            df[c] = df[c].fillna(fill)
    df["hotspot"] = df["hotspot"].astype(bool)
    for c in ("n_accidents", "n_fatal", "n_pedestrian", "n_congested_hours"):
        if c in df:
            df[c] = df[c].astype("int64")
    peak = df["share_slow_peak"].fillna(0) if "share_slow_peak" in df else pd.Series(0.0, index=df.index)
    cls = np.full(len(df), "", dtype=object)
    congested = df["n_congested_hours"] > 0 if "n_congested_hours" in df else pd.Series(False, index=df.index)
    cls[(congested & ~df["hotspot"] & (df["n_accidents"] < many_accidents)).to_numpy()] = "congestion_only"
    cls[(df["hotspot"] & (df["n_accidents"] <= few_accidents)).to_numpy()] = "latent_risk"
    cls[(df["n_accidents"] >= many_accidents).to_numpy()] = "known_danger"
    df["class"] = cls
    df = df[df["class"] != ""].copy()
    pr = lambda s: s.fillna(0).rank(pct=True, method="average")  # noqa: E731
    # braking: the smoothed ratio to the city's rate per vehicle-km (braking_hazards) when the table has it; the
    # rate per pass favours meshes that passes cross along their length
    brk = df["ratio_eb"] if "ratio_eb" in df else df["rate_per_1000"]
    df["score"] = (pr(brk) + pr(df["share_slow_peak"] if "share_slow_peak" in df else peak)
                   + pr(df["n_accidents"])) / 3
    df["class_label"] = df["class"].map(CLASS_LABELS)
    df = df.sort_values(["score", "n_accidents"], ascending=False).reset_index(drop=True)
    df["rank"] = np.arange(1, len(df) + 1)
    return df


def recovered_hazards(ranked: pd.DataFrame, hazard_meshes: Iterable[str], top_n: int) -> float:
    """Share of planted hazard meshes among the ``top_n`` ranked braking meshes."""
    top = set(ranked.head(top_n)["mesh"])
    hm = list(hazard_meshes)
    return sum(m in top for m in hm) / len(hm) if hm else math.nan


def hazards_found(flagged_meshes, hazard_meshes, *, level: int = 6) -> dict:
    """Planted hazard meshes against flagged meshes, allowing one mesh of position error (a spot near a mesh
    edge puts its events in two meshes): ``found`` = hazards with a flagged mesh among their own and the 8
    around it, ``false`` = flagged meshes with no hazard within one mesh, ``recall`` = found / hazards."""
    fl = [str(m) for m in flagged_meshes]
    hz = [str(m) for m in hazard_meshes]
    if not hz:
        return {"hazards": 0, "flagged": len(fl), "found": 0, "false": len(fl), "recall": math.nan}
    hr, hc = mesh_grid_index(hz, level)
    if fl:
        fr, fc = mesh_grid_index(fl, level)
        near = (np.abs(fr[:, None] - hr[None, :]) <= 1) & (np.abs(fc[:, None] - hc[None, :]) <= 1)
    else:
        near = np.zeros((0, len(hz)), bool)
    found = int(near.any(axis=0).sum())
    return {"hazards": len(hz), "flagged": len(fl), "found": found, "false": int((~near.any(axis=1)).sum()),
            "recall": found / len(hz)}


def congestion_found(flags: pd.DataFrame, congestion: pd.DataFrame, *, level: int = 6) -> dict:
    """Planted congested link-hours against flagged weekday mesh-hours (:func:`congestion_flags`).

    ``congestion``: the generator's truth, one row per link × weekday hour with ``hour`` and ``mesh6`` (the
    level-6 meshes the link crosses, ``;``-joined). ``found`` = link-hours with a flagged mesh among their
    meshes at that hour; ``false`` = flagged mesh-hours with no planted link-hour within one mesh at that hour
    (a link's congestion spills a little into the neighbouring mesh by GPS error); ``recall`` = found /
    link-hours; ``false_share`` = false / flagged.
    """
    drop = _DROP_DIGITS[level]
    fl = flags[flags["day_type"] == "weekday"] if "day_type" in flags else flags
    fl_pairs = list(zip(fl["mesh"].astype(str), fl["hour"].astype(int), strict=True))
    flagged = set(fl_pairs)
    planted: dict[int, set] = {}
    found = 0
    for row in congestion.itertuples():
        codes = {str(int(c) // 10 ** drop) for c in str(row.mesh6).split(";") if c}
        planted.setdefault(int(row.hour), set()).update(codes)
        found += any((c, int(row.hour)) in flagged for c in codes)
    is_false = np.zeros(len(fl_pairs), bool)
    for k, (m, h) in enumerate(fl_pairs):
        near = planted.get(h, set())
        if not near:
            is_false[k] = True
            continue
        r, c = mesh_grid_index([m], level)
        pr, pc = mesh_grid_index(sorted(near), level)
        is_false[k] = not ((np.abs(pr - r[0]) <= 1) & (np.abs(pc - c[0]) <= 1)).any()
    false = int(is_false.sum())
    n = len(congestion)
    fr = fl[is_false]
    return {"link_hours": n, "found": int(found), "recall": found / n if n else math.nan,
            "flagged": len(fl_pairs), "false": false, "false_share": false / len(fl_pairs) if fl_pairs else 0.0,
            "false_hours": sorted(int(h) for h in set(fr["hour"])),
            "false_median_trips": float(fr["n_trips"].median()) if false and "n_trips" in fr else math.nan}


def congestion_sentence(found: dict, *, share_threshold: float, alpha: float) -> str:
    """:func:`congestion_found` in Japanese (validation section of a synthetic run); ``share_threshold`` and
    ``alpha`` as given to :func:`congestion_test`."""
    if not found["link_hours"]:
        return ""
    s = (f"渋滞リンク・時台 {found['link_hours']} のうち {found['found']}（{found['recall'] * 100:.0f}%）が、"
         f"渋滞（低速のトリップが{share_threshold * 100:.0f}%以上で、同じメッシュの他の時台から見込まれるより"
         f"有意に多い、偽発見率{alpha:g}）のメッシュ×時台として検出されました。")
    if found["false"]:
        hours = "・".join(f"{h}時台" for h in found["false_hours"])
        s += (f"渋滞と判定した平日のメッシュ×時台 {found['flagged']:,}件のうち {found['false']:,}件"
              f"（{found['false_share'] * 100:.0f}%）は埋め込んだ渋滞区間から離れていました（{hours}、"
              f"通過トリップの中央値 {found['false_median_trips']:.0f}）。")
    elif found["flagged"]:
        s += (f"渋滞と判定した平日のメッシュ×時台 {found['flagged']:,}件に、埋め込んだ渋滞区間から離れたものは"
              "ありませんでした。")
    else:
        s += "渋滞と判定した平日のメッシュ×時台はありませんでした。"
    return s


def hazard_sentence(found: dict) -> str:
    """:func:`hazards_found` of the braking hazard meshes in Japanese (validation section of a synthetic run)."""
    if not found["flagged"]:
        return ("急減速多発メッシュは 0 で、埋め込んだ多発地点はこのデータ量では検出されず、"
                "誤検出もありませんでした。")
    return (f"急減速多発メッシュ {found['flagged']} は多発地点 {found['hazards']} か所のうち"
            f" {found['found']} か所を捉え"
            f"（隣接メッシュを含む）、多発地点から離れた誤検出は {found['false']} メッシュでした。")


def hotspot_power(passes: pd.DataFrame, *, background_per_km: float, ratios=(1.5, 2.0, 3.0, 5.0),
                  volumes=(1.0, 3.0, 10.0, 30.0), n_planted: int = 8, replicates: int = 20, seed: int = 0,
                  min_passes: int = 30, alpha: float = 0.05) -> pd.DataFrame:
    """Power of the braking hazard rule (:func:`braking_hazards`: exact per-mesh test against the city's rate
    per vehicle-km, Benjamini–Hochberg FDR ``alpha``, meshes of ≥ ``min_passes`` passes) against planted
    effect size and data volume, by simulation on the run's own exposure.

    Each replicate multiplies every mesh's passes and vehicle-km by a volume factor (1 = the data at hand;
    30 ≈ a month of a real delivery when the data at hand are 1/30 of it), plants ``n_planted`` spots at
    random tested meshes whose braking rate per km is ``ratio`` × ``background_per_km``, draws Poisson event
    counts for every mesh and applies the rule. Events are independent Poisson draws (real braking clusters
    by trip and place, so real data need somewhat more volume). Returns one row per (ratio, volume):
    ``recall`` (share of planted spots flagged, their own mesh), ``false_flags`` (flagged meshes that are not
    planted, mean per replicate), ``false_share`` (false flags / all flags, pooled over the replicates),
    ``passes_median`` (median passes per planted mesh), ``replicates``.
    """
    from ..stats.hotspots import excess_test
    from ..stats.power import recovery_summary

    if not background_per_km > 0:
        raise ParameterError("background_per_km", f"{background_per_km!r}", expected="a positive rate per km")
    if "vehicle_km" not in passes.columns:
        raise ParameterError("passes", "no column 'vehicle_km'", expected="the table of mesh_passes")
    base = passes[passes["n_passes"] >= min_passes].reset_index(drop=True)
    km0 = base["vehicle_km"].to_numpy(dtype=float)
    tested = km0 * 1000 >= MIN_METRES_PER_PASS * base["n_passes"].to_numpy()
    if tested.sum() < n_planted + 1:
        raise ParameterError("passes", f"only {int(tested.sum())} meshes with ≥ {min_passes} passes",
                             expected=f"more meshes than the {n_planted} planted spots")
    candidates = np.flatnonzero(tested)
    rng = np.random.default_rng(seed)
    rows = []
    for ratio in ratios:
        for vol in volumes:
            n = np.round(base["n_passes"].to_numpy() * vol).astype(np.int64)
            km = km0 * vol
            flagged, plants = [], []
            for _ in range(replicates):
                planted = rng.choice(candidates, size=n_planted, replace=False)
                lam = km * background_per_km
                lam[planted] *= ratio
                ev = rng.poisson(lam)
                flagged.append(np.asarray(excess_test(ev, km, tested=tested, alpha=alpha).flag, dtype=bool))
                plants.append(planted)
            rows.append({"ratio": float(ratio), "volume": float(vol),
                         **recovery_summary(flagged, plants, [n[p] for p in plants], exposure_name="passes_median")})
    return pd.DataFrame(rows)


def power_table(power: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """:func:`hotspot_power` for the report: one row per planted ratio, one column per data volume, each cell
    「検出率%（誤検出 x.x）」; and the column kinds (labels and shares of simulated spots, no counts of people)."""
    from ..stats.power import recovery_grid
    t = recovery_grid(power, effect="ratio", recall="recall", false="false_flags",
                      effect_label="多発地点の急減速率（背景の倍）", effect_text=lambda r: f"{r:g}倍",
                      volume_label="データ量")
    return t, {c: D.LABEL if c.startswith("多発") else D.OTHER for c in t.columns}


def power_sentence(power: pd.DataFrame, n_planted: int) -> str:
    """What :func:`hotspot_power` says, in Japanese: the smallest planted ratio found at ≥ 80 % per volume and
    the false flags."""
    parts = []
    for v, g in power.groupby("volume"):
        ok = g[g["recall"] >= 0.8]
        parts.append(f"データ量 {v:g}倍では" + (f"背景の{ok['ratio'].min():g}倍以上の地点の8割以上" if len(ok)
                                             else "どの大きさでも8割未満"))
    worst = float(power["false_flags"].max())
    return (f"このデータの走行量のまま（1倍）と、その何倍かのデータがあるとして、急減速の率が背景の何倍の地点を"
            f"見つけられるかを、{n_planted}地点を無作為のメッシュに埋め込む模擬実験で調べました（検出率と、埋め込んでいない"
            f"メッシュの誤検出の平均）。" + "、".join(parts) + "を検出しました。"
            f"誤検出は1回あたり最大 {worst:.1f} メッシュでした。"
            "背景の2倍程度の地点は、1か月の実データ（この合成データの数十倍の記録）でも見落としがあり得ます。")


def congestion_power(agg: pd.DataFrame, *, slow_shares=(0.5, 0.7, 0.9), scales=(1.0, 3.0, 10.0), n_planted: int = 8,
                     replicates: int = 5, seed: int = 0, share_threshold: float = 0.5, min_trips: int = 10,
                     min_baseline_trips: int = 30, alpha: float = 0.05, day_type: str = "weekday") -> pd.DataFrame:
    """Power of the congestion rule (:func:`congestion_test` itself, with the rule's parameters) against the
    planted slow share and the data scale, by simulation on the run's own mesh × hour table ``agg``.

    Exposure: the trips of every ``day_type`` mesh-hour (``n_trips``) × a scale (1 = the data at hand).
    Background: the run's slow share of trips under the rule's own null, the mesh factor × the hour factor of
    :func:`mesh_hour_factors` fitted to the run's ``day_type`` mesh-hours (at most 1), so that nothing is
    congested beyond its mesh and hour unless planted. Each replicate
    plants ``n_planted`` mesh-hours at random among those the rule tests at scale 1, with a slow share of
    trips of ``slow_share`` (the background when that is higher): the generator's congested link-hours have
    about half of their records slow, some far more, some fewer (docs/sources.md#etc2-congestion-size).
    Slow trips are binomial draws (trips independent; real slow trips cluster by day, so real data need
    somewhat more). Returns one row per (slow_share, volume): ``recall`` (share of planted mesh-hours
    flagged), ``false_flags`` (flagged mesh-hours not planted, mean per replicate), ``false_share`` (false /
    all flags, pooled), ``trips_median`` (median trips of a planted mesh-hour), ``replicates``.
    """
    from ..stats.power import recovery_summary

    rule = {"share_threshold": share_threshold, "min_trips": min_trips, "min_baseline_trips": min_baseline_trips,
            "alpha": alpha, "day_type": day_type}
    missing = {"mesh", "hour", "day_type", "n_trips", "n_slow", "n_records"} - set(agg.columns)
    if missing:
        raise ParameterError("agg", f"no column(s) {sorted(missing)}", expected="the table of aggregate_positions")
    sub = agg.loc[(agg["day_type"] == day_type) & (agg["n_trips"] > 0), ["mesh", "hour", "day_type", "n_trips",
                                                                          "n_slow", "n_records"]]
    sub = sub.reset_index(drop=True).assign(row=lambda d: np.arange(len(d)))
    n0 = sub["n_trips"].to_numpy(float)
    k0 = sub["n_slow"].to_numpy(float) * n0 / np.maximum(sub["n_records"].to_numpy(float), 1)  # slow trips
    mi, hi = pd.factorize(sub["mesh"])[0], sub["hour"].to_numpy(np.int64)
    a, b = mesh_hour_factors(mi, hi, k0, n0)
    bg = np.minimum(a[mi] * b[hi], 1.0)  # the rule's own null, fitted to the run's data
    t1 = congestion_test(sub, **rule)
    candidates = t1.loc[t1["tested"], "row"].to_numpy()  # the mesh-hours the rule tests at scale 1
    if len(candidates) < n_planted + 1:
        raise ParameterError("agg", f"only {len(candidates)} {day_type} mesh-hours tested by the congestion rule",
                             expected=f"more than the {n_planted} planted mesh-hours")
    rng = np.random.default_rng(seed)
    frame = sub[["mesh", "hour", "day_type", "row"]]
    rows = []
    for share in slow_shares:
        for vol in scales:
            n = np.round(n0 * vol).astype(np.int64)
            flagged, plants = [], []
            for _ in range(replicates):
                planted = rng.choice(candidates, size=n_planted, replace=False)
                p = bg.copy()
                p[planted] = np.maximum(p[planted], share)
                t = congestion_test(frame.assign(n_trips=n, n_records=n, n_slow=rng.binomial(n, p)), **rule)
                hit = np.zeros(len(sub), bool)
                hit[t.loc[t["congested"], "row"].to_numpy()] = True
                flagged.append(hit)
                plants.append(planted)
            rows.append({"slow_share": float(share), "volume": float(vol),
                         **recovery_summary(flagged, plants, [n[p] for p in plants], exposure_name="trips_median")})
    return pd.DataFrame(rows)


def congestion_power_table(power: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """:func:`congestion_power` for the report, in :func:`ebpm_analysis.stats.power.recovery_grid`'s layout: one
    row per planted slow share, one column per data volume; and the column kinds (shares of simulated
    mesh-hours, no counts of people)."""
    from ..stats.power import recovery_grid
    t = recovery_grid(power, effect="slow_share", recall="recall", false="false_flags",
                      effect_label="渋滞時台の低速トリップの割合", effect_text=lambda s: f"{s * 100:.0f}%",
                      volume_label="データ量")
    return t, {c: D.LABEL if c.startswith("渋滞") else D.OTHER for c in t.columns}


def congestion_power_sentence(power: pd.DataFrame, n_planted: int, *, share_threshold: float) -> str:
    """What :func:`congestion_power` says, in Japanese: per data volume the recall of each planted share, and the
    false flags."""
    parts = []
    for v, g in power.groupby("volume"):
        parts.append(f"データ量 {v:g}倍では" + "、".join(f"低速{r.slow_share * 100:.0f}%の時台の{r.recall * 100:.0f}%"
                                                 for r in g.sort_values("slow_share").itertuples()))
    worst = float(power["false_flags"].max())
    low = power[power["slow_share"] == power["slow_share"].min()]
    top = low.loc[low["volume"].idxmax()]
    near = (f"低速の割合が{top['slow_share'] * 100:.0f}%の渋滞は、データ量 {top['volume']:g}倍でも"
            f" {top['recall'] * 100:.0f}%しか判定されません（判定には観測した割合が基準を超える必要があるため）。"
            if top["recall"] < 0.8 and share_threshold <= top["slow_share"] <= share_threshold + 0.1 else "")
    return (f"渋滞の判定（低速のトリップが{share_threshold * 100:g}%以上で、同じメッシュの他の時台から見込まれるより"
            "有意に多い）が"
            "どれだけの渋滞を見つけられるかを、このデータのメッシュ×時台の通過トリップ数に、"
            f"平日のメッシュ×時台{n_planted}か所に渋滞を無作為に埋め込む模擬実験で調べました"
            "（低速の割合は、埋め込んだ時台以外は"
            "このデータのメッシュと時台の平均的な割合）。"
            + "。".join(parts) + f"を渋滞と判定しました。誤検出は1回あたり最大 {worst:.1f} 時台でした。" + near
            # the limits of this simulation (measured on the generator's data, docs/sources.md#etc2-congestion-size)
            + "埋め込んだ渋滞は1メッシュにつき1時台です。同じ場所で朝夕など複数の時台に渋滞が続くと、基準とする"
            "他の時台にも渋滞が含まれるため、ここに示す割合より見つかりにくくなります。また、他の時台の低速が偶然"
            "少なかったメッシュでは基準が低く見積もられ、渋滞のない時台を渋滞と判定することがあります"
            "（上の誤検出はその分です）。")


def count_events(source, *, con=None, threshold_g: float = -0.3) -> int:
    """Number of behaviour events with ``accel_long_g`` ≤ ``threshold_g`` (all meshes)."""
    eng, _ = _engine(con, source, "_ev_all")
    return int(eng.scalar(f"select count(*) as n from _ev_all where accel_long_g <= {sql_float(threshold_g)}"))


def overall_braking_rate(braking: pd.DataFrame) -> float:
    """Events per 1,000 passes over all meshes of a braking table (the city's average, for the text)."""
    return float(braking["n_events"].sum() / max(braking["n_passes"].sum(), 1) * 1000)


def background_per_km(braking: pd.DataFrame) -> float:
    """Events per vehicle-km over the meshes :func:`braking_hazards` tested (the reference of its expected
    counts and of :func:`hotspot_power`); NaN when no mesh was tested or none has a km."""
    t = braking[braking["tested"]]
    km = float(t["vehicle_km"].sum())
    return float(t["n_events"].sum() / km) if km > 0 else math.nan


def mesh_cells(df: pd.DataFrame, level: int, crs):
    """Mesh polygons (in ``crs``) joined with a frame that has a ``mesh`` column."""
    return mesh_polygons(df["mesh"], level).to_crs(crs).merge(df, on="mesh")


def area_of_cells(cells, areas, *, name: str = "name", outside: str = "（市外）") -> pd.Series:
    """Name of the area (e.g. ward) holding each cell's centre; ``outside`` where none does."""
    ctr = cells[["geometry"]].copy()
    ctr["geometry"] = cells.geometry.centroid
    hit = ctr.sjoin(areas[[name, "geometry"]], how="left").groupby(level=0)[name].first()
    return hit.reindex(cells.index).fillna(outside)


@dataclass
class ProbeResult:
    """Everything the probe report shows, from one call of :func:`analyse_probe`.

    Attributes
    ----------
    level : int
        Mesh level (6 = 1/8 mesh ≈ 125 m).
    years : list of int
        Accident years analysed.
    n_positions : int or None
        Position rows ingested (as given to :func:`analyse_probe`).
    agg : DataFrame
        :func:`aggregate_positions` (all mesh × day type × hour); ``agg_published`` keeps rows with at
        least ``min_cell`` trips.
    passes, events_by_mesh : DataFrame
        :func:`mesh_passes` and :func:`aggregate_events`.
    n_events : int
        Sudden-braking events (≤ ``braking_g``) in the whole delivery.
    braking : GeoDataFrame
        :func:`braking_hotspot_table` (meshes with enough passes, ranked; ``hotspot``: the braking hazard
        meshes of the per-mesh test, :func:`braking_hazards`; ``gi_significant``: Gi* clusters).
    overall_rate : float
        Events per 1,000 passes over ``braking`` (the city's average, for the text).
    congestion_cells : DataFrame
        :func:`congestion_test` of the published weekday mesh-hours (every cell with its test).
    flags : DataFrame
        The congested ones among them (``congestion_cells[congested]``, :func:`congestion_flags`).
    peak_offpeak : DataFrame
        :func:`peak_offpeak` per mesh; ``congestion_by_mesh`` adds ``n_congested_hours``.
    profile : DataFrame
        :func:`hourly_profile`.
    peak_share, offpeak_share : float
        Share of slow records on weekdays in the peak hours / 10–15 h.
    has_accidents : bool
        Whether police accident records were given (a probe-only run has none: the accident fields
        below are then ``None``/empty and the spots cannot be ``known_danger``).
    accidents : DataFrame or None
        Accident records of ``years``; ``accidents_by_mesh`` per mesh (empty without records); ``trend``
        :func:`accident_trend` (all years given, by city) or ``None``; ``breakdowns``
        :func:`accident_breakdowns` (``{}`` without records).
    spots : GeoDataFrame
        :func:`rank_spots` as mesh polygons with ``ward`` (area holding the centre), by rank.
    """

    level: int
    years: list
    n_positions: int | None
    agg: pd.DataFrame
    agg_published: pd.DataFrame
    passes: pd.DataFrame
    events_by_mesh: pd.DataFrame
    n_events: int
    braking: object
    overall_rate: float
    congestion_cells: pd.DataFrame
    flags: pd.DataFrame
    peak_offpeak: pd.DataFrame
    congestion_by_mesh: pd.DataFrame
    profile: pd.DataFrame
    peak_share: float
    offpeak_share: float
    accidents: pd.DataFrame | None
    accidents_by_mesh: pd.DataFrame
    trend: dict | None
    breakdowns: dict
    spots: object

    @property
    def has_accidents(self) -> bool:
        return self.accidents is not None

    @property
    def hotspots(self):
        """Braking hazard meshes (:func:`braking_hazards`), most significant first."""
        return self.braking[self.braking["hotspot"]]

    @property
    def n_tested(self) -> int:
        """Meshes the braking test covered (enough passes, and enough path in them)."""
        return int(self.braking["tested"].sum())

    @property
    def background_per_km(self) -> float:
        """The city's braking events per vehicle-km over the tested meshes (:func:`background_per_km`)."""
        return background_per_km(self.braking)

    @property
    def few_braking(self) -> bool:
        """Too few tested meshes (or no braking at all) for rates, the test and its power."""
        return self.n_tested < 3 or not self.overall_rate > 0

    def braking_sentence(self, *, braking_g: float, min_passes: int, rows: int) -> str:
        """The report's sentence on sudden braking and its hazard meshes (``rows``: position rows read)."""
        if self.few_braking:
            return (f"**データが少なすぎます**：通過{min_passes}トリップ以上で急減速を検定できるメッシュが "
                    f"{self.n_tested} しかなく、急減速の率と多発メッシュは判定できません（走行履歴 {rows:,}行。"
                    "合成データなら生成する走行履歴の行数を設定で増やしてください）。")
        hot = self.hotspots
        top = hot.loc[hot["ratio"].idxmax()] if len(hot) else None
        return (f"急減速（{braking_g:g} G以下）は、通過{min_passes}トリップ以上の {len(self.braking):,}メッシュで"
                f"平均 {self.overall_rate:.1f}件／千通過（走行距離あたり {self.background_per_km * 100:.1f}"
                f"件／百台キロ）でした。検定した {self.n_tested:,}メッシュのうち、急減速が走行距離から見込まれる"
                f"件数を偶然とはいえないほど上回る**急減速多発メッシュ**は {len(hot):,}"
                + (f"で、見込みに対する比が最も大きいメッシュは {top['ratio']:.1f}倍（{int(top['n_events'])}件、"
                   f"見込み {top['expected']:.1f}件）でした。" if top is not None
                   else "でした（このデータ量で見つけられる大きさは「検出力」の節を参照）。")
                + (f"比の高いメッシュがまとまる区域（Gi*）は {self.n_gi_clusters:,}メッシュです。"
                   if self.n_gi_clusters else ""))

    def congestion_text(self, *, share_threshold: float, alpha: float) -> str:
        """The report's sentence on congested mesh-hours (``flags``), with the rule's thresholds as given to
        :func:`analyse_probe` (``congestion_share``, ``alpha``)."""
        fl = self.flags
        s = (f"低速のトリップが{share_threshold * 100:.0f}%以上で、同じメッシュの他の時台から見込まれるより有意に多い"
             f"（偽発見率{alpha:g}）**渋滞**のメッシュ×時台は、平日 {len(fl):,}件"
             f"（{fl['mesh'].nunique():,}メッシュ）です。")
        if len(fl):
            hours = fl["hour"].value_counts().sort_index()
            s += "時台別には " + "、".join(f"{h}時台 {n:,}件" for h, n in hours.items()) + "でした。"
        return s

    @property
    def n_gi_clusters(self) -> int:
        """Meshes in Gi* clusters of high braking ratios (the area view)."""
        return int(self.braking["gi_significant"].sum())

    @property
    def class_counts(self) -> dict[str, int]:
        """Spots per class (``known_danger``, ``latent_risk``, ``congestion_only``), zeros included."""
        n = self.spots["class"].value_counts()
        return {k: int(n.get(k, 0)) for k in CLASS_LABELS}

    def cells(self, df: pd.DataFrame):
        """``df`` (with ``mesh``) as mesh polygons in the CRS of the spots."""
        return mesh_cells(df, self.level, self.spots.crs)

    def exports(self) -> dict[str, pd.DataFrame]:
        """Aggregated tables a run writes (file name → frame, for :func:`ebpm_analysis.io.write_tables`);
        mesh-hours with few trips are left out."""
        out = {"spots_ranked.csv": pd.DataFrame(self.spots.drop(columns="geometry")),
               "braking_by_mesh.csv": pd.DataFrame(self.braking.drop(columns="geometry")),
               "congestion_mesh_day_hour.parquet": self.agg_published}
        if self.has_accidents:
            out |= {"accidents_by_mesh.csv": self.accidents_by_mesh,
                    "accident_trend_by_ward.csv": self.trend["by_group"].reset_index()}
        return out

    def export_kinds(self) -> dict[str, dict]:
        """Column kinds of :meth:`exports` (:func:`probe_kinds`)."""
        return {name: probe_kinds(df.columns) for name, df in self.exports().items()}

    @property
    def n_mesh_hours_left_out(self) -> int:
        """Mesh × day type × hour cells left out of the exports and maps (too few trips)."""
        return int(len(self.agg) - len(self.agg_published))

    def recovery(self, hazards: pd.DataFrame, congestion: pd.DataFrame) -> dict:
        """On synthetic data: share of planted hazard spots among the top 2×n braking meshes, the braking
        hazard meshes against the planted spots (:func:`hazards_found`: ``hotspots`` with found / false /
        recall) and the report's congested mesh-hours (``flags``) against the planted congested link-hours
        (:func:`congestion_found`: ``congestion``) (``hazards``/``congestion`` from the generator's truth)."""
        hz_mesh = mesh_code(hazards["lat"], hazards["lon"], self.level).astype(str)
        hot = hazards_found(self.hotspots["mesh"], hz_mesh, level=self.level)
        return {"hazards_recovered": recovered_hazards(self.braking, hz_mesh, 2 * len(hazards)),
                "congestion": congestion_found(self.flags, congestion, level=self.level), "hotspots": hot}


#: counts from the police 本票, public at source (警察庁 交通事故統計情報のオープンデータ)
POLICE_COUNTS = ("n_accidents", "n_fatal", "n_pedestrian", "n_night")


def probe_kinds(columns, *, shown_as: dict | None = None) -> dict:
    """Disclosure kinds of probe/accident tables. Probe trips are ETC2.0 vehicle trips without a vehicle
    identifier (docs/sources.md#etc2-recording): counts of trips and braking events are counts of vehicle
    passages (``count``), not of persons; accident counts come from the public police records
    (``public_count``, year columns of the ward trend too); names and codes are labels; the rest
    (rates, speeds, shares, scores, coordinates) reveal no count of persons. ``shown_as`` (column → heading of
    a report table) gives the kinds under the headings."""
    out = {}
    for c in map(str, columns):
        if c in POLICE_COUNTS or c.isdigit():
            out[c] = D.PUBLIC
        elif c.startswith("n_"):
            out[c] = D.COUNT
        elif c in ("mesh", "ward", "class", "class_label", "city_code", "day_type", "hotspot", "gi_significant"):
            out[c] = D.LABEL
        else:
            out[c] = D.OTHER
    return D.renamed(out, shown_as) if shown_as else out


def analyse_probe(positions, events, accidents: pd.DataFrame | None, wards, *, con=None, level: int = 6,
                  years=(2019, 2020, 2021), congested_kmh: float = 20.0, heavy_kmh: float = 10.0,
                  peak_hours=(7, 8, 17, 18), congestion_share: float = 0.5, braking_g: float = -0.3,
                  min_passes: int = 30, alpha: float = 0.05, congestion_baseline_trips: int = 30,
                  many_accidents: int = 5, few_accidents: int = 1, min_cell: int = 10,
                  n_positions: int | None = None) -> ProbeResult:
    """Congestion, sudden braking and accidents on the regional mesh, and the ranked spots.

    Parameters
    ----------
    positions, events : DuckDB relation, Spark DataFrame, Parquet paths/URL or frame
        様式1-2 positions and 様式1-4 behaviour events (:func:`ebpm_analysis.io.etc2.open_parquet`).
    accidents : DataFrame or None
        Police accident records (:func:`ebpm_analysis.io.npa_accidents.load_accidents`), all years;
        ``None`` for a probe-only analysis (no police file for the city).
    wards : GeoDataFrame
        Areas of the city in its plane CRS (:func:`ebpm_analysis.geo.plane_crs`) with ``name`` (spots
        are named by the area of their centre); meshes are drawn and Gi* distances measured in that CRS.
    con : DuckDB connection, SparkSession or :class:`ebpm_analysis.engines.Engine`, optional
        Where the aggregation runs (:func:`connect`, :func:`ebpm_analysis.engines.get_engine`); default a
        new DuckDB connection. Every engine runs the same SQL (:func:`positions_sql`, :func:`passes_sql`,
        :func:`events_sql`) and gives the same tables.
    level : int
        Mesh level 3–6.
    years : sequence of int
        Accident years analysed.
    congested_kmh, heavy_kmh : float
        Slow and jammed speeds.
    peak_hours : sequence of int
        Weekday peak hours.
    congestion_share : float
        A weekday mesh-hour is congested when at least this share of its trips is slow and that share is
        significantly above its reference (:func:`congestion_test`).
    braking_g : float
        Sudden braking threshold (negative, G).
    min_passes : int
        Smallest number of passing trips for a braking rate (at least ``min_cell``).
    alpha : float
        False discovery rate of the per-mesh braking test (:func:`braking_hazards`), of Gi* and of the
        congestion test (:func:`congestion_test`).
    congestion_baseline_trips : int
        Trips a mesh needs in its other weekday hours for its mesh-hours to be tested for congestion.
    many_accidents, few_accidents : int
        Known danger: at least ``many_accidents``; latent risk: a hot spot with at most ``few_accidents``.
    min_cell : int
        Mesh-hours with fewer trips are not published.
    n_positions : int, optional
        Rows ingested (reported back).

    Returns
    -------
    ProbeResult

    Raises
    ------
    ParameterError
        ``level`` not 3–6 or ``braking_g`` not negative.
    """
    if level not in (3, 4, 5, 6):
        raise ParameterError("mesh_level", f"got {level!r}", expected="3, 4, 5 or 6")
    if not braking_g < 0:
        raise ParameterError("braking_g", f"got {braking_g!r}", expected="a negative deceleration in G, e.g. -0.3")
    con = as_engine(con)  # one engine (and DuckDB connection or Spark session) for every step
    years = [int(y) for y in years]
    acc = accidents[accidents["year"].isin(years)].reset_index(drop=True) if accidents is not None else None
    agg = aggregate_positions(positions, con=con, level=level, congested_kmh=congested_kmh, heavy_kmh=heavy_kmh)
    passes = mesh_passes(positions, con=con, level=level)
    agg_pub = agg[agg["n_trips"] >= min_cell].reset_index(drop=True)  # disclosure: mesh-hours with few trips hidden
    ev_mesh = aggregate_events(events, con=con, level=level, threshold_g=braking_g)
    n_events = count_events(events, con=con, threshold_g=braking_g)
    braking = braking_hotspot_table(passes, ev_mesh, level=level, min_passes=max(min_passes, min_cell), alpha=alpha,
                                    plane_crs=wards.crs)
    cells = congestion_test(agg_pub, share_threshold=congestion_share, min_trips=min_cell,
                            min_baseline_trips=congestion_baseline_trips, alpha=alpha)
    flags = cells[cells["congested"]].reset_index(drop=True)
    po = peak_offpeak(agg_pub, peak_hours=peak_hours, min_records=min_cell)
    cong_mesh = po[["mesh", "share_slow_peak", "mean_speed_peak", "share_slow_offpeak"]].merge(
        flags.groupby("mesh").size().rename("n_congested_hours").reset_index(), on="mesh", how="left")
    cong_mesh["n_congested_hours"] = cong_mesh["n_congested_hours"].fillna(0).astype(int)
    acc_mesh = accidents_per_mesh(acc, level=level) if acc is not None else pd.DataFrame(
        {c: pd.Series(dtype="int64" if c != "mesh" else object) for c in ACCIDENT_MESH_COLUMNS})
    spots = rank_spots(braking.drop(columns="geometry"), cong_mesh, acc_mesh, many_accidents=many_accidents,
                       few_accidents=few_accidents)
    spots_g = mesh_cells(spots, level, wards.crs).sort_values("rank").reset_index(drop=True)
    spots_g["ward"] = area_of_cells(spots_g, wards)
    wd = agg[agg["day_type"] == "weekday"]
    peak, off = wd[wd["hour"].isin(list(peak_hours))], wd[wd["hour"].between(10, 15)]
    return ProbeResult(
        level=level, years=years, n_positions=n_positions, agg=agg, agg_published=agg_pub, passes=passes,
        events_by_mesh=ev_mesh, n_events=n_events, braking=braking, overall_rate=overall_braking_rate(braking),
        congestion_cells=cells, flags=flags, peak_offpeak=po, congestion_by_mesh=cong_mesh, profile=hourly_profile(agg),
        peak_share=_share(peak["n_slow"].sum(), peak["n_records"].sum()),
        offpeak_share=_share(off["n_slow"].sum(), off["n_records"].sum()),
        accidents=acc, accidents_by_mesh=acc_mesh,
        trend=accident_trend(accidents, years=years, by="city_code") if acc is not None else None,
        breakdowns=accident_breakdowns(acc) if acc is not None else {}, spots=spots_g)


def _share(part, whole) -> float:
    """part / whole, NaN when there is nothing to divide (a small delivery without records in the hours)."""
    return float(part / whole) if whole else math.nan
