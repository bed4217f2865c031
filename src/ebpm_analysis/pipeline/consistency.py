"""One number, one source (issue 13): a report's KPI cards, logic-model KPIs, tables and prose must not contradict
each other. This module reads what an executed notebook shows (the objects the page is made of, not its HTML) and
lists every place where they disagree.

What a report holds (only the outputs the page shows: Quarto options and tags decided by the renderer's own
preprocessor):

- **KPIs**: the ``report.kpis`` tiles and the logic model's KPI rows (:func:`ebpm_analysis.pipeline.kpi.shown_kpis`),
  matched with ``notebooks/kpis/<notebook>.yml``;
- **tables**: every table the page shows (:data:`~ebpm_analysis.mime.TABLE_MIME`), every figure's recorded data
  (:data:`~ebpm_analysis.mime.FIGURE_MIME`) and every CSV the run exports;
- **prose**: the Markdown the notebook's code writes (``report.md``, ``report.bullets``) and the tables' captions.

Checks (:func:`check`):

1. ``kpi-places``: one KPI shown in several places (tile, logic model, the prose a definition's ``prose`` pattern
   finds) shows one value, at the coarser of the two precisions.
2. ``kpi-cell``: a KPI whose definition declares ``cell`` (the table, column and row it comes from) equals that
   cell at the KPI's shown precision.
3. ``kpi-source``: every other KPI value equals some cell of a shown table, figure data or export (or a number in
   a text cell, a table's row count or a numeric column's total) at its shown precision.
4. ``prose-source``: every number with a unit of count, share, time or speed in the prose (件, 人, %, 分, km/h,
   件/日, メッシュ …) equals a KPI, a table cell, a parameter of the run or a number of the notebook's own fixed
   text (its Markdown cells: settings such as 「99.8%管理限界」) at its written precision.

A number "equals" a cell when the cell, rounded half-even or half-up to the number's decimals, gives the number
(a share in 0–1 also as per cent). Nothing is tolerated beyond the report's own rounding.

Written by hand: no library compares the numbers of a rendered report with its data.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from pathlib import Path

#: Units whose numbers the prose check reads (longest first, so 件/日 wins over 件).
UNITS = ("件／千通過", "件/千通過", "件／日", "件/日", "人/5分", "km/h", "km²", "メッシュ", "ポイント", "施設", "地区",
         "窓口", "か所", "区間", "世帯", "件", "人", "分", "%", "％", "本")
_NUM = r"(?<![\d.,A-Za-z])(?P<num>[-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)"
_QTY = re.compile(_NUM + r"\s?(?P<unit>" + "|".join(re.escape(u) for u in UNITS) + r")")
_ANY_NUM = re.compile(_NUM)
_ESC = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|~$\"'=:^])")


@dataclass(frozen=True)
class Quantity:
    """A number as written: its value, its decimals, its unit and the text around it."""
    value: float
    decimals: int
    unit: str
    context: str


@dataclass
class ReportTable:
    caption: str
    columns: list[str]
    rows: list[list]
    origin: str          # "table", "figure" or "export <file name>"


@dataclass
class Content:
    """What one executed report shows."""
    kpis: list[tuple[str, str, str]] = field(default_factory=list)     # (label, value text, "tile" | "logic")
    tables: list[ReportTable] = field(default_factory=list)
    prose: list[str] = field(default_factory=list)
    fixed_text: str = ""                                                # the notebook's Markdown cells
    parameters: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Mismatch:
    check: str           # kpi-places | kpi-cell | kpi-source | prose-source
    subject: str         # the KPI label, or the quantity as written
    message: str

    def line(self) -> str:
        return f"{self.check}: {self.subject}: {self.message}"


def plain(text: str) -> str:
    """Markdown as read: escapes and emphasis removed (``**74\\.7%**`` → ``74.7%``)."""
    return _ESC.sub(r"\1", str(text)).replace("**", "").replace("`", "")


def _number(text: str) -> tuple[float, int]:
    s = text.replace(",", "").replace("−", "-")
    return float(s), len(s.split(".", 1)[1]) if "." in s else 0


def quantities(text: str) -> list[Quantity]:
    """The numbers with a unit of :data:`UNITS` in ``text`` (``"19,615人"`` → 19615 人, 0 decimals)."""
    t = plain(text)
    out = []
    for m in _QTY.finditer(t):
        v, d = _number(m.group("num"))
        unit = {"％": "%", "件／日": "件/日", "件／千通過": "件/千通過"}.get(m.group("unit"), m.group("unit"))
        out.append(Quantity(v, d, unit, t[max(0, m.start() - 40):m.end() + 20].replace("\n", " ")))
    return out


def numbers(text: str) -> list[tuple[float, int]]:
    """Every number in ``text`` with its decimals."""
    return [_number(m.group("num")) for m in _ANY_NUM.finditer(plain(text))]


def _rounded(x: float, d: int) -> set[Decimal]:
    q = Decimal(1).scaleb(-d)
    x = Decimal(repr(float(x)))
    return {x.quantize(q, rounding=ROUND_HALF_EVEN), x.quantize(q, rounding=ROUND_HALF_UP)}


def shows_as(cell: float, value: float, decimals: int, percent: bool = False) -> bool:
    """Whether ``cell`` written with ``decimals`` decimals is ``value`` (for a per cent, also ``cell`` × 100)."""
    if cell is None or isinstance(cell, bool) or not isinstance(cell, (int, float)) or not math.isfinite(cell):
        return False
    want = Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-decimals))
    cands = [cell] + ([cell * 100] if percent and abs(cell) <= 1 else [])
    return any(want in _rounded(c, decimals) or (want == 0 and abs(c) < 0.5 * 10 ** -decimals) for c in cands)


# --- reading a report ----------------------------------------------------------------------------------------

def _visible(nb):
    """The notebook as the page shows it (only table, figure, KPI and Markdown outputs kept)."""
    from ..mime import FIGURE_MIME, KPI_MIME, TABLE_MIME
    from .downloads import skeleton
    from .render import QuartoOptionsPreprocessor, parse_front_matter
    work = skeleton(nb, (TABLE_MIME, FIGURE_MIME, KPI_MIME, "text/markdown"))
    fm = parse_front_matter(work)
    ex = fm.get("execute", {}) if isinstance(fm.get("execute"), dict) else {}
    work, _ = QuartoOptionsPreprocessor(defaults={k: ex[k] for k in ("output",) if k in ex}).preprocess(work, {})
    return work


def _payload(p):
    return json.loads(p) if isinstance(p, str) else p


def read_report(nb, exports: Path | None = None) -> Content:
    """What the executed notebook ``nb`` shows, plus the CSVs in ``exports`` (the run's output folder)."""
    from ..mime import FIGURE_MIME, KPI_MIME, TABLE_MIME
    from .kpi import shown_kpis
    work = _visible(nb)
    c = Content(kpis=shown_kpis(work), parameters=dict((nb.metadata.get("ebpm") or {}).get("parameters") or {}))
    c.fixed_text = "\n".join(x.source for x in nb.cells if x.cell_type == "markdown")
    for cell in work.cells:
        if cell.cell_type != "code":
            continue
        for o in cell.get("outputs", []):
            data = o.get("data", {})
            if TABLE_MIME in data:
                p = _payload(data[TABLE_MIME])
                if p.get("caption") != "KPI":
                    c.tables.append(ReportTable(p.get("caption") or "", list(p["columns"]), p["rows"], "table"))
                    if p.get("caption"):
                        c.prose.append(p["caption"])
            if FIGURE_MIME in data:
                p = _payload(data[FIGURE_MIME])
                for t in p.get("tables", []):
                    c.tables.append(ReportTable(t.get("caption") or "", list(t["columns"]), t["rows"], "figure"))
            if KPI_MIME in data:
                continue
            if "text/markdown" in data and TABLE_MIME not in data:
                md = data["text/markdown"]
                c.prose.append("".join(md) if isinstance(md, list) else md)
    if exports is not None and Path(exports).is_dir():
        c.tables += read_exports(Path(exports))
    return c


def read_exports(folder: Path) -> list[ReportTable]:
    import pandas as pd
    out = []
    for p in sorted(folder.rglob("*.csv")):
        df = pd.read_csv(p, encoding="utf-8-sig", low_memory=False)
        df = df.astype(object).where(df.notna(), None)
        out.append(ReportTable(p.name, [str(x) for x in df.columns], df.values.tolist(), f"export {p.name}"))
    return out


# --- values ----------------------------------------------------------------------------------------------------

class Pool:
    """Every number a report's objects hold: numeric cells, numbers inside text cells, row counts and the totals of
    numeric columns (a total the prose quotes, e.g. 「上位10か所の通過は延べ 745人」)."""

    def __init__(self, tables: list[ReportTable], extra: list[float] = ()):
        vals: list[float] = list(extra)
        for t in tables:
            vals.append(float(len(t.rows)))
            for j in range(len(t.columns)):
                col = [r[j] for r in t.rows if j < len(r)]
                if col and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in col):
                    vals.append(float(sum(col)))
            for r in t.rows:
                for v in r:
                    if isinstance(v, bool) or v is None:
                        continue
                    if isinstance(v, (int, float)):
                        vals.append(float(v))
                    elif isinstance(v, str) and any(ch.isdigit() for ch in v):
                        vals += [x for x, _ in numbers(v)]
        self.values = sorted({v for v in vals if math.isfinite(v)})

    def has(self, value: float, decimals: int, percent: bool = False) -> bool:
        import bisect
        half = 0.5 * 10 ** -decimals + 1e-12
        lo = bisect.bisect_left(self.values, value - half)
        hi = bisect.bisect_right(self.values, value + half)
        if any(shows_as(v, value, decimals) for v in self.values[lo:hi]):
            return True
        if percent and abs(value) <= 100:
            s = value / 100
            lo = bisect.bisect_left(self.values, s - half / 100)
            hi = bisect.bisect_right(self.values, s + half / 100)
            return any(shows_as(v, value, decimals, percent=True) for v in self.values[lo:hi])
        return False


