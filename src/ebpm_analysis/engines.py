"""Where the probe aggregation runs: DuckDB (embedded, the default) or Apache Spark (a laptop or a cluster).

One definition of the method: :mod:`ebpm_analysis.cases.probe` writes every step as one SQL text and an
:class:`Engine` runs it. The engines differ only in what :class:`Engine` covers:

- integer division (:meth:`Engine.idiv`): DuckDB ``a // b``, Spark SQL ``a div b`` (neither accepts the
  other's form);
- one row per integer of a range (:meth:`Engine.series`): DuckDB ``unnest(generate_series(lo, hi))``, Spark
  ``explode(sequence(lo, hi))`` (the grid walk of trajectory passes);
- opening a source: a DuckDB relation / pandas or Arrow frame / Parquet files or a hive-partitioned Parquet
  dataset (local path or object-store URL) for DuckDB; a Spark DataFrame / pandas frame / the same Parquet
  paths or URLs for Spark;
- fetching a result as a pandas frame.

Numbers are the same in both (IEEE doubles, exact integer counts): the probe parity test compares them.
Float literals in the shared SQL are written in exponent form (``4.0e1``), which both parse as DOUBLE
(``40.0`` would be a DECIMAL in both, with engine-specific arithmetic rules).

Spark session (:func:`spark_session`): ``SPARK_REMOTE`` set → Spark Connect to that server
(``sc://host:15002``; needs ``pip install 'pyspark[connect]'``); inside ``spark-submit`` → the session
spark-submit configured (its ``--master``); otherwise ``local[*]`` (or ``master=``). Object-store URLs
(``s3a://…``, ``gs://…``, ``abfss://…``) need the cluster's Hadoop connector; DuckDB reads ``s3://…`` with
its ``httpfs`` extension.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import pandas as pd

from .errors import InputFileError, ParameterError

ENGINES = ("duckdb", "spark")


def is_url(p) -> bool:
    """True for an object-store or other URL (``s3://``, ``s3a://``, ``gs://``, ``abfss://``, ``hdfs://``,
    ``file://``)."""
    return isinstance(p, str) and "://" in p


def sql_float(x: float) -> str:
    """A float as a SQL literal both engines read as DOUBLE (``40.0`` → ``4.0e1``)."""
    r = repr(float(x))  # shortest text that reads back as the same double
    return r if "e" in r else r + "e0"


class Engine:
    """Runs the shared SQL of :mod:`ebpm_analysis.cases.probe`.

    Subclasses: :class:`DuckDBEngine`, :class:`SparkEngine`.
    """

    name = "engine"

    def idiv(self, a: str, b: str | int) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def series(self, lo: str, hi: str) -> str:  # pragma: no cover - abstract
        """A select-list expression giving one row per integer lo … hi (inclusive, BIGINT)."""
        raise NotImplementedError

    def view(self, source, name: str) -> None:
        """Make ``source`` queryable as ``name``: Parquet paths or URLs (one, or a list) are opened with
        :meth:`open_parquet`; anything else goes to the engine's :meth:`_view`."""
        if _is_paths(source):
            source = self.open_parquet(source)
        self._view(source, name)

    def _view(self, source, name: str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def columns(self, name: str) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def df(self, sql: str) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError

    def open_parquet(self, parquet, *, months=None, mesh2=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def scalar(self, sql: str):
        return self.df(sql).iloc[0, 0]


def _is_paths(source) -> bool:
    """A path or URL, or a non-empty list of them (Parquet files or a dataset folder)."""
    return isinstance(source, (str, os.PathLike)) or (isinstance(source, list) and bool(source)
                                                      and isinstance(source[0], (str, os.PathLike)))


def _parquet_targets(parquet) -> tuple[list[str], str | None]:
    """(files or dataset roots as strings, the hive base path when one dataset folder is given)."""
    if isinstance(parquet, (str, os.PathLike)):
        parquet = [parquet]
    items = [str(p) for p in parquet]
    if not items:
        raise InputFileError("(no files)", "no Parquet files to open", expected="the output of etc2.ingest")
    for p in items:
        if not is_url(p) and not Path(p).exists():
            raise InputFileError(p, "not found", expected="Parquet files or a dataset folder written by etc2.ingest")
    base = items[0] if len(items) == 1 and (is_url(items[0]) or Path(items[0]).is_dir()) else None
    return items, base


def _partition_filter(months, mesh2) -> str:
    """WHERE clause on the hive partition columns (``month`` YYYYMM, ``mesh2`` 6-digit 2次メッシュ)."""
    conds = []
    for col, vals in (("month", months), ("mesh2", mesh2)):
        if vals is None:
            continue
        vals = [vals] if isinstance(vals, (int, str)) else list(vals)
        try:
            ints = [int(str(v).replace("-", "")) for v in vals]
        except ValueError:
            raise ParameterError(col, f"got {vals!r}",
                                 expected="YYYYMM months" if col == "month" else "6-digit 2次メッシュ codes") from None
        conds.append(f"{col} in ({', '.join(str(v) for v in ints) or 'null'})")
    return " and ".join(conds)


class DuckDBEngine(Engine):
    """DuckDB in this process (``con``: a ``duckdb`` connection, e.g. :func:`ebpm_analysis.cases.probe.connect`)."""

    name = "duckdb"

    def __init__(self, con=None):
        if con is None:
            import duckdb

            con = duckdb.connect()
        self.con = con

    def idiv(self, a, b):
        return f"({a} // {b})"

    def series(self, lo, hi):
        return f"unnest(generate_series(cast({lo} as bigint), cast({hi} as bigint)))"

    def _view(self, source, name):
        import duckdb

        if isinstance(source, duckdb.DuckDBPyRelation):
            source.create_view(name, replace=True)
        else:
            self.con.register(name, source)

    def columns(self, name):
        return [r[0] for r in self.con.execute(f"describe {name}").fetchall()]

    def df(self, sql):
        return self.con.execute(sql).df()

    def open_parquet(self, parquet, *, months=None, mesh2=None):
        items, base = _parquet_targets(parquet)
        if base is not None:
            items = [base.rstrip("/") + "/**/*.parquet"]
        lst = ", ".join("'" + f.replace("'", "''") + "'" for f in items)
        where = _partition_filter(months, mesh2)
        # hive_partitioning: month= / mesh2= folders become columns, and filters on them skip files unopened.
        return self.con.sql(f"select * from read_parquet([{lst}], hive_partitioning = true)"
                            + (f" where {where}" if where else ""))


class SparkEngine(Engine):
    """Apache Spark (``spark``: a SparkSession, local, spark-submit or Spark Connect; :func:`spark_session`)."""

    name = "spark"

    def __init__(self, spark=None):
        self.spark = spark if spark is not None else spark_session()

    def idiv(self, a, b):
        return f"({a} div {b})"

    def series(self, lo, hi):
        return f"explode(sequence(cast({lo} as bigint), cast({hi} as bigint)))"

    def _view(self, source, name):
        if isinstance(source, pd.DataFrame):
            source = self.view_frame(source)
        elif not hasattr(source, "createOrReplaceTempView"):
            import pyarrow as pa

            if isinstance(source, pa.Table):
                source = self.view_frame(source.to_pandas())
            else:
                raise ParameterError("source", f"got {type(source).__name__}",
                                     expected="a Spark DataFrame, a pandas frame, or Parquet paths/URLs")
        source.createOrReplaceTempView(name)

    def columns(self, name):
        return list(self.spark.table(name).columns)

    def df(self, sql):
        import warnings

        with warnings.catch_warnings():
            # pyspark 4.x warns that pandas 3 is not "fully supported"; toPandas of these plain numeric and
            # text columns is exact (the parity test compares every value with DuckDB's).
            warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas",
                                    category=FutureWarning)
            warnings.filterwarnings("ignore", message="The copy keyword is deprecated")
            return self.spark.sql(sql).toPandas()

    def view_frame(self, frame: pd.DataFrame):
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas",
                                    category=FutureWarning)
            warnings.filterwarnings("ignore", message="The copy keyword is deprecated")
            return self.spark.createDataFrame(frame)

    def open_parquet(self, parquet, *, months=None, mesh2=None):
        items, base = _parquet_targets(parquet)
        reader = self.spark.read
        if base is None:
            roots = {_hive_root(p) for p in items}
            if len(roots) == 1 and None not in roots:
                reader = reader.option("basePath", roots.pop())
        sdf = reader.parquet(*items)
        where = _partition_filter(months, mesh2)
        return sdf.where(where) if where else sdf


def _hive_root(path: str) -> str | None:
    """The folder above the first ``name=value`` component of a file path (Spark's ``basePath``)."""
    parts = path.split("/")
    for i, p in enumerate(parts):
        if "=" in p:
            return "/".join(parts[:i]) or "/"
    return None


def spark_session(master: str | None = None, *, app_name: str = "ebpm-analysis", conf: dict | None = None):
    """The Spark session to use.

    ``SPARK_REMOTE`` in the environment → a Spark Connect session to it. Otherwise the active session
    (inside ``spark-submit`` or a notebook that made one) or a new one: ``master`` (default
    ``spark.master`` from spark-submit/``SPARK_MASTER``, else ``local[*]``). Local sessions get small
    defaults suited to one machine (shuffle partitions = 2 × cores, no UI, Arrow transfer to pandas).
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ParameterError("engine", "'spark' needs pyspark, which is not installed",
                             expected="pip install 'ebpm-analysis[spark]' (or engine='duckdb')") from None
    remote = os.environ.get("SPARK_REMOTE")
    if remote and master is None:
        return SparkSession.builder.remote(remote).appName(app_name).getOrCreate()
    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active
    if master is None and os.environ.get("PYSPARK_GATEWAY_PORT"):
        # Started by spark-submit (which launched this Python with a gateway): its --master and --conf apply.
        b = SparkSession.builder.appName(app_name)
        for k, v in (conf or {}).items():
            b = b.config(k, v)
        return b.getOrCreate()
    master = master or os.environ.get("SPARK_MASTER") or "local[*]"
    b = SparkSession.builder.appName(app_name).master(master)
    defaults = {"spark.sql.execution.arrow.pyspark.enabled": "true", "spark.sql.session.timeZone": "UTC"}
    if master.startswith("local"):
        cores = os.cpu_count() or 2
        n = master[master.find("[") + 1:master.find("]")] if "[" in master else "1"
        n = cores if n == "*" else int(n)
        defaults |= {"spark.sql.shuffle.partitions": str(2 * n), "spark.ui.enabled": "false",
                     "spark.ui.showConsoleProgress": "false",
                     "spark.driver.memory": os.environ.get("EBPM_SPARK_DRIVER_MEMORY", "2g"),
                     "spark.sql.adaptive.enabled": "true"}
    for k, v in (defaults | (conf or {})).items():
        b = b.config(k, v)
    spark = b.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("EBPM_SPARK_LOG_LEVEL", "ERROR"))
    return spark


def get_engine(engine: str = "duckdb", *, memory_limit: str | None = None, threads: int | None = None,
               temp_directory: str | None = None, master: str | None = None, conf: dict | None = None) -> Engine:
    """An engine by name: ``"duckdb"`` (memory limit, threads and spill folder as in
    :func:`ebpm_analysis.cases.probe.connect`) or ``"spark"`` (:func:`spark_session`)."""
    if engine == "duckdb":
        from .cases.probe import connect

        return DuckDBEngine(connect(memory_limit=memory_limit, threads=threads, temp_directory=temp_directory))
    if engine == "spark":
        return SparkEngine(spark_session(master, conf=conf))
    raise ParameterError("engine", f"got {engine!r}", expected=f"one of {list(ENGINES)}")


def as_engine(con) -> Engine:
    """``con`` as an :class:`Engine`: None → a new DuckDB; a duckdb connection, a SparkSession or an Engine."""
    if isinstance(con, Engine):
        return con
    if con is None:
        return DuckDBEngine()
    mod = type(con).__module__
    if mod.startswith("duckdb") or mod.startswith("_duckdb"):
        return DuckDBEngine(con)
    if mod.startswith("pyspark"):
        return SparkEngine(con)
    raise ParameterError("con", f"got {type(con).__name__}",
                         expected="a DuckDB connection, a SparkSession or an ebpm_analysis.engines.Engine")


def frames_equal(a: pd.DataFrame, b: pd.DataFrame, keys: Iterable[str], *, rtol: float = 1e-9) -> list[str]:
    """Differences between two mesh tables (sorted by ``keys``): integer columns equal, floats within ``rtol``."""
    keys = list(keys)
    if sorted(a.columns) != sorted(b.columns):
        return [f"columns differ: {sorted(a.columns)} vs {sorted(b.columns)}"]
    if len(a) != len(b):
        return [f"{len(a)} rows vs {len(b)}"]
    a = a.sort_values(keys).reset_index(drop=True)
    b = b.sort_values(keys).reset_index(drop=True)[list(a.columns)]
    out = []
    import numpy as np

    for c in a.columns:
        x, y = a[c], b[c]
        if pd.api.types.is_float_dtype(x) or pd.api.types.is_float_dtype(y):
            ok = np.isclose(x.to_numpy(float), y.to_numpy(float), rtol=rtol, atol=0, equal_nan=True)
        else:
            ok = (x.astype(str).to_numpy() == y.astype(str).to_numpy())
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            out.append(f"{c}: {int((~ok).sum())} rows differ, first {a.loc[i, keys].to_dict()}: {x[i]!r} vs {y[i]!r}")
    return out
