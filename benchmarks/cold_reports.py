"""Cold `make reports` wall time with ``--jobs 1`` against ``--jobs 2``, side by side (issue 15).

For each setting the tracked tree (``git ls-files``: sources, notebooks, bundled data, with the working
tree's edits) is copied into a fresh temporary folder, so nothing is cached: no ``data/interim`` (every
synthetic data set is generated again), no ``data/processed``, no ``build/`` or ``reports/``. Then
``ebpm build-all --jobs N`` runs there with this interpreter (the project venv and its ``ebpm`` kernel;
``EBPM_PROJECT_ROOT`` and ``PYTHONPATH`` point at the copy). The load average is sampled every 5 s while a
build runs, because other work on the machine changes the result: the table reports it.

Not a ``bench_*.py`` (those run under ``make bench``): one pass takes several minutes per setting.

    .venv/bin/python benchmarks/cold_reports.py [--jobs 1 2] [--only 00_data_catalog 06_counter_congestion]

Writes ``build/bench/cold_reports.json`` and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def copy_tree(dest: Path) -> None:
    """The tracked files of the working tree (with uncommitted edits), nothing generated."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for rel in filter(None, files.decode().split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def timed_build(jobs: int, only: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"ebpm-cold-j{jobs}-") as tmp:
        tree = Path(tmp) / "tree"
        copy_tree(tree)
        env = os.environ | {"EBPM_PROJECT_ROOT": str(tree), "PYTHONPATH": str(tree / "src")}
        env.pop("EBPM_DATA_DIR", None)
        cmd = [sys.executable, "-m", "ebpm_analysis.cli", "build-all", "--jobs", str(jobs),
               *(["--only", *only] if only else [])]
        loads, stop = [], threading.Event()

        def sample():
            while not stop.wait(5):
                loads.append(os.getloadavg()[0])

        th = threading.Thread(target=sample, daemon=True)
        before = os.getloadavg()
        th.start()
        t0 = time.perf_counter()
        r = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        stop.set()
        th.join()
        reports = sorted(p.name for p in (tree / "reports").glob("*.html") if p.name != "index.html")
        return {"jobs": jobs, "wall_s": round(wall, 1), "returncode": r.returncode, "reports": len(reports),
                "load_before": [round(x, 2) for x in before],
                "load_mean_during": round(sum(loads) / len(loads), 2) if loads else None,
                "load_max_during": round(max(loads), 2) if loads else None,
                "stderr_tail": r.stderr.strip().splitlines()[-3:]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--only", nargs="*", default=[], help="notebooks to build (default: all, as make reports)")
    args = ap.parse_args(argv)
    started = dt.datetime.now().astimezone().isoformat(timespec="minutes")
    results = [timed_build(j, args.only) for j in args.jobs]
    out = {"started": started, "cores": os.cpu_count(), "only": args.only, "results": results}
    dest = ROOT / "build" / "bench"
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "cold_reports.json").write_text(json.dumps(out, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"cold build-all, {started}, {os.cpu_count()} cores\n")
    print("| --jobs | reports | wall time | load avg before (1/5/15 min) | load avg during (mean / max) |")
    print("|---|---|---|---|---|")
    for r in results:
        ok = "" if r["returncode"] == 0 else f" (exit {r['returncode']})"
        before = " / ".join(f"{x:.1f}" for x in r["load_before"])
        print(f"| {r['jobs']} | {r['reports']}{ok} | {r['wall_s']:.0f} s | {before} | "
              f"{r['load_mean_during']} / {r['load_max_during']} |")
    return 0 if all(r["returncode"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
