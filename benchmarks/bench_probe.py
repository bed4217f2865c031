"""Benchmark for case 3: ETC2.0 様式1-2 position rows from zipped delivery files → mesh tables, on each engine.

Step measured ("ingest + aggregate", end to end): read every ZIP (headerless CSV per 2次メッシュ), validate,
write the hive-partitioned Parquet dataset, and produce the mesh × day-type × hour table (records, slow
share, mean speed, distinct trips) plus the distinct-trip passes per mesh.

- ``duckdb``: :func:`ebpm_analysis.io.etc2.ingest` then :func:`ebpm_analysis.cases.probe.aggregate_positions`
  / ``mesh_passes`` in DuckDB (``memory_limit``, spill ``temp_directory``, 2 threads).
- ``spark``: the same ingest, then the same SQL in Apache Spark ``local[2]`` (one JVM, driver memory
  ``SPARK_DRIVER_MEMORY``). The JVM start is timed apart (``startup_s``) and not in ``seconds``; peak
  memory is the Python process plus the JVM.
- ``pandas``: the straightforward way — ``pandas.read_csv`` on each ZIP, ``concat``, then
  :func:`ebpm_analysis.cases.probe.aggregate_positions_pandas` and
  :func:`ebpm_analysis.cases.probe.mesh_passes_pandas` (the same trajectory passes and vehicle-km as the SQL,
  vectorised with numpy: the same work, so the same tables).

Each run happens in a fresh ``spawn`` child process; peak memory is VmHWM (peak RSS) of the child (and of
its JVM for Spark). Every engine's tables are compared with DuckDB's (counts equal, means within 1e-9:
``same_as_duckdb``). Sizes: 1 M, 10 M, 30 M rows (``--quick``: 1 M only); pandas up to ``--pandas-max``
(default 10 M). Writes ``build/bench/probe.json`` and ``build/bench/probe.md`` (side-by-side table and
per-core throughput, included in ``build/bench/summary.md`` by ``make bench``).

    .venv/bin/python benchmarks/bench_probe.py [--quick] [--sizes 1000000 10000000] [--engines duckdb spark pandas]
        [--delivery 10000000=DIR]   # use the ZIPs in DIR for that size instead of the cached synthetic set
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

MEMORY_LIMIT = "800MB"
THREADS = 2
SPARK_DRIVER_MEMORY = "2g"
ENGINES = ("duckdb", "spark", "pandas")


def peak_rss_mb(pid: int | str = "self") -> float:
    """Peak resident memory (VmHWM) of a process. ``ru_maxrss`` is not used: on Linux it survives
    execve, so a child spawned from a big parent would report the parent's size."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 if pid == "self" else 0.0


def _jvm_pids() -> list[int]:
    import psutil

    return [c.pid for c in psutil.Process().children(recursive=True) if "java" in c.name()]


def _cpu_s(pids=()) -> float:
    import psutil

    ru = resource.getrusage(resource.RUSAGE_SELF)
    total = ru.ru_utime + ru.ru_stime
    for p in pids:
        try:
            t = psutil.Process(p).cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _save(work: Path, agg, passes) -> None:
    agg.to_parquet(work / "agg.parquet")
    passes.to_parquet(work / "passes.parquet")


def _engine_step(engine: str, zdir: str, work: str, q):
    """Ingest (shared) + the engine's aggregation; times each phase."""
    from ebpm_analysis import engines as E
    from ebpm_analysis.cases import probe as cp
    from ebpm_analysis.io import etc2

    work_p = Path(work)
    shutil.rmtree(work_p, ignore_errors=True)
    work_p.mkdir(parents=True)
    startup = 0.0
    jvm: list[int] = []
    if engine == "spark":
        t = time.perf_counter()
        eng = E.SparkEngine(E.spark_session(f"local[{THREADS}]", conf={
            "spark.driver.memory": SPARK_DRIVER_MEMORY, "spark.sql.shuffle.partitions": str(2 * THREADS)}))
        eng.df("select 1 as x")  # the JVM is up and a first query ran
        startup = time.perf_counter() - t
        jvm = _jvm_pids()
    else:
        eng = E.DuckDBEngine(cp.connect(memory_limit=MEMORY_LIMIT, threads=THREADS,
                                        temp_directory=str(work_p / "spill")))
    load0 = os.getloadavg()[0]
    cpu0 = _cpu_s(jvm)
    t0 = time.perf_counter()
    res = etc2.ingest(zdir, work_p / "pq", "1-2")
    t_ingest = time.perf_counter() - t0
    rel = eng.open_parquet(res.dataset)
    agg = cp.aggregate_positions(rel, con=eng)
    passes = cp.mesh_passes(rel, con=eng)
    secs = time.perf_counter() - t0
    cpu = _cpu_s(jvm) - cpu0
    rss = peak_rss_mb() + sum(peak_rss_mb(p) for p in jvm)
    _save(work_p, agg, passes)
    q.put({"seconds": secs, "cpu_s": cpu, "load_avg_1m": os.getloadavg()[0], "load_avg_start": load0,
           "ingest_s": t_ingest,
           "aggregate_s": secs - t_ingest, "startup_s": startup, "peak_rss_mb": rss,
           "rows": res.rows, "n_mesh_hours": len(agg), "n_meshes": len(passes)})
    if engine == "spark":
        eng.spark.stop()


