"""Disclosure audit (issue 12): check what a build published against the disclosure rules.

What is read:

- every exported table of a run (``*.csv`` / ``*.parquet`` in the run's ``output_dir``) with the column
  kinds declared beside it (``<file>.disclosure.json``, written by :func:`ebpm_analysis.io.write_csv`);
- every table, searchable table and KPI row the report shows, as kept in the executed notebook by
  :mod:`ebpm_analysis.report` (mime type ``report.TABLE_MIME``: the rows as shown and their kinds);
- the rendered report (HTML).

The rules (:mod:`ebpm_analysis.stats.disclosure` holds the kinds):

``small-count``  no count of persons between 1 and ``min_cell`` − 1 is published. A column without a
                 declared kind whose values are all whole numbers is audited as a count of persons.
``reveals``      where a count is hidden, every figure computed from it (rate, share, interval bound,
                 expected value / EB input, declared ``of`` the count) is hidden too.
``complement``   a declared row identity (total = sum of parts) never has exactly one hidden member.
``lp-interval``  in a declared hierarchical table every hidden cell keeps a feasible interval (linear
                 programming over the published cells, HiGHS) at least ``protection_width`` wide.
``formula``      no CSV text cell starts with ``= + - @``, tab or CR (a live spreadsheet formula).
``markup``       the report has no script but the search box's own, no event attribute, no
                 ``javascript:`` link.

Runs of the internal audience (庁内限り) are exempt from the first four rules; ``formula`` and
``markup`` apply to every run. ``min_cell`` and ``protection_width`` come from the run's parameters
(default 10 and ``min_cell``).
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd

from . import paths
from .io.common import SIDECAR_SUFFIX, is_formula, sidecar_path
from .pipeline import downloads
from .stats import disclosure as D

DEFAULT_MIN_CELL = 10
#: text a table shows for a hidden or missing value
NA_TEXT = {"", "—", "-", "–", "秘匿", "秘匿（一次）", "秘匿（補完）", "*", "x", "X", "…", "nan", "NaN", "<NA>",
           "None", "null"}


@dataclass(frozen=True)
class Violation:
    file: str
    column: str | None
    row: str | None
    rule: str
    message: str

    def line(self) -> str:
        where = self.file
        if self.column is not None:
            where += f", column '{self.column}'"
        if self.row is not None:
            where += f", {self.row}"
        return f"{where}: [{self.rule}] {self.message}"


@dataclass
class Table:
    """One published table: ``frame`` as published (text or numbers), its declaration, and how to
    name a row (``row_name(i)`` for position ``i``)."""

    name: str
    frame: pd.DataFrame
    decl: dict
    row_kind: str = "line"     # "line": CSV file line (header = line 1); "row": 1-based row of a shown table

    def row_name(self, i: int) -> str:
        return f"line {i + 2}" if self.row_kind == "line" else f"row {i + 1}"


# --- reading -------------------------------------------------------------------------------------

def numeric(values: pd.Series) -> pd.Series | None:
    """The column as floats (hidden/missing markers → NaN), or None when it is not a numeric column."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return None
    if pd.api.types.is_numeric_dtype(values.dtype):
        return pd.to_numeric(values, errors="coerce").astype(float)
    out = []
    for v in values:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            out.append(np.nan)
        elif isinstance(v, bool):
            return None
        elif isinstance(v, (int, float, np.integer, np.floating)):
            out.append(float(v))
        else:
            s = str(v).strip()
            if s in NA_TEXT:
                out.append(np.nan)
                continue
            try:
                out.append(float(s.replace(",", "")))
            except ValueError:
                return None
    return pd.Series(out, index=values.index, dtype=float)


def read_export(path: str | Path) -> Table:
    """An exported table and its declaration (an empty one when the file has no sidecar)."""
    path = Path(path)
    if path.suffix == ".parquet":
        frame = pd.read_parquet(path)
        if "geometry" in frame.columns:
            frame = frame.drop(columns="geometry")
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    side = sidecar_path(path)
    decl = json.loads(side.read_text(encoding="utf-8")) if side.exists() else {}
    return Table(paths.relative(path) if path.is_absolute() else str(path), frame, decl, "line")


