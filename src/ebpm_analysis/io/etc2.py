"""ETC2.0 probe deliveries: ZIP files per secondary mesh (2次メッシュ) holding headerless CSVs.

- 様式1-2 走行履歴 (positions): one row every ~200 m — 運行日, 運行ID, GPS時刻, トリップ番号, 経度, 緯度, 速度, …
- 様式1-4 挙動履歴 (behaviour events): sudden movements — 運行ID, time, position, heading, speed,
  前後加速度 / 左右加速度 (G), trigger type.

No official file definition is public (docs/sources.md#etc2-layout). Column positions differ between deliveries, so
every reader takes a **column map** (field → 0-based column index): :data:`POSITION_MAPS` and
:data:`EVENT_MAPS` hold the ``default`` map (the roadlabo/Tsuyama layout for 1-2) and one
``alternative`` (the familycomputer59 layout); pass your own dict for another delivery.
Encoding is utf-8 by default, cp932 in some deliveries (``encoding=``; checked strictly on a sample).

Validation (errors name the ZIP and inner file, the field and its column number, and the CSV lines):
lat 24–46 / lon 122–154 (Japan), speed 0–200 km/h, acceleration within ±2 G, parseable GPS time
(``YYYYMMDDHHMMSS`` or 12-digit ``YYYYMMDDHHMM``), and time never going backwards within a trip
among consecutive rows.

Large deliveries are streamed: :func:`ingest` converts the ZIPs in bounded memory (pyarrow CSV reader)
into a Parquet dataset partitioned hive-style by month and 2次メッシュ, and :func:`open_parquet` gives a
DuckDB relation or Spark DataFrame over it for the aggregation in :mod:`ebpm_analysis.cases.probe`.
:func:`read_positions` / :func:`read_events` return pandas frames for small deliveries.
"""

from __future__ import annotations

import os
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

try:  # ISA-L inflate (same deflate format, faster); zlib where the wheel is missing
    from isal import isal_zlib as _deflate
except ImportError:  # pragma: no cover - isal is a dependency; kept for odd platforms
    import zlib as _deflate

from .. import paths
from ..errors import InputFileError, ParameterError
from ..provenance import record_input
from .common import bad_rows, reading

#: 様式1-2 column maps (0-based). ``default``: roadlabo/ETC (Tsuyama) layout, docs/sources.md#etc2-layout.
#: ``alternative``: familycomputer59 layout (no 運行日/トリップ番号: the trip is 運行ID × day).
POSITION_MAPS: dict[str, dict[str, int]] = {
    "default": {"run_date": 2, "opid": 3, "gps_time": 6, "trip_no": 8, "lon": 14, "lat": 15, "speed_kmh": 18},
    "alternative": {"opid": 3, "gps_time": 6, "speed_kmh": 18, "lon": 21, "lat": 22},
}
#: Number of columns the generator writes for each 様式1-2 map.
POSITION_WIDTH = {"default": 25, "alternative": 24}

#: 様式1-4 column maps. ``default`` follows familycomputer59's positions (運行ID 2, time 6, lon 7,
#: lat 8, heading 9, speed 14) with trip number at 3 and the acceleration fields (names not
#: published: an assumption, docs/sources.md#etc2-layout) at 15–17 and the trigger type at 18.
#: ``alternative`` moves them.
EVENT_MAPS: dict[str, dict[str, int]] = {
    "default": {"opid": 2, "trip_no": 3, "event_time": 6, "lon": 7, "lat": 8, "heading": 9, "speed_kmh": 14,
                "accel_long_g": 15, "accel_lat_g": 16, "trigger": 18},
    "alternative": {"opid": 1, "event_time": 4, "lat": 5, "lon": 6, "speed_kmh": 8, "heading": 9,
                    "accel_long_g": 11, "accel_lat_g": 12, "trigger": 13},
}
EVENT_WIDTH = {"default": 20, "alternative": 15}

