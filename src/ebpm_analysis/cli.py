"""Command line: ``ebpm run|build-all|audit|list|kpi|render|index|workshop|anonymise``.

The one execution path for analysts, ``make`` and CI. Errors print one paragraph naming what is
wrong and what is valid, and exit non-zero.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import paths
from .errors import EbpmError


def _layout(args):
    from .pipeline.execute import Layout
    out = Path(args.out_dir).resolve() if getattr(args, "out_dir", None) else None
    if out:
        return Layout(reports_dir=out, build_dir=out / "_build")
    return Layout()


def cmd_list(args) -> int:
    from .pipeline import cities
    from .pipeline import params as P
    profiles = cities.list_profiles()
    for name in P.list_notebooks():
        nb = P.notebook_path(name)
        variants = ", ".join(P.list_variants(name)) or "(defaults only)"
        towns = ", ".join(f"{c.code} {c.name}" for c in profiles if c.applies_to(name)) or "—"
        print(f"{name}  [params: {variants}]  [cities: {towns}]")
        if args.verbose:
            for p in P.inspect_parameters(nb).values():
                print(f"    {p.name} = {p.default!r}  ({p.type_name}){'  # ' + p.comment if p.comment else ''}")
    if args.verbose:
        print("city profiles (notebooks/cities/):")
        for c in profiles:
            print(f"    {c.code} {c.name}: {', '.join(c.notebooks) or '(no notebooks)'}")
    return 0


def cmd_run(args) -> int:
    from .pipeline.execute import run_notebook
    from .pipeline.index import write_index
    layout = _layout(args)
    try:
        r = run_notebook(args.notebook, args.params, args.param or [], city=args.city, layout=layout,
                         show_code=args.show_code, force=not args.if_changed, engine=args.engine)
    except EbpmError:
        write_index(layout)   # the index shows the failure (the previous report stays)
        raise
    if r.status == "skipped":
        print(f"[ebpm] {r.name} ({r.variant}) is up to date: {paths.relative(r.report)}")
    write_index(layout)
    return 0


def cmd_build_all(args) -> int:
    from .pipeline.execute import build_all
    results = build_all(layout=_layout(args), force=args.force, only=args.only, jobs=args.jobs)
    failed = [r for r in results if r.status == "failed"]
    ran = sum(r.status == "ok" for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    print(f"[ebpm] build-all: {ran} built, {skipped} up to date, {len(failed)} failed")
    for r in failed:
        print(f"  FAILED {r.name} ({r.variant}): {r.error}")
    return 1 if failed else 0


def cmd_audit(args) -> int:
    from . import audit as A
    if args.paths:
        found = A.audit_paths(args.paths, min_cell=args.min_cell)
        for v in found:
            print(v.line())
        print(f"[ebpm] audit: {len(args.paths)} path(s), {len(found)} violation(s)")
        return 1 if found else 0
    layout = _layout(args)
    runs = sorted(layout.executed_dir.glob("*.ipynb"))
    if not runs:
        raise EbpmError(f"{paths.relative(layout.executed_dir)}: no executed notebooks to audit. "
                        "Expected: run `ebpm build-all` (or `make reports`) first, or name files to audit")
    total = 0
    for run in runs:
        res = A.audit_run(run, reports_dir=layout.reports_dir)
        for v in res.violations:
            print(v.line())
        total += len(res.violations)
        if args.verbose:
            print(f"  {res.name}: {res.tables} tables{' (internal: formula/markup only)' if res.internal else ''}, "
                  f"{len(res.violations)} violation(s)")
    print(f"[ebpm] audit: {len(runs)} runs, {total} violation(s)")
    return 1 if total else 0


def cmd_render(args) -> int:
    from .pipeline.render import render
    out, engine = render(Path(args.executed), Path(args.output), show_code=args.show_code, engine=args.engine)
    print(f"[ebpm] rendered {out} ({engine})")
    return 0


def cmd_workshop(args) -> int:
    from .pipeline.workshop import build_workshop
    out = Path(args.out_dir).resolve() if args.out_dir else None
    for p in build_workshop(args.notebooks or None, out):
        print(f"[ebpm] wrote {paths.relative(p)}")
    return 0


def cmd_index(args) -> int:
    from .pipeline.index import write_index
    print(write_index(_layout(args)))
    return 0


def cmd_kpi(args) -> int:
    from .pipeline import kpi as K
    if args.definitions:
        for t in K.list_themes():
            print(f"{t.notebook}  {t.theme}  （担当課: {t.department or '未設定'}）")
            for d in t.kpis:
                print(f"    {t.notebook}.{d.id}  {d.name} [{d.unit}] {K.GOOD[d.good]}"
                      f"{'  ★見出し' if d.headline else ''}\n        式: {d.formula}\n        データ: {d.source}")
        return 0
    register = Path(args.register) if args.register else _layout(args).register_path
    audience = None if args.audience == "all" else args.audience
    df = K.read(register, notebook=args.notebook, city=args.city, audience=audience)
    shown = df if args.history else K.latest(df)
    if args.export:
        out = K.export(shown, Path(args.export))
        print(f"[ebpm] wrote {len(shown)} KPI rows to {out}")
        return 0
    if shown.empty:
        print(f"[ebpm] {paths.relative(register)}: no KPIs registered"
              + (" for that selection" if args.notebook or args.city else " yet (run `make reports` or `ebpm run`)"))
        return 0
    for r in shown.itertuples():
        value = "—" if r.value != r.value else f"{r.value:,.10g}"
        change = ""
        if not args.history and r.runs > 1 and r.change == r.change:
            change = f"  （前回比 {r.change:+,.10g}、{r.runs} 回）"
        made = r.run_at[:16].replace("T", " ")
        print(f"{r.stem}  {r.kpi_id}  {r.name}: {value} {r.unit}  データ時点 {r.as_of}  作成 {made}"
              f"{'  [庁内限り]' if r.audience == 'internal' else ''}{change}")
    print(f"[ebpm] {len(shown)} KPI rows from {paths.relative(register)}")
    return 0


def cmd_anonymise(args) -> int:
    from . import anonymise as A
    key = A.load_key(args.key_file, env=args.key_env)
    res = A.anonymise_file(args.input, args.kind, key, k=args.k, l=args.l, max_suppression=args.max_suppression,
                           encoding=args.encoding, districts_path=args.districts, facilities_path=args.facilities,
                           keep=tuple(args.keep or ()))
    risk = A.write_extract(res, args.out, args.risk)
    b, a = res.before, res.after
    print(f"[ebpm] anonymise {args.kind}: quasi-identifiers "
          + ", ".join(f"{c} ({lv})" for c, lv in res.levels.items()))
    print(f"  before: {b['records']:,} records, {b['classes']:,} classes, k={b['k_achieved']}, "
          f"{b['records_in_classes_below_k']:,} records in classes below k={args.k} ({b['share_below_k']:.1%})")
    for step in res.steps:
        print(f"  step: {step}")
    lpart = f", l={a['l_achieved']} on {a['sensitive']}" if "sensitive" in a else ""
    print(f"  after:  {a['records']:,} records, {a['classes']:,} classes, k={a['k_achieved']}{lpart}, "
          f"{a['records_in_classes_below_k']:,} records below k")
    print(f"[ebpm] wrote {args.out} and the risk summary {risk} (the key is not written anywhere)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ebpm", description="Run EBPM analysis notebooks and render reports.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("list", help="list notebooks and their parameter sets")
    s.add_argument("-v", "--verbose", action="store_true", help="also list each notebook's parameters")
    s.set_defaults(func=cmd_list)
    s = sub.add_parser("run", help="execute one notebook and render its report")
    s.add_argument("notebook", help="notebook name, e.g. 00_data_catalog")
    s.add_argument("--city", help="municipality by 5-digit code or name (16201, 富山市); uses "
                                   "notebooks/cities/<code>.yml when present → reports/<notebook>--<code>.html")
    s.add_argument("--params", default="default", help="parameter set name (default) or a path to a YAML file")
    s.add_argument("-p", "--param", action="append", metavar="KEY=VALUE",
                   help="override one parameter (strings stay strings: -p min_cell=20); the report is a custom run "
                        "<notebook>[--<code>]--custom-<hash>.html whose provenance prints the command")
    s.add_argument("--out-dir", help="write reports (and build files under _build/) here instead of reports/")
    s.add_argument("--show-code", action="store_true", help="show code cells in the report")
    s.add_argument("--if-changed", action="store_true", help="skip when inputs are unchanged since the last good run")
    s.add_argument("--engine", choices=["auto", "quarto", "nbconvert"], default="auto")
    s.set_defaults(func=cmd_run)
    s = sub.add_parser("build-all",
                       help="run every notebook × parameter set and configured city (skips unchanged ones)")
    s.add_argument("--force", action="store_true", help="rebuild even when nothing changed")
    s.add_argument("--only", nargs="*", help="limit to these notebooks")
    s.add_argument("--out-dir", help="write reports here instead of reports/")
    s.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1,
                   help="notebooks run in parallel (default: the number of cores); a notebook's own runs stay serial")
    s.set_defaults(func=cmd_build_all)
    s = sub.add_parser("audit", help="check every export and report table of the build against the disclosure "
                                     "rules (small counts, revealing rates, LP intervals, formulas, scripts)")
    s.add_argument("paths", nargs="*", help="files or folders to audit (default: every run in build/executed)")
    s.add_argument("--out-dir", help="the --out-dir the reports were built into")
    s.add_argument("--min-cell", type=int, default=10, help="for named files: the minimum cell (10)")
    s.add_argument("-v", "--verbose", action="store_true", help="one summary line per run")
    s.set_defaults(func=cmd_audit)
    s = sub.add_parser("render", help="render an already executed notebook to HTML")
    s.add_argument("executed")
    s.add_argument("output")
    s.add_argument("--show-code", action="store_true")
    s.add_argument("--engine", choices=["auto", "quarto", "nbconvert"], default="auto")
    s.set_defaults(func=cmd_render)
    s = sub.add_parser("workshop", help="write student/instructor copies of notebooks (exercise cells by tag)")
    s.add_argument("notebooks", nargs="*", help="notebook names (default: all)")
    s.add_argument("--out-dir", help="default: build/workshop")
    s.set_defaults(func=cmd_workshop)
    s = sub.add_parser("anonymise", help="turn a record-level file into a shareable extract (keyed pseudonyms, "
                                         "generalised quasi-identifiers, k-anonymity) with a risk summary")
    s.add_argument("input", help="record-level CSV (cp932 or UTF-8)")
    s.add_argument("--kind", required=True, choices=["dispatch", "dental"],
                   help="dispatch: 救急出動ログ (io.dispatch_log layout); dental: 歯科健診票 (io.dental_sheet layout)")
    s.add_argument("--out", required=True, help="extract CSV to write")
    s.add_argument("--risk", help="risk summary JSON (default: <out>.risk.json)")
    s.add_argument("--k", type=int, default=5, help="every quasi-identifier combination at least k records (5)")
    s.add_argument("--l", type=int, default=1,
                   help="also at least l distinct values of the sensitive attribute per class (default 1: measured "
                        "and reported, not enforced)")
    s.add_argument("--max-suppression", type=float, default=0.05,
                   help="generalise until at most this share of records must be deleted (0.05)")
    s.add_argument("--keep", nargs="*", help="quasi-identifiers never to generalise (e.g. 地区)")
    s.add_argument("--key-file", help="file holding the pseudonymisation key (else the environment variable)")
    s.add_argument("--key-env", default="EBPM_ANON_KEY", help="environment variable holding the key (EBPM_ANON_KEY)")
    s.add_argument("--districts", help="dispatch: district polygons (district_code, ward_code) for 地区/区")
    s.add_argument("--facilities", help="dental: facility list (施設コード, 区名) for 区")
    s.add_argument("--encoding", default="auto", help="auto (cp932 / utf-8) or a codec name")
    s.set_defaults(func=cmd_anonymise)
    s = sub.add_parser("kpi", help="list or export the KPI register (every good run's KPIs, appended; "
                                   "data/processed/kpi_register.sqlite)")
    s.add_argument("--notebook", help="only this notebook's KPIs")
    s.add_argument("--city", help="only this 5-digit city code")
    s.add_argument("--audience", choices=["public", "internal", "all"], default="public",
                   help="public runs (default), internal (庁内限り) runs, or all")
    s.add_argument("--history", action="store_true", help="every registered value, not only the last of each")
    s.add_argument("--export", metavar="FILE", help="write the rows to FILE.csv (UTF-8 with BOM) or FILE.xlsx")
    s.add_argument("--definitions", action="store_true", help="list the KPI definitions (notebooks/kpis/*.yml)")
    s.add_argument("--register", help="register file (default: the project's, or the one of --out-dir)")
    s.add_argument("--out-dir", help="the --out-dir the reports were built into")
    s.set_defaults(func=cmd_kpi)
    s = sub.add_parser("index", help="rewrite reports/index.html from the build status")
    s.add_argument("--out-dir")
    s.set_defaults(func=cmd_index)
    return p


class Terminated(BaseException):
    """SIGTERM, turned into an exception so that every ``finally`` and clean-up runs."""


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    import signal
    import threading
    args = build_parser().parse_args(argv)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return args.func(args)
    except EbpmError as e:
        print(f"ebpm: error: {e}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Terminated) as e:
        what = "interrupted" if isinstance(e, KeyboardInterrupt) else "terminated"
        print(f"ebpm: {what}; reports and status from before this run were kept, partial files removed",
              file=sys.stderr)
        return 130 if isinstance(e, KeyboardInterrupt) else 143
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