def report_tables(executed: str | Path, report_name: str | None = None) -> list[Table]:
    """The tables a report shows, as kept in its executed notebook (report.TABLE_MIME outputs)."""
    from .report import TABLE_MIME
    executed = Path(executed)
    nb = json.loads(executed.read_text(encoding="utf-8"))
    name = report_name or f"{executed.stem}.html"
    out = []
    for cell in nb.get("cells", []):
        for o in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            payload = o.get("data", {}).get(TABLE_MIME)
            if payload is None:
                continue
            if isinstance(payload, str):
                payload = json.loads(payload)
            frame = pd.DataFrame(payload["rows"], columns=payload["columns"])
            label = f"{name} 表{len(out) + 1}" + (f"「{payload['caption']}」" if payload.get("caption") else "")
            out.append(Table(label, frame, {k: payload[k] for k in ("kinds", "sums", "linear", "default")
                                            if k in payload},
                             "row"))
    return out


# --- the rules -----------------------------------------------------------------------------------

def column_kinds(table: Table) -> tuple[dict[str, dict], dict[str, pd.Series], set[str]]:
    """Kind and numeric values of every column; the set of columns whose kind was presumed."""
    declared = {c: D.kind_spec(k) for c, k in table.decl.get("kinds", {}).items()}
    default = table.decl.get("default")
    kinds, nums, presumed = {}, {}, set()
    for i, c in enumerate(table.frame.columns):
        c = str(c)
        num = numeric(table.frame.iloc[:, i])
        if num is not None:
            nums[c] = num
        if c in declared:
            kinds[c] = declared[c]
        elif default is not None:
            kinds[c] = {"kind": default if num is not None or default in (D.LABEL, D.OTHER) else D.LABEL}
        elif num is not None and num.notna().any() and bool((num.dropna() % 1 == 0).all()):
            kinds[c] = {"kind": D.PERSONS}
            presumed.add(c)
        else:
            kinds[c] = {"kind": D.OTHER if num is not None else D.LABEL}
    return kinds, nums, presumed


def check_table(table: Table, *, min_cell: int = DEFAULT_MIN_CELL,
                protection_width: float | None = None, lp: bool = True) -> list[Violation]:
    """The disclosure rules on one table (small-count, reveals, complement, and lp-interval unless ``lp``
    is False)."""
    protection_width = min_cell if protection_width is None else protection_width
    kinds, nums, presumed = column_kinds(table)
    out: list[Violation] = []
    for c, k in kinds.items():
        if k["kind"] != D.PERSONS or c not in nums:
            continue
        v = nums[c]
        bad = np.flatnonzero(((v >= 1) & (v < min_cell)).to_numpy())
        why = " (no kind declared: a whole-number column is audited as a count of persons)" if c in presumed else ""
        for i in bad:
            out.append(Violation(table.name, c, table.row_name(i), "small-count",
                                 f"count of persons {v.iloc[i]:g} is between 1 and {min_cell - 1}{why}"))
    for c, k in kinds.items():
        if k["kind"] not in D.DERIVED or c not in nums:
            continue
        for src in k.get("of", []):
            if src not in nums:
                out.append(Violation(table.name, c, None, "reveals",
                                     f"{k['kind']} of '{src}', which this table does not publish as numbers: "
                                     "the audit cannot see whether it reveals a hidden count"))
                continue
            if kinds.get(src, {}).get("kind") == D.PUBLIC:
                continue
            bad = np.flatnonzero((nums[src].isna() & nums[c].notna()).to_numpy())
            for i in bad:
                out.append(Violation(table.name, c, table.row_name(i), "reveals",
                                     f"{k['kind']} {nums[c].iloc[i]:g} is published where the count '{src}' it "
                                     "comes from is hidden (it reveals the count)"))
    for s in table.decl.get("sums", []):
        members = [s["total"], *s["parts"]]
        if any(m not in nums for m in members):
            out.append(Violation(table.name, s["total"], None, "complement", f"identity {s['total']} = "
                                 f"{' + '.join(s['parts'])} names a column that is not numeric"))
            continue
        hidden = pd.concat([nums[m].isna() for m in members], axis=1)
        one = np.flatnonzero((hidden.sum(axis=1) == 1).to_numpy())
        for i in one:
            m = members[int(np.flatnonzero(hidden.iloc[i].to_numpy())[0])]
            if kinds.get(m, {}).get("kind") == D.PUBLIC:
                continue
            out.append(Violation(table.name, m, table.row_name(i), "complement",
                                 f"the only hidden member of {s['total']} = {' + '.join(s['parts'])}: "
                                 "recomputable from the others"))
    if table.decl.get("linear") and lp:
        out += check_linear(table, protection_width)
    return out