def _pandas_step(zdir: str, work: str, q):
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    import pandas as pd

    from ebpm_analysis.cases import probe as cp
    from ebpm_analysis.io import etc2

    work_p = Path(work)
    shutil.rmtree(work_p, ignore_errors=True)
    work_p.mkdir(parents=True)
    cm = etc2.POSITION_MAPS["default"]
    names = sorted(cm, key=cm.get)
    frames = []
    for z in sorted(Path(zdir).glob("*.zip")):
        frames.append(pd.read_csv(z, header=None, usecols=[cm[n] for n in names], names=None,
                                  dtype={cm["opid"]: str}, compression="zip"))
    df = pd.concat(frames, ignore_index=True)
    df.columns = names
    # same validation as the loader (ranges, parseable time)
    assert df["lat"].between(24, 46).all() and df["lon"].between(122, 154).all()
    assert df["speed_kmh"].between(0, 200).all()
    agg = cp.aggregate_positions_pandas(df)
    passes = cp.mesh_passes_pandas(df)
    secs = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    rss = peak_rss_mb()
    _save(work_p, agg, passes)
    q.put({"seconds": secs, "cpu_s": ru.ru_utime + ru.ru_stime, "load_avg_1m": os.getloadavg()[0],
           "load_avg_start": load0, "peak_rss_mb": rss,
           "rows": len(df), "n_mesh_hours": len(agg), "n_meshes": len(passes)})


def run_child(fn, *args, timeout: float = 3600):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=fn, args=(*args, q))
    p.start()
    try:
        out = q.get(timeout=timeout)
    except Exception as e:  # noqa: BLE001
        out = {"error": f"{type(e).__name__}: child exit {p.exitcode}"}
    p.join()
    return out


def same_tables(work_a: Path, work_b: Path) -> bool:
    import pandas as pd

    from ebpm_analysis.engines import frames_equal

    for name, keys in (("agg", ["mesh", "day_type", "hour"]), ("passes", ["mesh"])):
        a, b = pd.read_parquet(work_a / f"{name}.parquet"), pd.read_parquet(work_b / f"{name}.parquet")
        if frames_equal(a, b, keys, rtol=1e-9):
            return False
    return True


def ensure_delivery(n_rows: int, seed: int = 7) -> Path:
    from ebpm_analysis.synth import probe as sp

    t = time.perf_counter()
    positions = sp.ensure_probe(seed, n_rows=n_rows, month="2025-10") / sp.FILES["positions"]
    print(f"  data {n_rows:,} rows ready in {time.perf_counter() - t:.0f} s: {positions}", flush=True)
    return positions


