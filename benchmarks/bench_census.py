"""Benchmark for case 1: the census commuting steps on the full synthetic city (≈340,000 employed).

Steps, each timed inside one fresh ``spawn`` child per size (peak memory = the child's ``ru_maxrss``
after the step, so it is cumulative):

- ``generate+write``: :func:`ebpm_analysis.synth.census.generate_census` and the writers (microdata
  CSV cp932, e-Stat API CSV, 統計GIS CSV, boundaries, truth);
- ``load microdata``: :func:`ebpm_analysis.io.census_microdata.read_census_microdata` (validation incl.);
- ``tabulate``: district leaf counts, 合算 of tiny districts, the hierarchical table
  (area × 従業上の地位 × 従業地 with every margin);
- ``suppress``: primary + complementary suppression (incl. the exact rank check per round);
- ``rates``: 市内従業率 with Wilson intervals for city, wards, districts (all and employees);
- ``protection check``: an independent rank check of the final table;
- ``estat path``: reading the API CSV + 統計GIS CSV and the same analysis on them.

Writes ``build/bench/census.json`` and prints a table.

    .venv/bin/python benchmarks/bench_census.py [--quick] [--sizes 340000 1000000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def _run(size: int, n_districts, q):
    recs = []

    def rss():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    def rec(step, t0, rows, **extra):
        secs = time.perf_counter() - t0
        recs.append({"step": step, "size": size, "seconds": round(secs, 3), "peak_rss_mb": round(rss(), 1),
                     "rows_per_s": round(rows / secs) if rows and secs > 0 else None, **extra})

    from ebpm_analysis.cases import census as cc
    from ebpm_analysis.io import census_microdata, estat
    from ebpm_analysis.synth import census as synth

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        folder = synth.ensure_census(2026, city_code="43100", n_employed=size, n_districts=n_districts, out_dir=tmp)
        files = {k: folder / v for k, v in synth.FILES.items()}
        rec("generate+write", t0, size)
        t0 = time.perf_counter()
        persons = census_microdata.read_census_microdata(files["microdata"], city_code="43100", nature="synthetic")
        rec("load microdata", t0, len(persons))
        areas = estat.read_small_area_boundaries(files["boundaries"], nature="synthetic")
        t0 = time.perf_counter()
        leaves = cc.microdata_leaves(persons)
        merged = cc.merge_small_areas(areas, leaves, 100)
        areas_m, leaves_m = cc.apply_merge(areas, leaves, merged)
        table = cc.commuting_table(leaves_m, areas_m, "43100")
        rec("tabulate", t0, len(persons), cells=len(table.cells), constraints=len(table.constraints))
        t0 = time.perf_counter()
        cells = cc.disclose(table, 10, "43100")
        rec("suppress", t0, None, cells=len(cells), hidden=int((cells["disclosure"] != "published").sum()))
        t0 = time.perf_counter()
        d = list(areas_m["district_code"])
        wards = sorted(areas_m["ward_code"].unique())
        for s in ("0", "E"):
            cc.rate_table(cells, ["43100"], s)
            cc.rate_table(cells, wards, s)
            cc.rate_table(cells, d, s)
        rec("rates", t0, None, areas=len(d) + len(wards) + 1)
        t0 = time.perf_counter()
        chk = cc.protection_check(table, cells)
        rec("protection check", t0, None, recomputable=int(chk["recomputable"].sum()), checked=len(chk))
        t0 = time.perf_counter()
        api = estat.read_commuting_api_table(files["estat_api"], nature="synthetic")
        gis = estat.read_commuting_gis_table(files["estat_gis"], nature="synthetic")
        cc.analyse_estat(api, gis, areas, "43100")
        rec("estat path", t0, None)
        total = sum(r["seconds"] for r in recs if r["step"] not in ("generate+write",))
        recs.append({"step": "census steps total (load→check)", "size": size, "seconds": round(total, 3),
                     "peak_rss_mb": round(rss(), 1), "rows_per_s": round(size / total)})
    q.put(recs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one small size (60,000 employed, 30 districts), < 1 min")
    ap.add_argument("--sizes", type=int, nargs="*", default=None)
    ap.add_argument("--districts", type=int, default=None,
                    help="synthetic districts (default: 70 for 熊本市; --quick: 30)")
    a = ap.parse_args(argv)
    sizes = a.sizes or ([60_000] if a.quick else [340_000, 1_000_000])
    ctx = mp.get_context("spawn")
    out = []
    for n in sizes:
        q = ctx.Queue()
        p = ctx.Process(target=_run, args=(n, a.districts or (30 if a.quick else None), q))
        p.start()
        recs = q.get()
        p.join()
        out += recs
    from ebpm_analysis import paths

    res = paths.BENCH_DIR
    res.mkdir(parents=True, exist_ok=True)
    (res / "census.json").write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"{'step':34s} {'size':>9s} {'seconds':>8s} {'peak MB':>8s} {'rows/s':>10s}")
    for r in out:
        rps = f"{r['rows_per_s']:,}" if r.get("rows_per_s") else ""
        print(f"{r['step']:34s} {r['size']:>9,} {r['seconds']:>8.2f} {r['peak_rss_mb']:>8.0f} {rps:>10s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