REQUIRED_POSITION = ("opid", "gps_time", "lon", "lat", "speed_kmh")
REQUIRED_EVENT = ("opid", "event_time", "lon", "lat", "accel_long_g")
TEXT_FIELDS = {"opid", "trigger"}
INT_FIELDS = {"run_date", "gps_time", "event_time", "trip_no", "heading"}
#: Columns of an ingested Parquet written with dictionary pages (values repeat along a trip).
DICTIONARY_FIELDS = {"opid", "trigger", "run_date", "trip_no", "mesh6", "trip_key"}

LAT_RANGE = (24.0, 46.0)
LON_RANGE = (122.0, 154.0)
SPEED_RANGE = (0.0, 200.0)
ACCEL_RANGE = (-2.0, 2.0)

#: Marker file a generator writes beside synthetic deliveries (so provenance says "synthetic").
SYNTHETIC_MARKER = "SYNTHETIC.txt"


@dataclass
class IngestResult:
    """Output of :func:`ingest`: Parquet files written, rows, input ZIPs, and the dataset folder."""

    parquet: list[Path]
    rows: int
    files: list[str] = field(default_factory=list)
    dataset: Path | None = None


def resolve_map(column_map, kind: str) -> dict[str, int]:
    maps = POSITION_MAPS if kind == "1-2" else EVENT_MAPS
    if column_map is None:
        column_map = "default"
    if isinstance(column_map, str):
        if column_map not in maps:
            raise ParameterError("column_map", f"unknown map {column_map!r}",
                                 expected=f"one of {sorted(maps)} or a dict field → 0-based column index")
        return dict(maps[column_map])
    cm = {str(k): int(v) for k, v in dict(column_map).items()}
    need = REQUIRED_POSITION if kind == "1-2" else REQUIRED_EVENT
    missing = [f for f in need if f not in cm]
    if missing:
        raise ParameterError("column_map", f"missing field(s) {missing}", expected=f"positions for {list(need)}")
    if len(set(cm.values())) != len(cm):
        raise ParameterError("column_map", "two fields share one column", expected="distinct column indices")
    return cm


def _encoding(enc: str) -> str:
    e = enc.lower().replace("_", "-")
    if e in ("cp932", "shift-jis", "sjis", "ms932", "windows-31j"):
        return "cp932"
    if e in ("utf-8", "utf8", "utf-8-sig"):
        return "utf-8"
    raise ParameterError("encoding", f"got {enc!r}", expected="'utf-8' or 'cp932'")


def _members(zpath: Path) -> list[str]:
    if not zpath.exists():
        raise InputFileError(zpath, "file not found", expected="a delivery ZIP (e.g. OUT1-2_<2次メッシュ>_<date>.zip)")
    try:
        with zipfile.ZipFile(zpath) as zf:
            names = [n for n in zf.namelist() if n.lower().endswith(".csv")]
    except zipfile.BadZipFile:
        raise InputFileError(zpath, "not a ZIP archive",
                             expected="a ZIP per 2次メッシュ holding a headerless data.csv") from None
    if not names:
        raise InputFileError(zpath, "no CSV inside", expected="an inner data.csv (headerless)")
    return names


def _check_sample(zf: zipfile.ZipFile, member: str, enc: str, where: str, sample: int = 1 << 16) -> int:
    """Strictly decode the first bytes; return the number of columns of the first line."""
    with zf.open(member) as fh:
        data = fh.read(sample)
    if not data.strip():
        raise InputFileError(where, "inner CSV is empty", expected="headerless data rows")
    try:
        text = data.decode(enc)
    except UnicodeDecodeError as e:
        if e.start < len(data) - 4:
            other = "cp932" if enc == "utf-8" else "utf-8"
            hint = ""
            try:
                data.decode(other)
                hint = f"; it decodes as {other}"
            except UnicodeDecodeError:
                pass
            raise InputFileError(where, f"not valid {enc} text at byte {e.start}{hint}",
                                 expected=(f"a {enc} file, or pass encoding='{other}'" if hint
                                           else f"{enc} text")) from None
        text = data[: e.start].decode(enc)
    first = text.splitlines()[0]
    cells = first.split(",")
    if any(c and not c.replace(".", "").replace("-", "").isdigit() for c in cells[:3]) and "運行" in first:
        raise InputFileError(where, "first line looks like a header",
                             expected="a headerless CSV (様式1-2/1-4 as delivered)")
    return len(cells)


