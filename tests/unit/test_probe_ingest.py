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
from ebpm_analysis.errors import InputFileError, ParameterError
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
    assert {c for c, e in enc.items() if "RLE_DICTIONARY" in e} == {"opid", "run_date", "trip_no", "mesh6",
                                                                    "trip_key"}
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


def test_trip_keys_equal_exactly_when_operation_id_and_trip_number_are_equal():
    rng = np.random.default_rng(4)
    # 運行ID of 1-12 digits with leading zeros ("0012" and "12" are two vehicles), trip numbers 0 … 999,999
    opid = np.array(["".join(rng.choice(list("0123456789"), rng.integers(1, 13))) for _ in range(20_000)]
                    + ["0012", "12", "012", "999999999999", "000000000000", "0"], dtype=object)
    trip = np.r_[rng.integers(0, 4, 20_000), 7, 7, 7, 999_999, 0, 0]
    keys = cp.trip_keys(pa.array(opid, pa.string()), trip)
    assert keys.dtype == np.int64
    pairs = pd.Series(list(zip(opid, trip, strict=True)))
    assert len(np.unique(keys)) == pairs.nunique() > 15_000  # as many keys as distinct (運行ID, trip) pairs
    # equal keys ⇔ equal pairs: each key maps back to one pair
    assert pd.DataFrame({"k": keys, "p": pairs}).groupby("k")["p"].nunique().max() == 1
    assert len(set(keys[-6:-3])) == 3  # "0012", "12", "012" with the same trip
    assert keys[-3] == 1_999_999_999_999 * 10**6 + 999_999 < np.iinfo(np.int64).max
    assert cp.trip_keys(pd.Series(["0012"]), [3]).tolist() == [10012_000003]
    # not packable: letters, 13 digits, empty, sign, trip numbers out of range
    for o, t in ((["A0012"], [1]), (["1234567890123"], [1]), ([""], [1]), (["-12"], [1]), (["12"], [10**6]),
                 (["12"], [-1])):
        assert cp.trip_keys(pa.array(o, pa.string()), np.array(t)) is None, (o, t)


def test_ingest_writes_trip_keys_and_tables_equal_the_text_keys(tmp_path):
    sp.generate(tmp_path / "d", seed=6, n_rows=30_000)
    res = etc2.ingest(tmp_path / "d" / "positions", tmp_path / "pq", "1-2")
    got = pd.concat([pd.read_parquet(f) for f in res.parquet], ignore_index=True)
    assert (got["trip_key"].to_numpy() == cp.trip_keys(got["opid"], got["trip_no"])).all()
    assert got["trip_key"].nunique() == len(got[["opid", "trip_no"]].drop_duplicates()) > 100
    text = got.drop(columns=["trip_key"])  # the SQL then groups on 運行ID and trip number
    agg_k, agg_t = cp.aggregate_positions(res.dataset), cp.aggregate_positions(text)
    assert frames_equal(agg_k, agg_t, ["mesh", "day_type", "hour"], rtol=1e-12) == []
    assert agg_k["n_trips"].sum() > 1000
    for level in (4, 6):
        pk, pt = cp.mesh_passes(res.dataset, level=level), cp.mesh_passes(text, level=level)
        assert frames_equal(pk, pt, ["mesh"], rtol=1e-12) == [] and pk["n_passes"].sum() > 1000, level


def test_operation_ids_with_letters_get_no_trip_key_and_append_keeps_one_schema(tmp_path):
    sp.generate(tmp_path / "d", seed=6, n_rows=20_000)
    zips = sorted((tmp_path / "d" / "positions").glob("*.zip"))
    lettered = tmp_path / "lettered"
    lettered.mkdir()
    for z in zips[:2]:  # 運行ID "000000000012" → "V00000000012" in two ZIPs
        with zipfile.ZipFile(z) as zf:
            text = zf.read("data.csv").replace(b",0000000", b",V000000")
        _zip(lettered / z.name, text)
    res = etc2.ingest(lettered, tmp_path / "pq_l", "1-2")
    got = pd.concat([pd.read_parquet(f) for f in res.parquet], ignore_index=True)
    assert "trip_key" not in got.columns and got["opid"].str.startswith("V").any()
    assert cp.aggregate_positions(res.dataset)["n_trips"].sum() > 100  # queries group on the text key
    # appending a lettered delivery to a dataset with trip keys would mix two schemas: refused
    etc2.ingest(zips[2:], tmp_path / "pq_k", "1-2")
    with pytest.raises(ParameterError, match="append"):
        etc2.ingest(lettered, tmp_path / "pq_k", "1-2", append=True)
    # appending digits to a dataset without keys writes none either
    etc2.ingest(zips[2:], tmp_path / "pq_l", "1-2", append=True)
    assert not any("trip_key" in pq.read_schema(f).names for f in (tmp_path / "pq_l").rglob("*.parquet"))


def test_pandas_passes_reference_equals_the_sql(tmp_path):
    """mesh_passes_pandas (the benchmark's baseline) does the same work as passes_sql: same tables."""
    sp.generate(tmp_path / "d", seed=8, n_rows=30_000)
    pos = etc2.read_positions(tmp_path / "d" / "positions")
    for level in (4, 6):
        sql = cp.mesh_passes(pos[["opid", "trip_no", "gps_time", "lat", "lon"]], level=level)
        ref = cp.mesh_passes_pandas(pos, level=level)
        assert len(sql) > 50 and sql["n_passes"].sum() > 1000
        assert frames_equal(sql, ref, ["mesh"], rtol=1e-9) == [], level