def check_linear(table: Table, protection_width: float) -> list[Violation]:
    """``lp-interval``: bound every hidden cell of a declared hierarchical table from the published cells."""
    spec = table.decl["linear"]
    dims, value, trees = spec["dims"], spec["value"], spec["trees"]
    frame = table.frame
    cells = pd.DataFrame({d: frame[d].astype(str) for d in dims})
    num = numeric(frame[value])
    if num is None:
        return [Violation(table.name, value, None, "lp-interval", "the value column is not numeric")]
    cells["value"] = num.to_numpy()
    lt = D.table_from_cells(cells, trees)
    hidden = np.isnan(lt.values)
    check = hidden.copy()
    where = spec.get("hidden_where")
    if where:
        for col, vals in where.items():
            check &= frame[col].astype(str).isin([str(x) for x in vals]).to_numpy()
    # only cells narrower than the protection width get exact bounds (the others are shown wide enough by the
    # feasible tables found on the way): the check of 01's default run takes ~100 LPs instead of ~2,000
    iv = D.lp_intervals(lt, hidden, check=check, min_width=protection_width)
    out = []
    for r in iv.itertuples():
        if r.width < protection_width - 1e-9:
            key = ", ".join(f"{d}={cells.at[r.cell, d]}" for d in dims)
            out.append(Violation(table.name, value, f"{table.row_name(int(r.cell))} ({key})", "lp-interval",
                                 f"hidden cell bounded to [{r.lower:g}, {r.upper:g}] (width {r.width:g} < "
                                 f"protection width {protection_width:g}) by the published cells"))
    return out


def check_formulas(path: str | Path) -> list[Violation]:
    """``formula``: text cells of a CSV that a spreadsheet would run."""
    path = Path(path)
    name = paths.relative(path) if path.is_absolute() else str(path)
    out = []
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        for cells, line in ((header, 1), *((r, n + 2) for n, r in enumerate(reader))):
            for j, v in enumerate(cells):
                if is_formula(v):
                    col = header[j] if line > 1 and j < len(header) else None
                    out.append(Violation(name, col, f"line {line}", "formula",
                                         f"text {v[:30]!r} would run as a spreadsheet formula"))
    return out


_SEARCH_JS: str | None = None


class _MarkupScan(HTMLParser):
    def __init__(self, name: str):
        super().__init__(convert_charrefs=True)
        self.name, self.found = name, []
        self._script: tuple[int, list[str]] | None = None

    def handle_starttag(self, tag, attrs):
        line = f"line {self.getpos()[0]}"
        for a, v in attrs:
            if a.lower().startswith("on"):
                self.found.append(Violation(self.name, None, line, "markup", f"event attribute {a}= on <{tag}>"))
            if a.lower() in ("href", "src", "action", "formaction", "xlink:href") and v and \
                    re.sub(r"[\s\x00-\x1f]", "", v).lower().startswith(("javascript:", "vbscript:")):
                self.found.append(Violation(self.name, None, line, "markup", f"{a}={v[:40]!r} on <{tag}>"))
        if tag == "script":
            self._script = (self.getpos()[0], [])

    def handle_data(self, data):
        if self._script is not None:
            self._script[1].append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            line, parts = self._script
            self._script = None
            if "".join(parts).strip() != _search_js().strip():
                self.found.append(Violation(self.name, None, f"line {line}", "markup",
                                            "a <script> that is not the report's own search-box script"))