def _is_synthetic(zpath: Path) -> bool:
    return (zpath.parent / SYNTHETIC_MARKER).exists()


def _col_name(f: str, cm: dict[str, int]) -> str:
    return f"{f} (column {cm[f] + 1}, index {cm[f]})"


class _Validator:
    """Range / parse / time-order checks on streamed batches (row numbers are CSV line numbers)."""

    def __init__(self, where: str, kind: str, cm: dict[str, int]):
        self.where, self.kind, self.cm = where, kind, cm
        self.offset = 0
        self.last_key = None
        self.last_time = None
        self.last_xy = None

    def _fail(self, f, mask, problem, expected, values=None):
        rows = bad_rows(mask, first_line=self.offset + 1)
        shown = f" {list(values[:3])}" if values is not None else ""
        raise InputFileError(self.where, problem + shown, column=_col_name(f, self.cm), rows=rows, expected=expected)

    def __call__(self, t: pa.Table) -> pa.Table:
        n = t.num_rows
        tf = "gps_time" if self.kind == "1-2" else "event_time"
        for f in t.column_names:
            col = t[f]
            if col.null_count and f in (REQUIRED_POSITION if self.kind == "1-2" else REQUIRED_EVENT):
                self._fail(f, col.is_null().to_numpy(zero_copy_only=False), "missing value", "a value in every row")
        rng = {"lat": LAT_RANGE, "lon": LON_RANGE, "speed_kmh": SPEED_RANGE, "accel_long_g": ACCEL_RANGE,
               "accel_lat_g": ACCEL_RANGE}
        for f, (lo, hi) in rng.items():
            if f in t.column_names:
                v = t[f].to_numpy(zero_copy_only=False)
                bad = ~((v >= lo) & (v <= hi))
                if bad.any():
                    unit = {"speed_kmh": "km/h", "lat": "°N", "lon": "°E"}.get(f, "G")
                    self._fail(f, bad, "value out of range", f"{lo}–{hi} {unit}"
                               + (" (Japan); check the column map — lat/lon may be swapped" if f in ("lat",
                                                                                                     "lon") else ""),
                               v[bad])
        # GPS time: 14 digits YYYYMMDDHHMMSS (12-digit YYYYMMDDHHMM accepted, seconds = 0).
        tv = t[tf].to_numpy(zero_copy_only=False).astype(np.int64)
        tv = np.where(tv < 10**12, tv * 100, tv)
        ss, mi, hh = tv % 100, (tv // 100) % 100, (tv // 10**4) % 100
        dd, mm, yy = (tv // 10**6) % 100, (tv // 10**8) % 100, tv // 10**10
        bad = ((yy < 2000) | (yy > 2100) | (mm < 1) | (mm > 12) | (dd < 1) | (dd > 31)
               | (hh > 23) | (mi > 59) | (ss > 59))
        if bad.any():
            self._fail(tf, bad, "not a time", "YYYYMMDDHHMMSS (14 digits) or YYYYMMDDHHMM", tv[bad])
        t = t.set_column(t.column_names.index(tf), tf, pa.array(tv, pa.int64()))
        # Time order within a trip among consecutive rows (arrow compute: no per-row Python).
        if n and self.kind == "1-2":
            opid = t["opid"].combine_chunks()
            trip = (t["trip_no"].combine_chunks() if "trip_no" in t.column_names
                    else pa.array(tv // 1_000_000))  # no trip number: a trip is 運行ID × day
            same = np.empty(n, bool)
            back = np.empty(n, bool)
            if n > 1:
                eq = pc.equal(opid.slice(1), opid.slice(0, n - 1))
                eq = pc.and_(eq, pc.equal(trip.slice(1), trip.slice(0, n - 1)))
                same[1:] = eq.to_numpy(zero_copy_only=False)
                back[1:] = tv[1:] < tv[:-1]
            key0 = (opid[0].as_py(), trip[0].as_py())
            same[0] = self.last_key is not None and key0 == self.last_key
            back[0] = self.last_time is not None and tv[0] < self.last_time
            bad = same & back
            if bad.any():
                self._fail(tf, bad, "time goes backwards within a trip", "rows of a trip in time order")
            # Duplicates: a repeated row has the time and position of the row before it in the same trip (rows of
            # a trip are in time order, checked above, so every repeat is next to its original; 12-digit times
            # give several rows per minute, which differ in position).
            xy = np.stack([t["lat"].to_numpy(zero_copy_only=False), t["lon"].to_numpy(zero_copy_only=False)], 1)
            rep = np.empty(n, bool)
            rep[1:] = (tv[1:] == tv[:-1]) & (xy[1:] == xy[:-1]).all(axis=1)
            rep[0] = (self.last_time is not None and tv[0] == self.last_time
                      and bool((xy[0] == self.last_xy).all()))
            dup = same & rep
            if dup.any():
                self._fail(tf, dup, f"{int(dup.sum())} duplicate position rows (same 運行ID, trip, GPS time and "
                                    "position as the row before)",
                           "one row per vehicle position; remove the repeated rows", tv[dup])
            self.last_xy = xy[-1]
            self.last_key = (opid[n - 1].as_py(), trip[n - 1].as_py())
            self.last_time = tv[-1]
        self.offset += n
        return t


def _convert_options(cm: dict[str, int], ncols: int, where: str):
    missing = [f for f, i in cm.items() if i >= ncols]
    if missing:
        raise InputFileError(where, f"only {ncols} columns, the column map needs index {max(cm.values())}",
                             column=missing[0], expected="a column map matching this delivery (see etc2.POSITION_MAPS)")
    types = {}
    for f, i in cm.items():
        types[f"c{i}"] = (pa.string() if f in TEXT_FIELDS else pa.int64() if f in INT_FIELDS else pa.float64())
    include = [f"c{i}" for i in sorted(cm.values())]
    return pacsv.ConvertOptions(include_columns=include, column_types=types, strings_can_be_null=False,
                                null_values=[""])


def _member_blocks(zf: zipfile.ZipFile, member: str, block_size: int):
    """Yield the inflated bytes of a ZIP member in blocks of about ``block_size``.

    Deflated members are inflated with ISA-L (:mod:`isal`, the same raw deflate stream about twice as fast
    as zlib on this data) straight from the member's bytes, located by its local header (PKWARE
    APPNOTE 4.3.7), with the CRC-32 checked as :mod:`zipfile` does; stored, encrypted or otherwise
    compressed members go through :meth:`zipfile.ZipFile.open`. A damaged stream raises
    :class:`zipfile.BadZipFile`.
    """
    info = zf.getinfo(member)
    if info.compress_type != zipfile.ZIP_DEFLATED or info.flag_bits & 0x1 or not zf.filename:
        with zf.open(member) as fh:
            while block := fh.read(block_size):
                yield block
        return
    raw_block = max(1 << 16, block_size // 6)  # CSV inflates about 5-6×
    with open(zf.filename, "rb") as f:
        f.seek(info.header_offset)
        head = f.read(30)
        if len(head) < 30 or head[:4] != b"PK\x03\x04":
            raise zipfile.BadZipFile(f"{member}: bad local file header")
        name_len, extra_len = struct.unpack("<HH", head[26:30])
        f.seek(info.header_offset + 30 + name_len + extra_len)
        d = _deflate.decompressobj(-15)
        crc, left = 0, info.compress_size
        try:
            while left > 0:
                raw = f.read(min(left, raw_block))
                if not raw:
                    raise zipfile.BadZipFile(f"{member}: truncated")
                left -= len(raw)
                out = d.decompress(raw)
                if out:
                    crc = _deflate.crc32(out, crc)
                    yield out
            out = d.flush()
        except _deflate.error as e:
            raise zipfile.BadZipFile(f"{member}: {e}") from None
        if out:
            crc = _deflate.crc32(out, crc)
            yield out
    if crc != info.CRC:
        raise zipfile.BadZipFile(f"Bad CRC-32 for file {member!r}")


def _chunks(zf: zipfile.ZipFile, member: str, block_size: int):
    """Yield newline-aligned chunks of the inflated member; inflation runs in a background thread
    (ISA-L and zlib release the GIL) so it overlaps with CSV parsing. At most two chunks are in flight."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def produce():
        try:
            rest = b""
            for block in _member_blocks(zf, member, block_size):
                if stop.is_set():
                    break
                block = rest + block if rest else block
                cut = block.rfind(b"\n") + 1
                if cut == 0:
                    rest = block
                    continue
                rest = block[cut:]
                q.put(block[:cut])
            if rest.strip() and not stop.is_set():
                q.put(rest)
            q.put(None)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            q.put(e)

    th = threading.Thread(target=produce, daemon=True)
    th.start()
    try:
        while True:
            item = q.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while th.is_alive():
            try:
                q.get_nowait()
            except Exception:  # noqa: BLE001
                pass
            th.join(timeout=0.05)


def _iter_tables(zpath: Path, kind: str, cm: dict[str, int], enc: str, block_size: int = 1 << 25,
                 validate: bool = True):
    inv = {f"c{i}": f for f, i in cm.items()}
    members = _members(zpath)
    with reading(zpath, expected="a ZIP per 2次メッシュ holding a headerless data.csv"), zipfile.ZipFile(zpath) as zf:
        for member in members:
            where = f"{zpath}::{member}"
            ncols = _check_sample(zf, member, enc, where)
            check = _Validator(where, kind, cm) if validate else None
            co = _convert_options(cm, ncols, where)
            ro = pacsv.ReadOptions(column_names=[f"c{i}" for i in range(ncols)], encoding=enc,
                                   block_size=1 << 22, use_threads=True)
            offset = 0
            for chunk in _chunks(zf, member, block_size):
                try:
                    t = pacsv.read_csv(pa.BufferReader(chunk), read_options=ro, convert_options=co)
                except pa.ArrowInvalid as e:
                    msg = str(e)
                    col = next((inv[c] for c in inv if f"column #{c[1:]}" in msg or f"'{c}'" in msg), None)
                    raise InputFileError(where, f"cannot parse near line {offset + 1}+ ({msg.splitlines()[0][:160]})",
                                         column=_col_name(col, cm) if col else None,
                                         expected="numbers in the mapped columns; "
                                                  "same column count on every row") from None
                t = t.rename_columns([inv[c] for c in t.column_names])
                if check is not None:
                    t = check(t)
                offset += t.num_rows
                yield t


def _paths(zips) -> list[Path]:
    if isinstance(zips, (str, os.PathLike)):
        zips = [zips]
    out = []
    for z in zips:
        p = paths.resolve(z)
        out.extend(sorted(p.glob("*.zip")) if p.is_dir() else [p])
    if not out:
        raise InputFileError(str(zips), "no ZIP files found", expected="one ZIP per 2次メッシュ")
    return out


def _record(zpath: Path, nature: str | None, dataset: str):
    record_input(zpath, nature=nature or ("synthetic" if _is_synthetic(zpath) else "real"), dataset=dataset)


def read_deliveries(zips, kind: str = "1-2", *, column_map=None, encoding: str = "utf-8", nature: str | None = None,
                    validate: bool = True) -> pd.DataFrame:
    """Read ZIP deliveries (様式1-2 if ``kind='1-2'``, 様式1-4 if ``'1-4'``) into a pandas frame.

    Columns: the mapped fields, ``time`` (datetime) and ``trip_key`` (運行ID#トリップ番号, or
    運行ID#運行日 when the map has no trip number). For small deliveries; use :func:`ingest` for big ones.
    """
    if kind not in ("1-2", "1-4"):
        raise ParameterError("kind", f"got {kind!r}", expected="'1-2' (走行履歴) or '1-4' (挙動履歴)")
    cm = resolve_map(column_map, kind)
    enc = _encoding(encoding)
    frames = []
    for z in _paths(zips):
        tables = list(_iter_tables(z, kind, cm, enc, validate=validate))
        _record(z, nature, "etc2-" + kind)
        frames.extend(t.to_pandas() for t in tables)
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(cm))
    if df.empty:
        raise InputFileError(str(zips), "no data rows in the deliveries", expected="headerless data rows")
    return tidy(df, kind)


def tidy(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    tf = "gps_time" if kind == "1-2" else "event_time"
    df["time"] = pd.to_datetime(df[tf].astype("int64").astype(str), format="%Y%m%d%H%M%S")
    day = df["time"].dt.strftime("%Y%m%d")
    second = df["trip_no"].astype(str) if "trip_no" in df.columns else day
    df["trip_key"] = df["opid"].astype(str) + "#" + second
    return df


def read_positions(zips, **kw) -> pd.DataFrame:
    return read_deliveries(zips, "1-2", **kw)


def read_events(zips, **kw) -> pd.DataFrame:
    return read_deliveries(zips, "1-4", **kw)


#: Hive partition columns of an ingested dataset: ``month`` (YYYYMM of the record time) and ``mesh2``
#: (6-digit 2次メッシュ of the position). A delivery ZIP per 2次メッシュ and month becomes one partition folder.
PARTITION_COLUMNS = ("month", "mesh2")


def partition_path(month: int, mesh2: int) -> str:
    """The hive-style folder of one partition, ``month=YYYYMM/mesh2=NNNNNN``."""
    return f"month={int(month)}/mesh2={int(mesh2)}"


class _NoTripKey(Exception):
    """A batch whose 運行ID / trip numbers :func:`ebpm_analysis.cases.probe.trip_keys` cannot pack."""


def _with_mesh(t: pa.Table, kind: str, trip_key: bool = False) -> tuple[pa.Table, np.ndarray]:
    """``t`` with the level-6 mesh code column (``mesh6``, int64) and the partition key of each row,
    ``month * 10**6 + mesh2`` (month YYYYMM from the record time; mesh2 = the first 6 digits of mesh6).
    ``trip_key``: also the exact integer trip key (``trip_key``, :func:`ebpm_analysis.cases.probe.trip_keys`);
    raises :class:`_NoTripKey` when this batch's 運行ID or trip numbers cannot be packed."""
    from ..cases.probe import MESH6_COLUMN, TRIP_KEY_COLUMN, mesh_code, trip_keys  # one definition of each

    mesh6 = mesh_code(t["lat"].to_numpy(), t["lon"].to_numpy(), 6)
    tv = t["gps_time" if kind == "1-2" else "event_time"].to_numpy()
    tv = np.where(tv < 10**12, tv * 100, tv)  # 12-digit YYYYMMDDHHMM when not validated
    keys = (tv // 10**8) * 10**6 + mesh6 // 10**5
    t = t.append_column(MESH6_COLUMN, pa.array(mesh6, pa.int64()))
    if trip_key:
        tk = trip_keys(t["opid"], t["trip_no"].to_numpy())
        if tk is None:
            raise _NoTripKey
        t = t.append_column(TRIP_KEY_COLUMN, pa.array(tk, pa.int64()))
    return t, keys


def _split_by_partition(t: pa.Table, keys: np.ndarray):
    """Yield (key, rows of ``t`` in that partition); a chunk of a per-mesh ZIP usually holds one."""
    lo, hi = keys.min(), keys.max()
    if lo == hi:  # the usual case: no sort, no copy
        yield int(lo), t
        return
    for k in np.unique(keys):
        yield int(k), t.filter(pa.array(keys == k))


def _clear_dataset(out_dir: Path) -> None:
    """Remove what an earlier ingest wrote into ``out_dir`` (partition folders and flat Parquet files)."""
    import shutil

    for p in out_dir.glob("month=*"):
        if p.is_dir():
            shutil.rmtree(p)
    for p in out_dir.glob("*.parquet"):
        p.unlink()


def _ingest_zip(z: Path, out_dir: Path, kind: str, cm, enc: str, *, validate: bool, block_size: int,
                compression: str, trip_key: bool = False) -> tuple[list[Path], int]:
    """One ZIP → its partition files (written under a temporary name, renamed when complete)."""
    writers: dict[int, tuple] = {}
    rows = 0
    ok = False
    try:
        for t in _iter_tables(z, kind, cm, enc, block_size=block_size, validate=validate):
            t, keys = _with_mesh(t, kind, trip_key)
            for k, part in _split_by_partition(t, keys):
                if k not in writers:
                    target = out_dir / partition_path(k // 10**6, k % 10**6) / (z.stem + ".parquet")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    tmp = target.with_suffix(".parquet.tmp")
                    # Dictionary pages only for the columns that repeat along a trip (運行ID, trip number, run
                    # date, trigger, mesh code); measurements (lat/lon, speed, times, G) rarely repeat in a real
                    # delivery, and trying a dictionary on them took half the CPU of the write. (The synthetic
                    # delivery repeats coordinates: there a dictionary on them would halve the files, 22 → 12
                    # bytes a row, for ~2 CPU-s more per 10 M rows.)
                    dict_cols = [c for c in t.column_names if c in DICTIONARY_FIELDS]
                    writers[k] = (pq.ParquetWriter(tmp, t.schema, compression=compression,
                                                   use_dictionary=dict_cols or False), tmp, target)
                writers[k][0].write_table(part)
            rows += t.num_rows
        ok = True
    finally:
        for w, tmp, _ in writers.values():
            w.close()
            if not ok:
                tmp.unlink(missing_ok=True)
    written = []
    for _, tmp, target in sorted(writers.values(), key=lambda x: str(x[2])):
        os.replace(tmp, target)
        written.append(target)
    return written, rows


def ingest(zips, out_dir: str | os.PathLike, kind: str = "1-2", *, column_map=None, encoding: str = "utf-8",
           nature: str | None = None, validate: bool = True, block_size: int = 1 << 24,
           compression: str = "snappy", append: bool = False) -> IngestResult:
    """Stream ZIP deliveries into a hive-partitioned Parquet dataset in bounded memory.

    Layout: ``out_dir/month=YYYYMM/mesh2=NNNNNN/<zip stem>.parquet`` (:data:`PARTITION_COLUMNS`): a
    delivery ZIP per 2次メッシュ and month lands in one folder, and DuckDB and Spark skip the folders a
    filter on ``month`` / ``mesh2`` excludes (:func:`open_parquet`). Parquet columns: the mapped fields
    (times normalised to 14-digit ``YYYYMMDDHHMMSS`` int64), the level-6 mesh code ``mesh6`` and, for 様式1-2
    with trip numbers whose 運行ID are all 1–12 digits, the exact integer trip key ``trip_key``
    (:func:`ebpm_analysis.cases.probe.trip_keys`; the queries group on it instead of the text 運行ID and the
    trip number: same trips, less work). ``append=False`` first removes what an earlier
    ingest left in ``out_dir``; ``append=True`` adds to it (a ZIP of the same name replaces its own files).
    Returns the Parquet paths, the dataset folder and the row count.
    """
    if kind not in ("1-2", "1-4"):
        raise ParameterError("kind", f"got {kind!r}", expected="'1-2' or '1-4'")
    cm = resolve_map(column_map, kind)
    enc = _encoding(encoding)
    out_dir = paths.resolve(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    zs = _paths(zips)
    if not append:
        _clear_dataset(out_dir)
    # An integer trip key (probe.trip_keys) for 様式1-2 with trip numbers, when every 運行ID is digits; an
    # appended delivery follows what the dataset already holds (one schema in every file).
    from ..cases.probe import TRIP_KEY_COLUMN

    trip_key = kind == "1-2" and "trip_no" in cm
    old = next(iter(out_dir.glob("month=*/mesh2=*/*.parquet")), None) if append else None
    if trip_key and old is not None:
        trip_key = TRIP_KEY_COLUMN in pq.read_schema(old).names
    try:
        return _ingest_all(zs, out_dir, kind, cm, enc, nature, validate=validate, block_size=block_size,
                           compression=compression, trip_key=trip_key)
    except _NoTripKey:
        if old is not None:
            raise ParameterError("append", f"the dataset {out_dir} holds integer trip keys, but a 運行ID of this "
                                 "delivery is not 1-12 digits (or a trip number exceeds 999,999)",
                                 expected="every delivery ingested again with append=False") from None
        # 運行ID with letters (or > 12 digits): no trip key; queries group on 運行ID and trip number.
        _clear_dataset(out_dir)  # the dataset was empty before this call
        return _ingest_all(zs, out_dir, kind, cm, enc, nature, validate=validate, block_size=block_size,
                           compression=compression, trip_key=False)


def _ingest_all(zs: list[Path], out_dir: Path, kind: str, cm, enc: str, nature, *, validate: bool, block_size: int,
                compression: str, trip_key: bool) -> IngestResult:
    outs, rows, files = [], 0, []
    # ZIPs in parallel (one per core): each has its own inflate thread and CSV parse; most of the work
    # (inflate, parse, Parquet write) runs outside the GIL.
    from concurrent.futures import ThreadPoolExecutor

    def one(z):
        return _ingest_zip(z, out_dir, kind, cm, enc, validate=validate, block_size=block_size,
                           compression=compression, trip_key=trip_key)

    workers = max(1, min(len(zs), os.cpu_count() or 1, 4))
    with ThreadPoolExecutor(workers) as ex:
        for z, (written, n) in zip(zs, ex.map(one, zs), strict=True):  # results in ZIP order
            rows += n
            if written:
                _record(z, nature, "etc2-" + kind)
                outs.extend(written)
                files.append(paths.relative(z))
    pa.default_memory_pool().release_unused()  # hand parse buffers back before the aggregation phase
    return IngestResult(outs, rows, files, dataset=out_dir)


def open_parquet(con, parquet: Iterable[str | os.PathLike] | str | os.PathLike, *, months=None, mesh2=None):
    """Ingested Parquet (files, a dataset folder or an object-store URL) as a relation of ``con``'s engine:
    a DuckDB relation for a DuckDB connection, a Spark DataFrame for a SparkSession
    (:mod:`ebpm_analysis.engines`). ``months`` (YYYYMM) / ``mesh2`` keep only those partitions; both
    engines then skip the other folders without opening them."""
    from ..engines import as_engine

    return as_engine(con).open_parquet(parquet, months=months, mesh2=mesh2)


def delivery_table(data, kind: str = "1-2", *, column_map=None, width: int | None = None) -> pa.Table:
    """Arrange mapped fields (a frame or dict of arrays) into the delivery's column positions.

    Unmapped columns are left empty. Times must be 14-digit integers, ``opid`` zero-padded text.
    """
    cm = resolve_map(column_map, kind)
    if width is None:
        name = column_map if isinstance(column_map, str) else "default"
        width = (POSITION_WIDTH if kind == "1-2" else EVENT_WIDTH).get(name or "default", max(cm.values()) + 1)
    width = max(width, max(cm.values()) + 1)
    n = len(data[next(iter(cm))]) if isinstance(data, dict) else len(data)
    cols: list = [None] * width
    for f, i in cm.items():
        if f in data:
            v = data[f]
            v = v.to_numpy() if hasattr(v, "to_numpy") else np.asarray(v)
            cols[i] = pa.array(v.astype(str) if f in TEXT_FIELDS and v.dtype.kind not in "UO" else v)
    cols = [c if c is not None else pa.nulls(n, pa.string()) for c in cols]
    return pa.table(cols, names=[f"c{i}" for i in range(width)])


def write_csv_table(table: pa.Table, fh, encoding: str = "utf-8") -> None:
    """Write a delivery table as headerless CSV (CRLF) to an open binary stream."""
    opts = pacsv.WriteOptions(include_header=False, quoting_style="none", eol="\r\n", batch_size=65536)
    if _encoding(encoding) == "utf-8":
        pacsv.write_csv(table, fh, write_options=opts)
    else:
        buf = pa.BufferOutputStream()
        pacsv.write_csv(table, buf, write_options=opts)
        fh.write(buf.getvalue().to_pybytes().decode("utf-8").encode("cp932"))


def write_delivery(df, zpath: str | os.PathLike, kind: str = "1-2", *, column_map=None,
                   width: int | None = None, encoding: str = "utf-8", member: str = "data.csv") -> Path:
    """Write mapped fields as one delivery ZIP (headerless CSV inside). For generators and fixtures."""
    table = delivery_table(df, kind, column_map=column_map, width=width)
    zpath = Path(zpath)
    zpath.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open(member, "w", force_zip64=True) as fh:
            write_csv_table(table, fh, encoding)
    return zpath
