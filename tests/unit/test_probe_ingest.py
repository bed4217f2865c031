"""Fast ingest path of io/etc2 (issue 16): ISA-L inflate straight from the member's bytes, ZIPs in parallel,
partition split, the level-6 mesh code stored once. Same bytes and rows as zipfile's own reader; damaged members
are refused."""

from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ebpm_analysis.cases import probe as cp
from ebpm_analysis.engines import frames_equal
from ebpm_analysis.errors import InputFileError
from ebpm_analysis.io import etc2
from ebpm_analysis.synth import probe as sp


def _zip(path, text: bytes, method=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression=method) as zf:
        zf.writestr("data.csv", text)
    return path


def _csv(n=20_000) -> bytes:
    rng = np.random.default_rng(0)
    rows = [f"x,y,{i % 7},{i:012d},a,b,{20251006070000 + i},c,1,{rng.integers(9)}\r\n" for i in range(n)]
    return "".join(rows).encode()


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
def test_member_blocks_equal_zipfile(tmp_path, method):
    text = _csv()
    z = _zip(tmp_path / "a.zip", text, method)
    with zipfile.ZipFile(z) as zf:
        got = b"".join(etc2._member_blocks(zf, "data.csv", 1 << 14))
        assert got == zf.read("data.csv") == text
        chunks = list(etc2._chunks(zf, "data.csv", 1 << 14))
    assert len(chunks) >= 2 and all(c.endswith(b"\n") for c in chunks) and b"".join(chunks) == text


def test_damaged_member_is_refused(tmp_path):
    z = _zip(tmp_path / "a.zip", _csv())
    data = bytearray(z.read_bytes())
    with zipfile.ZipFile(z) as zf:
        info = zf.getinfo("data.csv")
    mid = info.header_offset + 30 + len("data.csv") + info.compress_size // 2
    data[mid] ^= 0xFF  # flip one byte of the deflate stream
    z.write_bytes(bytes(data))
    with zipfile.ZipFile(z) as zf, pytest.raises(zipfile.BadZipFile):
        b"".join(etc2._member_blocks(zf, "data.csv", 1 << 14))


def test_parallel_ingest_equals_reader_and_keeps_zip_order(tmp_path):
    sp.generate(tmp_path / "d", seed=2, n_rows=40_000)
    res = etc2.ingest(tmp_path / "d" / "positions", tmp_path / "pq", "1-2")
    zips = sorted((tmp_path / "d" / "positions").glob("*.zip"))
    # Files come in ZIP order (a ZIP may add a second partition for a point rounded across a mesh edge).
    assert list(dict.fromkeys(f.name.removesuffix(".parquet") for f in res.parquet)) == [z.stem for z in zips]
    got = pd.concat([pd.read_parquet(f) for f in res.parquet], ignore_index=True)
    ref = etc2.read_positions(tmp_path / "d" / "positions")
    assert res.rows == len(got) == len(ref)
    cols = ["opid", "gps_time", "trip_no", "lat", "lon", "speed_kmh"]
    a = got[cols].sort_values(cols).reset_index(drop=True)
    b = ref[cols].sort_values(cols).reset_index(drop=True)
    for c in cols:
        assert (a[c].to_numpy() == b[c].to_numpy()).all(), c


def test_split_by_partition_month_and_mesh():
    t = pa.table({"gps_time": [20251031235959, 20251101000001, 20251101000002],
                  "lat": [32.80, 32.80, 33.40], "lon": [130.70, 130.70, 130.70]})
    t2, keys = etc2._with_mesh(t, "1-2")
    assert t2["mesh6"].to_pylist() == cp.mesh_code(t["lat"], t["lon"], 6).tolist()
    parts = dict(etc2._split_by_partition(t2, keys))
    assert sorted(parts) == [202510 * 10**6 + 493015, 202511 * 10**6 + 493015, 202511 * 10**6 + 503005]
    assert [parts[k].num_rows for k in sorted(parts)] == [1, 1, 1]
    one = pa.table({"gps_time": [202510060700] * 2, "lat": [32.8] * 2, "lon": [130.7] * 2})  # 12-digit time
    one, keys = etc2._with_mesh(one, "1-2")
    ((k, part),) = list(etc2._split_by_partition(one, keys))
    assert part is one and k == 202510 * 10**6 + 493015


def test_ingest_stores_the_level6_mesh_code_and_queries_use_it(tmp_path):
    sp.generate(tmp_path / "d", seed=3, n_rows=20_000)
    res = etc2.ingest(tmp_path / "d" / "positions", tmp_path / "pq", "1-2")
    got = pd.concat([pd.read_parquet(f) for f in res.parquet], ignore_index=True)
    assert got["mesh6"].dtype == "int64"
    assert (got["mesh6"].to_numpy() == cp.mesh_code(got["lat"], got["lon"], 6)).all()
    rg = pq.ParquetFile(res.parquet[0]).metadata.row_group(0)
    enc = {rg.column(i).path_in_schema: rg.column(i).encodings for i in range(rg.num_columns)}
    assert {c for c, e in enc.items() if "RLE_DICTIONARY" in e} == {"opid", "run_date", "trip_no", "mesh6"}
    frame = got.drop(columns=["mesh6"])  # without the stored code the SQL computes it from lat/lon
    for level in (3, 5, 6):
        a = cp.aggregate_positions(res.dataset, level=level)
        b = cp.aggregate_positions(frame, level=level)
        assert not frames_equal(a, b, ["mesh", "day_type", "hour"], rtol=1e-12), level
        assert a["mesh"].str.len().eq({3: 8, 5: 10, 6: 11}[level]).all()


def test_error_in_one_zip_of_many_names_it_and_leaves_no_partial_files(tmp_path):
    sp.generate(tmp_path / "d", seed=2, n_rows=20_000)
    zips = sorted((tmp_path / "d" / "positions").glob("*.zip"))
    bad = zips[-1]
    with zipfile.ZipFile(bad) as zf:
        text = zf.read("data.csv")
    lines = text.split(b"\r\n")
    cells = lines[5].split(b",")
    cells[18] = b"999"  # speed out of range on line 6
    lines[5] = b",".join(cells)
    _zip(bad, b"\r\n".join(lines))
    with pytest.raises(InputFileError, match=bad.name) as e:
        etc2.ingest(tmp_path / "d" / "positions", tmp_path / "pq", "1-2")
    assert "speed_kmh" in str(e.value) and "6" in str(e.value)
    assert not list((tmp_path / "pq").rglob("*.tmp"))
