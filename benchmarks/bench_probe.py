"""Benchmark for case 3: ETC2.0 様式1-2 position rows from zipped delivery files → mesh tables.

Step measured ("ingest + aggregate"): read every ZIP (headerless CSV per 2次メッシュ), validate, and
produce the mesh × day-type × hour table (records, slow share, mean speed, distinct trips) plus the
distinct-trip passes per mesh.

- ``duckdb``: :func:`ebpm_analysis.io.etc2.ingest` (streamed ZIP → Parquet, bounded memory) then
  :func:`ebpm_analysis.cases.probe.aggregate_positions` / ``mesh_passes`` in DuckDB with
  ``memory_limit`` and a spill ``temp_directory``.
- ``pandas``: the straightforward way — ``pandas.read_csv`` on each ZIP, ``concat``, then
  :func:`ebpm_analysis.cases.probe.aggregate_positions_pandas` and a groupby ``nunique`` for passes.

Each run happens in a fresh ``spawn`` child process; peak memory is the child's VmHWM (peak RSS).
Sizes: 1 M, 10 M, 30 M rows (``--quick``: 1 M only). pandas runs up to ``--pandas-max`` rows
(default 10 M). Writes ``build/bench/probe.json`` and prints a table.

    .venv/bin/python benchmarks/bench_probe.py [--quick] [--sizes 1000000 10000000] [--pandas-max N]
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


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM). ``ru_maxrss`` is not used: on Linux it survives
    execve, so a child spawned from a big parent would report the parent's size."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _duckdb_step(zdir: str, work: str, q):
    t0 = time.perf_counter()
    from ebpm_analysis.cases import probe as cp
    from ebpm_analysis.io import etc2

    work_p = Path(work)
    shutil.rmtree(work_p, ignore_errors=True)
    res = etc2.ingest(zdir, work_p / "pq", "1-2")
    t_ingest = time.perf_counter() - t0
    con = cp.connect(memory_limit=MEMORY_LIMIT, threads=THREADS, temp_directory=str(work_p / "spill"))
    rel = etc2.open_parquet(con, res.parquet)
    agg = cp.aggregate_positions(rel, con=con)
    passes = cp.mesh_passes(rel, con=con)
    secs = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    rss = peak_rss_mb()
    q.put({"seconds": secs, "cpu_s": ru.ru_utime + ru.ru_stime, "load_avg_1m": os.getloadavg()[0], "ingest_s": t_ingest,
           "aggregate_s": secs - t_ingest, "peak_rss_mb": rss,
           "rows": res.rows, "n_mesh_hours": len(agg), "n_meshes": len(passes),
           "check": [int(agg["n_records"].sum()), int(agg["n_slow"].sum()), int(passes["n_passes"].sum())]})


def _pandas_step(zdir: str, work: str, q):
    t0 = time.perf_counter()
    import numpy as np
    import pandas as pd

    from ebpm_analysis.cases import probe as cp
    from ebpm_analysis.io import etc2

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
    mesh = cp.mesh_code(df["lat"].to_numpy(), df["lon"].to_numpy(), 6)
    trip = df["opid"] + "#" + df["trip_no"].astype(str)
    passes = pd.DataFrame({"mesh": mesh, "trip": trip}).groupby("mesh")["trip"].nunique()
    secs = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    rss = peak_rss_mb()
    q.put({"seconds": secs, "cpu_s": ru.ru_utime + ru.ru_stime, "load_avg_1m": os.getloadavg()[0], "peak_rss_mb": rss,
           "rows": len(df), "n_mesh_hours": len(agg), "n_meshes": len(passes),
           "check": [int(agg["n_records"].sum()), int(agg["n_slow"].sum()), int(np.asarray(passes).sum())]})


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


def ensure_delivery(n_rows: int, seed: int = 7) -> Path:
    from ebpm_analysis.synth import probe as sp

    t = time.perf_counter()
    positions = sp.ensure_probe(seed, n_rows=n_rows, month="2025-10") / sp.FILES["positions"]
    print(f"  data {n_rows:,} rows ready in {time.perf_counter() - t:.0f} s: {positions}", flush=True)
    return positions


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 M rows only (< 1 min)")
    ap.add_argument("--sizes", type=int, nargs="*", default=None)
    ap.add_argument("--pandas-max", type=int, default=10_000_000, help="largest size the pandas version runs on")
    ap.add_argument("--out", default=None, help="result file (default: build/bench/probe.json)")
    a = ap.parse_args(argv)
    sizes = a.sizes or ([1_000_000] if a.quick else [1_000_000, 10_000_000, 30_000_000])
    from ebpm_analysis import paths

    work_root = paths.interim("bench", "probe_work")
    records = []
    for n in sizes:
        zdir = ensure_delivery(n)
        zip_mb = sum(f.stat().st_size for f in Path(zdir).glob("*.zip")) / 1e6
        for engine, fn in (("duckdb", _duckdb_step), ("pandas", _pandas_step)):
            if engine == "pandas" and n > a.pandas_max:
                records.append({"step": "ingest+aggregate", "engine": engine, "size": n, "seconds": None,
                                "peak_rss_mb": None, "rows_per_s": None,
                                "note": f"not run (> --pandas-max {a.pandas_max:,}; all rows held in memory)"})
                continue
            print(f"[{engine}] {n:,} rows …", flush=True)
            r = run_child(fn, str(zdir), str(work_root / f"{engine}_{n}"))
            rec = {"step": "ingest+aggregate", "engine": engine, "size": n, "zip_mb": round(zip_mb, 1)}
            if "error" in r:
                rec.update({"seconds": None, "peak_rss_mb": None, "rows_per_s": None, "note": r["error"]})
            else:
                rec.update({"seconds": round(r["seconds"], 2), "cpu_s": round(r["cpu_s"], 1),
                            "load_avg_1m": round(r["load_avg_1m"], 1), "peak_rss_mb": round(r["peak_rss_mb"]),
                            "rows_per_s": round(r["rows"] / r["seconds"]), "rows": r["rows"],
                            "n_mesh_hours": r["n_mesh_hours"], "check": r["check"]})
                if engine == "duckdb":
                    rec.update({"ingest_s": round(r["ingest_s"], 2), "aggregate_s": round(r["aggregate_s"], 2),
                                "memory_limit": MEMORY_LIMIT, "threads": THREADS})
            records.append(rec)
            print(f"   {rec}", flush=True)
        shutil.rmtree(work_root, ignore_errors=True)
        d = next((r for r in records if r["engine"] == "duckdb" and r["size"] == n), None)
        p = next((r for r in records if r["engine"] == "pandas" and r["size"] == n), None)
        if d and p and d.get("seconds") and p.get("seconds"):
            records.append({"step": "ratio", "engine": "pandas/duckdb", "size": n,
                            "speedup": round(p["seconds"] / d["seconds"], 2),
                            "memory_ratio_duckdb_over_pandas": round(d["peak_rss_mb"] / p["peak_rss_mb"], 2),
                            "same_result": d["check"] == p["check"]})
            print(f"   {records[-1]}", flush=True)
    out_file = paths.resolve(a.out) if a.out else paths.BENCH_DIR / "probe.json"
    out_file.parent.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "load_avg_at_end": os.getloadavg()}
    for r in records:
        r.setdefault("machine", f"{meta['cpus']} cores")
    out_file.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    print("\nengine   size        seconds  peak MB   rows/s")
    for r in records:
        if r["step"] == "ratio":
            print(f"ratio    {r['size']:>11,}  pandas/duckdb time ×{r['speedup']}, duckdb/pandas memory ×"
                  f"{r['memory_ratio_duckdb_over_pandas']}, same result: {r['same_result']}")
        else:
            s = r.get("seconds")
            print(f"{r['engine']:<8} {r['size']:>11,}  {s if s is not None else '—':>7}  "
                  f"{r.get('peak_rss_mb') or '—':>7}  {r.get('rows_per_s') or r.get('note', '—')}")
    print(f"load average at end: {meta['load_avg_at_end']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
