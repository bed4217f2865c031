"""The probe aggregation on both engines (issue 16): DuckDB and Apache Spark run the same SQL and give the
same mesh tables; the ingested dataset is partitioned hive-style and both engines skip excluded partitions.

One Spark session (local[2], few shuffle partitions) serves the whole module: starting the JVM is the slow part.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ebpm_analysis import engines as E
from ebpm_analysis.cases import probe as cp
from ebpm_analysis.errors import InputFileError, ParameterError
from ebpm_analysis.io import etc2
from ebpm_analysis.synth import probe as sp

PARITY_ROWS = 1_000_000


@pytest.fixture(scope="module")
def spark():
    s = E.spark_session("local[2]", conf={"spark.sql.shuffle.partitions": "4"})
    yield s
    s.stop()


@pytest.fixture(scope="module")
def delivery_1m(tmp_path_factory):
    """1 M synthetic 様式1-2 rows (and their 様式1-4 events) ingested to partitioned Parquet."""
    base = tmp_path_factory.mktemp("probe1m")
    sp.generate(base / "zips", seed=5, n_rows=PARITY_ROWS)
    pos = etc2.ingest(base / "zips" / "positions", base / "pq_pos", "1-2")
    ev = etc2.ingest(base / "zips" / "events", base / "pq_ev", "1-4")
    return pos, ev


def _tables(eng, pos, ev, level=6):
    p, e = eng.open_parquet(pos.dataset), eng.open_parquet(ev.dataset)
    return {"agg": cp.aggregate_positions(p, con=eng, level=level), "passes": cp.mesh_passes(p, con=eng, level=level),
            "events": cp.aggregate_events(e, con=eng, level=level), "n_events": cp.count_events(e, con=eng)}


def test_duckdb_and_spark_give_identical_mesh_tables_on_1m_rows(spark, delivery_1m):
    pos, ev = delivery_1m
    assert pos.rows >= PARITY_ROWS
    duck = _tables(E.DuckDBEngine(), pos, ev)
    spk = _tables(E.SparkEngine(spark), pos, ev)
    # Not trivially equal: the tables hold the whole delivery.
    assert duck["agg"]["n_records"].sum() == pos.rows
    assert len(duck["agg"]) > 10_000 and len(duck["passes"]) > 1_000 and len(duck["events"]) > 100
    assert duck["n_events"] == spk["n_events"] > 0
    for name, keys in (("agg", ["mesh", "day_type", "hour"]), ("passes", ["mesh"]), ("events", ["mesh"])):
        a, b = duck[name], spk[name]
        assert list(a.columns) == list(b.columns)
        # counts equal, means (mean_speed, mean_accel_g, shares) within 1e-9
        assert E.frames_equal(a, b, keys, rtol=1e-9) == [], name
        for c in [c for c in a.columns if c.startswith("n_")]:
            assert a[c].dtype == b[c].dtype == np.int64
            assert (a.sort_values(keys)[c].to_numpy() == b.sort_values(keys)[c].to_numpy()).all(), (name, c)


def test_engine_sql_equals_pandas_reference_and_numpy_mesh(delivery_1m):
    """The shared SQL agrees with the plain pandas reference (on a 200k-row slice to keep it quick)."""
    pos, _ = delivery_1m
    df = pd.read_parquet(pos.parquet[0]).head(200_000)
    duck = cp.aggregate_positions(df, con=E.DuckDBEngine())
    ref = cp.aggregate_positions_pandas(df)
    assert E.frames_equal(duck, ref, ["mesh", "day_type", "hour"]) == []


def test_spark_small_frame_and_levels(spark):
    """A pandas frame as the source and mesh levels 3 and 5 (the level changes the SQL)."""
    rows = pd.DataFrame({"opid": ["000000000001"] * 4 + ["000000000002"] * 2, "trip_no": [1, 1, 2, 2, 1, 1],
                         "gps_time": [20251006073000, 20251006073010, 20251006074000, 20251011080000,
                                      20251006073000, 20251006073005],
                         "lat": [32.8031, 32.8032, 32.8032, 32.85, 32.8031, 32.8031],
                         "lon": [130.7071, 130.7072, 130.7072, 130.75, 130.7071, 130.7071],
                         "speed_kmh": [5.0, 15.0, 40.0, 60.0, 8.0, 30.0]})
    for level in (3, 5):
        a = cp.aggregate_positions(rows, con=E.DuckDBEngine(), level=level)
        b = cp.aggregate_positions(rows, con=spark, level=level)
        assert E.frames_equal(a, b, ["mesh", "day_type", "hour"]) == []
        ref = cp.mesh_code(rows["lat"], rows["lon"], level).astype(str)
        assert set(b["mesh"]) == set(ref)
    # 2025-10-06 is a Monday, 2025-10-11 a Saturday; trips: (1,1), (1,2), (2,1)
    wd = b[b["day_type"] == "weekday"]
    assert wd["n_records"].sum() == 5 and b[b["day_type"] == "holiday"]["n_records"].sum() == 1
    assert wd.loc[wd["hour"] == 7, "n_trips"].sum() == 3
    assert wd.loc[wd["hour"] == 7, "n_slow"].sum() == 3  # 5, 15 and 8 km/h ≤ 20


def test_partitioned_layout_and_pruning_in_both_engines(spark, tmp_path):
    sp.generate(tmp_path / "zips", seed=3, n_rows=30_000)
    res = etc2.ingest(tmp_path / "zips" / "positions", tmp_path / "pq", "1-2")
    zips = sorted((tmp_path / "zips" / "positions").glob("*.zip"))
    # One ZIP per 2次メッシュ and month → one partition folder each, named after the ZIP's mesh.
    assert len(res.parquet) == len(zips) >= 2
    for f in res.parquet:
        rel = f.relative_to(res.dataset).parts
        assert rel[0] == "month=202510" and rel[1].startswith("mesh2=") and len(rel) == 3
        assert rel[1].removeprefix("mesh2=") in f.name  # OUT1-2_<mesh2>_<date>.parquet
    keep = res.parquet[0].parent.name.removeprefix("mesh2=")
    n_keep = len(pd.read_parquet(res.parquet[0]))
    # Break every file of the other partitions: a query that opened them would fail.
    for f in res.parquet[1:]:
        f.write_bytes(b"not parquet")
    for eng in (E.DuckDBEngine(), E.SparkEngine(spark)):
        rel = eng.open_parquet(res.dataset, months=[202510], mesh2=[keep])
        eng.view(rel, "_one")
        assert int(eng.scalar("select count(*) as n from _one")) == n_keep, eng.name
        eng.view(eng.open_parquet(res.dataset), "_all")
        with pytest.raises(Exception):  # noqa: B017 - each engine raises its own error type for a corrupt file
            eng.scalar("select count(*) as n from _all")


def test_spark_reads_a_url(spark, tmp_path):
    """An object-store style URL (here file://) is passed through untouched to Spark."""
    sp.generate(tmp_path / "zips", seed=4, n_rows=10_000)
    res = etc2.ingest(tmp_path / "zips" / "positions", tmp_path / "pq", "1-2")
    eng = E.SparkEngine(spark)
    eng.view(eng.open_parquet("file://" + str(res.dataset)), "_u")
    assert int(eng.scalar("select count(*) as n from _u")) == res.rows


def test_engine_choice_errors(tmp_path):
    with pytest.raises(ParameterError, match="engine"):
        E.get_engine("polars")
    with pytest.raises(ParameterError, match="con"):
        E.as_engine(object())
    with pytest.raises(InputFileError, match="not found"):
        E.DuckDBEngine().open_parquet(tmp_path / "missing")
    with pytest.raises(ParameterError, match="mesh2"):
        E.DuckDBEngine().open_parquet(tmp_path, mesh2=["abc"])
    assert E.sql_float(40) == "40.0e0" and E.sql_float(1.875) == "1.875e0" and E.sql_float(1e-20) == "1e-20"


def test_reingest_replaces_the_dataset(tmp_path):
    sp.generate(tmp_path / "a", seed=1, n_rows=5_000)
    first = etc2.ingest(tmp_path / "a" / "positions", tmp_path / "pq", "1-2")
    stale = first.dataset / "month=202001" / "mesh2=999999" / "old.parquet"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"x")
    (first.dataset / "flat.parquet").write_bytes(b"x")
    again = etc2.ingest(tmp_path / "a" / "positions", tmp_path / "pq", "1-2")
    assert not stale.exists() and not (first.dataset / "flat.parquet").exists()
    assert sorted(again.parquet) == sorted(first.parquet)
    con = E.DuckDBEngine()
    con.view(con.open_parquet(again.dataset), "_d")
    assert int(con.scalar("select count(*) as n from _d")) == again.rows == first.rows