def _search_js() -> str:
    global _SEARCH_JS
    if _SEARCH_JS is None:
        from .report import SEARCH_JS_FILE
        _SEARCH_JS = SEARCH_JS_FILE.read_text(encoding="utf-8")
    return _SEARCH_JS


def check_html(path: str | Path) -> list[Violation]:
    """``markup``: live script, event attributes, javascript: links in a rendered report."""
    path = Path(path)
    scan = _MarkupScan(paths.relative(path) if path.is_absolute() else str(path))
    scan.feed(path.read_text(encoding="utf-8"))
    scan.close()
    return scan.found


# --- a run and a build ---------------------------------------------------------------------------

def internal_run(meta: dict) -> bool:
    """A run for staff only (庁内限り, the run's ``audience`` parameter): exempt from the disclosure rules,
    not from formula/markup."""
    return str(meta.get("audience") or meta.get("parameters", {}).get("audience") or "public") == "internal"


@dataclass
class RunAudit:
    name: str
    tables: int
    internal: bool
    violations: list[Violation]


def export_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*") if p.suffix in (".csv", ".parquet") and p.is_file()
                  and not p.name.endswith(SIDECAR_SUFFIX))


def audit_run(executed: str | Path, *, reports_dir: str | Path | None = None, skip: tuple[str, ...] = ()) -> RunAudit:
    """Audit one run: its exports (``output_dir``), the tables its report shows, the report's downloads
    (``<reports_dir>/<stem>_files``: tables and figure data) and the report HTML.

    ``skip``: rules not checked (a known, listed gap; ``lp-interval`` is also the slowest rule). A ``.parquet``
    export with a ``.csv`` twin of the same stem is the same table and is read once (the CSV)."""
    executed = Path(executed)
    nb = json.loads(executed.read_text(encoding="utf-8"))
    meta = nb.get("metadata", {}).get("ebpm", {})
    params = meta.get("parameters", {})
    min_cell = int(params.get("min_cell", DEFAULT_MIN_CELL) or DEFAULT_MIN_CELL)
    width = float(params.get("protection_width", min_cell) or min_cell)
    internal = internal_run(meta)
    tables = report_tables(executed)
    reports = Path(reports_dir) if reports_dir else paths.REPORTS_DIR
    files = []
    folders = [paths.resolve(params["output_dir"])] if params.get("output_dir") else []
    # the report's downloads (its tables and figure data, pipeline.downloads) beside the page
    folders.append(reports / downloads.folder_name(executed.stem))
    for folder in folders:
        if folder.is_dir():
            found_here = export_files(folder)
            stems = {p.stem for p in found_here if p.suffix == ".csv"}
            tables += [read_export(p) for p in found_here if not (p.suffix == ".parquet" and p.stem in stems)]
            files += found_here
    found: list[Violation] = []
    if not internal:
        for t in tables:
            found += check_table(t, min_cell=min_cell, protection_width=width, lp="lp-interval" not in skip)
    for p in files:
        if p.suffix == ".csv":
            found += check_formulas(p)
    html = reports / f"{executed.stem}.html"
    if html.exists():
        found += check_html(html)
    return RunAudit(executed.stem, len(tables), internal, [v for v in found if v.rule not in skip])


def audit_paths(items: list[str | Path], *, min_cell: int = DEFAULT_MIN_CELL,
                protection_width: float | None = None) -> list[Violation]:
    """Audit given files or folders: exported tables (with sidecars; a folder: every table in it), reports
    (.html, named one by one), executed notebooks (the whole run)."""
    found = []
    for item in items:
        p = Path(item)
        # a folder: its exported tables (an export folder may hold a whole interactive map page with its
        # own Leaflet scripts, which is not a report: name a report .html explicitly to check it)
        files = export_files(p) if p.is_dir() else [p]
        for f in files:
            if f.suffix == ".ipynb":
                found += audit_run(f).violations
            elif f.suffix == ".html":
                found += check_html(f)
            elif f.suffix in (".csv", ".parquet"):
                found += check_table(read_export(f), min_cell=min_cell, protection_width=protection_width)
                if f.suffix == ".csv":
                    found += check_formulas(f)
    return found