def _param_numbers(params: dict) -> list[float]:
    out = []

    def walk(v):
        if isinstance(v, bool):
            return
        if isinstance(v, (int, float)):
            out.append(float(v))
        elif isinstance(v, str):
            out.extend(x for x, _ in numbers(v))
        elif isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                walk(x)
    walk(params)
    return out


def _num(v) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v) if math.isfinite(v) else None
    ns = numbers(v) if isinstance(v, str) else []
    return ns[0][0] if ns else None


def cell_value(tables: list[ReportTable], spec: dict) -> tuple[float | None, str]:
    """The value a definition's ``cell`` names (:mod:`ebpm_analysis.pipeline.kpi`): ``{table: caption regex,
    column: name, where: {column: regex}, agg: value | sum | max | min | count | mean | ratio, weight: column,
    denominator: column}`` (``value``: exactly one row; ``mean``: weighted by ``weight`` when given; ``ratio``: the
    column's total ÷ the denominator's). Returns (value, what went wrong)."""
    pat = re.compile(str(spec["table"]))
    need = [c for c in (spec.get("column"), spec.get("weight"), spec.get("denominator")) if c]
    cands = [t for t in tables if pat.search(t.caption) and all(c in t.columns for c in need)]
    if not cands:
        return None, f"no table whose caption matches {spec['table']!r} has the columns {need}"
    t = cands[0]
    rows = t.rows
    for col, rx in (spec.get("where") or {}).items():
        if col not in t.columns:
            return None, f"table {t.caption!r} has no column {col!r}"
        i, r = t.columns.index(col), re.compile(str(rx))
        rows = [row for row in rows if row[i] is not None and r.fullmatch(str(row[i]))]
    agg = spec.get("agg", "value")
    if agg == "count":
        return float(len(rows)), ""

    def col(name):
        return [_num(row[t.columns.index(name)]) for row in rows]
    vals = col(spec["column"])
    if agg == "value":
        if len(vals) != 1 or vals[0] is None:
            return None, f"{len(vals)} rows of {t.caption!r} match {spec.get('where')}, expected one with a number"
        return vals[0], ""
    if not vals or None in vals:
        return None, f"{t.caption!r} column {spec['column']!r}: {len(vals)} rows, a value missing or hidden"
    if agg == "ratio":
        den = col(spec["denominator"])
        if None in den or not sum(den):
            return None, f"{t.caption!r} column {spec['denominator']!r}: a value missing or a zero total"
        return sum(vals) / sum(den), ""
    if agg == "mean":
        w = col(spec["weight"]) if spec.get("weight") else [1.0] * len(vals)
        if None in w or not sum(w):
            return None, f"{t.caption!r} column {spec.get('weight')!r}: a weight missing or a zero total"
        return sum(v * x for v, x in zip(vals, w, strict=True)) / sum(w), ""
    return {"sum": sum, "max": max, "min": min}[agg](vals), ""


