"""``make bench``: run every ``benchmarks/bench_*.py`` and collect their numbers.

Each script writes ``build/bench/<name>.json`` (a list of records; ``paths.BENCH_DIR``) and may write
``build/bench/<name>.md`` (its own summary, used instead of the generic table). This runner passes its
arguments through (e.g. ``--quick``), then writes ``build/bench/summary.md``.
Speed and memory live here, never in timed tests.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time

from . import paths


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    bench_dir = paths.PROJECT_ROOT / "benchmarks"
    out = paths.BENCH_DIR
    out.mkdir(parents=True, exist_ok=True)
    only = [a for a in argv if not a.startswith("-")]
    flags = [a for a in argv if a.startswith("-")]
    scripts = sorted(bench_dir.glob("bench_*.py"))
    if only:
        scripts = [s for s in scripts if any(o in s.stem for o in only)]
    failures = []
    lines = [f"# Benchmarks ({time.strftime('%Y-%m-%d %H:%M')}, {platform.machine()}, "
             f"{os.cpu_count()} cores, Python {platform.python_version()})", ""]
    started = time.time()
    for s in scripts:
        print(f"[bench] {s.name} {' '.join(flags)}", flush=True)
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, str(s), *flags], cwd=paths.PROJECT_ROOT)
        if r.returncode != 0:
            failures.append(s.name)
            lines += [f"## {s.stem}", "", f"FAILED (exit {r.returncode})", ""]
            continue
        res = out / f"{s.stem.removeprefix('bench_')}.json"
        md = res.with_suffix(".md")
        lines += [f"## {s.stem} ({time.perf_counter() - t0:.0f} s)", ""]
        if md.exists() and md.stat().st_mtime >= started:  # the script's own summary (e.g. engines side by side)
            lines.append(md.read_text(encoding="utf-8"))
        elif res.exists():
            recs = json.loads(res.read_text(encoding="utf-8"))
            recs = recs if isinstance(recs, list) else recs.get("records", [recs])
            if recs:
                keys = list(dict.fromkeys(k for rec in recs for k in rec))
                lines.append("| " + " | ".join(keys) + " |")
                lines.append("|" + "---|" * len(keys))
                for rec in recs:
                    lines.append("| " + " | ".join(_fmt(rec.get(k, "")) for k in keys) + " |")
        lines.append("")
    (out / "summary.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 1 if failures else 0


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


if __name__ == "__main__":
    sys.exit(main())