def markdown(records: list[dict], meta: dict) -> str:
    """Side-by-side table (engine columns per size) and per-core throughput."""
    sizes = sorted({r["size"] for r in records if "size" in r})
    by = {(r["engine"], r["size"]): r for r in records if r.get("step") == "ingest+aggregate"}
    engines = [e for e in ENGINES if any((e, s) in by for s in sizes)]

    def cell(r, key, fmt):
        v = r.get(key) if r else None
        return fmt.format(v) if v is not None else "—"

    head = ["rows"] + [f"{e} {k}" for e in engines for k in ("s", "rows/s", "peak MB")]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in sizes:
        row = [f"{s:,}"]
        for e in engines:
            r = by.get((e, s))
            row += [cell(r, "seconds", "{:.1f}"), cell(r, "rows_per_s", "{:,}"), cell(r, "peak_rss_mb", "{:,}")]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", "| engine | rows | ingest s | aggregate s | CPU s | rows/s per CPU-s | JVM start s | "
              "same tables as duckdb | speed-up vs pandas | load avg start → end |", "|" + "---|" * 10]
    for (e, s), r in sorted(by.items(), key=lambda x: (x[0][1], ENGINES.index(x[0][0]))):
        pd_r = by.get(("pandas", s))
        sp = (f"×{pd_r['seconds'] / r['seconds']:.1f}" if pd_r and pd_r.get("seconds") and r.get("seconds")
              and e != "pandas" else "—")
        lines.append(f"| {e} | {s:,} | {cell(r, 'ingest_s', '{:.1f}')} | {cell(r, 'aggregate_s', '{:.1f}')} | "
                     f"{cell(r, 'cpu_s', '{:.1f}')} | {cell(r, 'rows_per_cpu_s', '{:,}')} | "
                     f"{cell(r, 'startup_s', '{:.1f}')} | {r.get('same_as_duckdb', '—')} | {sp} | "
                     f"{cell(r, 'load_avg_start', '{:.1f}')} → {cell(r, 'load_avg_1m', '{:.1f}')} |")
    lines += ["", f"{meta['cpus']} cores, Python {meta['python']}, load average at end {meta['load_avg_at_end']}; "
              f"DuckDB memory_limit {MEMORY_LIMIT}, {THREADS} threads; Spark local[{THREADS}], driver "
              f"{SPARK_DRIVER_MEMORY}. rows/s = rows / wall seconds (ingest + aggregate; Spark's JVM start apart)."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 M rows only")
    ap.add_argument("--sizes", type=int, nargs="*", default=None)
    ap.add_argument("--engines", nargs="*", default=list(ENGINES), choices=ENGINES)
    ap.add_argument("--pandas-max", type=int, default=10_000_000, help="largest size the pandas version runs on")
    ap.add_argument("--out", default=None, help="result file (default: build/bench/probe.json)")
    ap.add_argument("--delivery", nargs="*", default=[], metavar="SIZE=DIR",
                    help="a folder of 様式1-2 ZIPs to use for that size instead of the generated set (its cache key "
                         "covers the ingest module's source: an edit there regenerates it, ~3 min per 10 M rows)")
    a = ap.parse_args(argv)
    given = {}
    for d in a.delivery:
        size, _, folder = d.partition("=")
        if not size.isdigit() or not folder or not any(Path(folder).glob("*.zip")):
            ap.error(f"--delivery {d!r}: expected SIZE=DIR with DIR holding the delivery ZIPs")
        given[int(size)] = Path(folder)
    sizes = a.sizes or ([1_000_000] if a.quick else [1_000_000, 10_000_000, 30_000_000])
    from ebpm_analysis import paths

    work_root = paths.interim("bench", "probe_work")
    records = []
    for n in sizes:
        zdir = given[n] if n in given else ensure_delivery(n)
        zip_mb = sum(f.stat().st_size for f in Path(zdir).glob("*.zip")) / 1e6
        for engine in a.engines:
            if engine == "pandas" and n > a.pandas_max:
                records.append({"step": "ingest+aggregate", "engine": engine, "size": n, "seconds": None,
                                "peak_rss_mb": None, "rows_per_s": None,
                                "note": f"not run (> --pandas-max {a.pandas_max:,}; all rows held in memory)"})
                continue
            print(f"[{engine}] {n:,} rows …", flush=True)
            work = work_root / f"{engine}_{n}"
            r = (run_child(_pandas_step, str(zdir), str(work)) if engine == "pandas"
                 else run_child(_engine_step, engine, str(zdir), str(work)))
            rec = {"step": "ingest+aggregate", "engine": engine, "size": n, "zip_mb": round(zip_mb, 1)}
            if "error" in r:
                rec.update({"seconds": None, "peak_rss_mb": None, "rows_per_s": None, "note": r["error"]})
            else:
                rec.update({"seconds": round(r["seconds"], 2), "cpu_s": round(r["cpu_s"], 1),
                            "load_avg_1m": round(r["load_avg_1m"], 1), "load_avg_start": round(r["load_avg_start"], 1),
                            "peak_rss_mb": round(r["peak_rss_mb"]),
                            "rows_per_s": round(r["rows"] / r["seconds"]), "rows": r["rows"],
                            "rows_per_cpu_s": round(r["rows"] / r["cpu_s"]), "n_mesh_hours": r["n_mesh_hours"]})
                for k in ("ingest_s", "aggregate_s", "startup_s"):
                    if k in r and (k != "startup_s" or engine == "spark"):
                        rec[k] = round(r[k], 2)
                if engine != "duckdb" and (work_root / f"duckdb_{n}" / "agg.parquet").exists():
                    rec["same_as_duckdb"] = same_tables(work_root / f"duckdb_{n}", work)
            records.append(rec)
            print(f"   {rec}", flush=True)
        for e in a.engines:
            shutil.rmtree(work_root / f"{e}_{n}", ignore_errors=True)
    out_file = paths.resolve(a.out) if a.out else paths.BENCH_DIR / "probe.json"
    out_file.parent.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "load_avg_at_end": tuple(round(x, 1) for x in os.getloadavg())}
    for r in records:
        r.setdefault("machine", f"{meta['cpus']} cores")
    out_file.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    md = markdown(records, meta)
    out_file.with_suffix(".md").write_text(md, encoding="utf-8")
    print("\n" + md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