# --- checks ----------------------------------------------------------------------------------------------------

def _at(v: float, d: int) -> str:
    return f"{v:,.{d}f}"


def declared(content: Content, theme) -> dict[str, dict]:
    """What the definitions of ``theme`` declare and the report holds, by KPI id: ``{"shown": [value text, …],
    "cell": (value or None, what went wrong) or absent, "prose": [quoted number text, …]}`` (for a test to
    require that every declaration is used: a prose pattern that finds nothing checks nothing)."""
    out: dict[str, dict] = {}
    prose = "\n".join(plain(p) for p in content.prose)
    for d in theme.kpis:
        rec = {"shown": [t for label, t, _ in content.kpis if d.matches(label)],
               "prose": [m.group("v") for p in d.prose for m in p.finditer(prose)]}
        if d.cell:
            rec["cell"] = cell_value(content.tables, d.cell)
        out[d.id] = rec
    return out


def check(content: Content, theme=None) -> list[Mismatch]:
    """Every contradiction in one report (see the module text). ``theme``: the notebook's KPI definitions
    (:func:`ebpm_analysis.pipeline.kpi.load_theme`); without it KPIs are checked against the tables only."""
    found: list[Mismatch] = []
    pool = Pool(content.tables)
    # (1) one KPI, one value wherever it is shown
    by_id: dict[str, list[tuple[str, float, int, str]]] = {}
    shown = []
    for label, text, where in content.kpis:
        d = theme.find(label) if theme is not None else None
        if d is not None:
            s = d.number_text(text)
            if s is None:
                continue
            v, dec = _number(s)
            unit = d.unit
        else:
            q = numbers(text)
            if not q:
                continue
            (v, dec), unit = q[0], ""
        shown.append((label, text, where, d, v, dec, unit))
        if d is not None:
            by_id.setdefault(d.id, []).append((f"{where} 「{label}」", v, dec, text))
    if theme is not None:
        prose = "\n".join(plain(p) for p in content.prose)
        for d in theme.kpis:
            for pat in d.prose:
                for m in pat.finditer(prose):
                    v, dec = _number(m.group("v"))
                    by_id.setdefault(d.id, []).append((f"prose 「{m.group(0)}」", v, dec, m.group(0)))
    for kid, places in by_id.items():
        for (w1, v1, d1, t1), (w2, v2, d2, t2) in zip(places, places[1:], strict=False):
            d = min(d1, d2)
            if not (shows_as(v1, v2, d) or shows_as(v2, v1, d)) or (d1 == d2 and v1 != v2):
                found.append(Mismatch("kpi-places", kid, f"{w1} shows {t1!r} but {w2} shows {t2!r}"))
    # (2) declared cells, (3) any cell
    for label, text, where, d, v, dec, unit in shown:
        spec = d.cell if d is not None else None
        if spec:
            got, why = cell_value(content.tables, spec)
            if got is None:
                found.append(Mismatch("kpi-cell", label, f"{where} shows {text!r}; its declared cell: {why}"))
            elif not shows_as(got, v, dec, percent=unit == "%"):
                found.append(Mismatch("kpi-cell", label, f"{where} shows {text!r} but the declared cell "
                                      f"({spec['table']} / {spec.get('column')}) holds {got!r}"))
        elif not pool.has(v, dec, percent=unit == "%"):
            found.append(Mismatch("kpi-source", label, f"{where} shows {text!r}: {_at(v, dec)} is in no table, "
                                  "figure data or export of the report"))
    # (4) prose numbers come from the report's objects
    kpi_pool = Pool([], [v for *_, v, _dec, _u in shown] + _param_numbers(content.parameters)
                    + [x for x, _ in numbers(content.fixed_text)])
    for text in content.prose:
        for q in quantities(text):
            if pool.has(q.value, q.decimals, percent=q.unit == "%") or \
                    kpi_pool.has(q.value, q.decimals, percent=q.unit == "%"):
                continue
            found.append(Mismatch("prose-source", f"{_at(q.value, q.decimals)}{q.unit}",
                                  f"in 「{q.context}」: no table, figure data, export, KPI or parameter holds it"))
    return found
