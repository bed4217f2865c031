"""Downloads of a report's tables and figure data (issue 14): one CSV per table and one Excel workbook.

What is downloadable is exactly what the report shows: the tables that :func:`ebpm_analysis.report.table`,
``searchable_table`` and ``kpis`` displayed (their rows as shown, already suppressed for a public run, kept in
the executed notebook under :data:`ebpm_analysis.report.TABLE_MIME`) and the data a package plot function
recorded for its figure (:func:`ebpm_analysis.viz.figure_data`, :data:`ebpm_analysis.viz.FIGURE_MIME`). Tables
of cells the report does not show (``remove-cell``, ``#| include: false`` …) are not published.

Where they go: ``reports/<stem>_files/`` beside ``reports/<stem>.html`` (one file per table, ``NN_<caption>.csv``
in UTF-8 with BOM so that Excel opens it, with the column declaration beside it as ``.disclosure.json`` so that
``ebpm audit reports/<stem>_files`` checks them like any export, and ``<stem>.xlsx``). Beside the page rather than
inside it as ``data:`` links: plain relative links open in every browser of a closed network (older Edge/IE
modes refuse ``data:`` downloads), the dashboard can link the workbook, and the audit reads the files as they
are. Copy the folder with the page. The run writes them into a staging folder that replaces the previous one
only after the new report is in place (:mod:`.execute`), so a failed run keeps the previous downloads.

The workbook follows the usual good practice for statistical tables in spreadsheets (one table per sheet,
title in A1, notes above the table, one header row, no merged cells, an Excel table object, a cover sheet
with title, area, sources and licences, dates and notes, and a contents list). gptables, the library that
implements that guidance, refuses any cell without an ASCII letter or digit (every Japanese name) and so cannot
write these tables; the sheets are written with XlsxWriter with formulas switched off, and text that a
spreadsheet would run as a formula carries a leading apostrophe, as in every CSV export
(:func:`ebpm_analysis.io.common.neutralise_formulas`).
"""

from __future__ import annotations

import copy
import html
import json
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd

from ..io.common import atomic_path, neutralise_formulas, sidecar_path, write_csv

FOLDER_SUFFIX = "_files"
SHEET_COVER = "表紙"
#: header row of every data sheet (1-based, as Excel shows it): title, notes and a blank row come first
HEADER_ROW = 5
NOTE_BLANK = "空欄は値がないこと、または秘匿（公表の基準に満たない小さな人数とそこから計算できる値）を表します。"
KIND_TEXT = {
    "person_count": "人数・件数（個人に関わる数）", "public_count": "件数（公表されている記録）", "count": "件数",
    "label": "名称・コード", "other": "数値", "rate": "率", "share": "割合", "interval": "区間の端",
    "expected": "期待値・推定値",
}


def folder_name(stem: str) -> str:
    """The folder of a report's downloads, beside ``<stem>.html``."""
    return f"{stem}{FOLDER_SUFFIX}"


@dataclass
class Item:
    """One downloadable table."""
    no: int
    caption: str
    csv: str
    sheet: str
    frame: pd.DataFrame = field(repr=False)
    decl: dict = field(repr=False)
    figure: str | None = None    #: "図3" (or "図") when the data is a figure's
    key: str = ""                #: which output it comes from (see :func:`_key`)


@dataclass
class Manifest:
    stem: str
    items: list[Item]

    @property
    def folder(self) -> str:
        return folder_name(self.stem)

    @property
    def workbook(self) -> str:
        return f"{self.stem}.xlsx"

    def href(self, name: str) -> str:
        return urllib.parse.quote(f"{self.folder}/{name}")


def _safe_name(text: str, limit: int = 32) -> str:
    """A file-name part from a caption: letters and digits of any script, the rest as '_'."""
    s = unicodedata.normalize("NFC", str(text or ""))
    s = re.sub(r"[^\w]+", "_", s).strip("_")
    return s[:limit].rstrip("_") or "table"


def _frame(payload: dict) -> pd.DataFrame:
    """The table as shown: a column of whole numbers with hidden cells stays whole numbers (Int64)."""
    df = pd.DataFrame(payload["rows"], columns=payload["columns"], dtype=object)
    for i in range(len(payload["columns"])):
        values = [r[i] for r in payload["rows"] if r[i] is not None]
        if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            df.isetitem(i, pd.array([r[i] for r in payload["rows"]], dtype="Int64"))
        elif values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            df.isetitem(i, pd.to_numeric(df.iloc[:, i]).astype(float))
    return df


def _decl(payload: dict) -> dict:
    return {k: payload[k] for k in ("kinds", "sums", "linear", "default", "note") if k in payload}


def _key(payload: dict, part: int = -1) -> str:
    import hashlib
    return hashlib.sha256(json.dumps([payload, part], sort_keys=True, ensure_ascii=False,
                                     default=str).encode()).hexdigest()


def shown_outputs(nb) -> list[tuple[str, dict, str | None, str]]:
    """The table and figure-data payloads of the outputs the report shows, in page order:
    ``(kind, payload, figure number text, key)`` with kind ``"table"`` or ``"figure"`` (for a table: its number and
    caption when its cell gives ``#| tbl-cap``, else None). Visibility is decided by the
    renderer's own preprocessor (Quarto options and tags), on a copy."""
    from ..mime import FIGURE_MIME, TABLE_MIME
    from .render import QuartoOptionsPreprocessor, parse_front_matter
    work = skeleton(nb)
    fm = parse_front_matter(work)
    ex = fm.get("execute", {}) if isinstance(fm.get("execute"), dict) else {}
    pre = QuartoOptionsPreprocessor(defaults={k: ex[k] for k in ("output",) if k in ex})
    work, _ = pre.preprocess(work, {})
    out = []
    for cell in work.cells:
        if cell.cell_type != "code":
            continue
        fig = cell.metadata.get("ebpm_figure") or "図"
        tbl = cell.metadata.get("ebpm_table")   # "表4：…" of a cell with #| tbl-cap
        for o in cell.get("outputs", []):
            data = o.get("data", {})
            if TABLE_MIME in data:
                p = _payload(data[TABLE_MIME])
                out.append(("table", p, tbl, _key(p)))
            if FIGURE_MIME in data:
                p = _payload(data[FIGURE_MIME])
                out += [("figure", t, fig, _key(p, i)) for i, t in enumerate(p.get("tables", []))]
    return out


def skeleton(nb, keep=None):
    """A copy of the notebook with what visibility depends on (sources, tags, which outputs exist) and only the
    output payloads of the types in ``keep`` (default: table and figure data): copying a report's megabytes of
    images would cost seconds. Also read by :mod:`.consistency`."""
    from ..mime import FIGURE_MIME, TABLE_MIME
    keep = (TABLE_MIME, FIGURE_MIME) if keep is None else tuple(keep)
    cells = []
    for cell in nb.cells:
        c = nbformat.from_dict({"cell_type": cell.cell_type, "source": cell.source,
                                "metadata": copy.deepcopy(dict(cell.get("metadata", {})))})
        if cell.cell_type == "code":
            c["outputs"] = [nbformat.from_dict({"output_type": o.get("output_type"), "name": o.get("name"),
                                                "data": {k: v for k, v in o.get("data", {}).items() if k in keep},
                                                "metadata": {}})
                            for o in cell.get("outputs", [])]
        cells.append(c)
    return nbformat.from_dict({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def _payload(p):
    return json.loads(p) if isinstance(p, str) else p


def _needs_rules(decl: dict) -> bool:
    """Whether a declaration has a person count (the only kind the table rules hide on their own)."""
    kinds = [k if isinstance(k, dict) else {"kind": k} for k in decl.get("kinds", {}).values()]
    return any(k.get("kind") == "person_count" for k in kinds) or decl.get("default") == "person_count"


def plan(nb, stem: str) -> Manifest:
    """What the report's downloads are (file and sheet names, frames), without writing anything."""
    items = []
    prov = nb.metadata.get("ebpm", {})
    public = prov.get("audience", "public") != "internal"
    min_cell = int(prov.get("parameters", {}).get("min_cell") or 10)
    for kind, payload, fig, key in shown_outputs(nb):
        no = len(items) + 1
        caption = str(payload.get("caption") or "").strip()
        frame, decl = _frame(payload), _decl(payload)
        if kind == "table" and not caption and fig:
            # captioned by its cell: the number and caption the report shows ("表{no}" was this list's own
            # count, which counts the KPI tiles and figure data too: 00's download "表5" was the report's 表4)
            caption = fig
        if kind == "figure":
            caption = f"{fig}のデータ" + (f"（{caption}）" if caption else "")
            if public and _needs_rules(decl):   # a plot function's frame: the table rules apply before it leaves
                from ..stats import disclosure as D  # (imports scipy: only when there is something to hide)
                frame = D.suppress_table(frame, D.Schema(kinds=decl["kinds"]), min_cell)
        caption = {"KPI": "主な指標（KPI）"}.get(caption, caption) or f"表{no}"
        items.append(Item(no, caption, f"{no:02d}_{_safe_name(caption)}.csv", f"データ{no}", frame, decl,
                          fig if kind == "figure" else None, key))
    return Manifest(stem, items)


def write(nb, stem: str, folder: Path) -> Manifest:
    """Write every download of the executed notebook ``nb`` into ``folder`` (created): the CSVs with their
    declarations and the workbook. Returns the manifest (empty when the report shows no table)."""
    man = plan(nb, stem)
    if not man.items:
        return man
    folder.mkdir(parents=True, exist_ok=True)
    for it in man.items:
        path = write_csv(it.frame, folder / it.csv)
        with atomic_path(sidecar_path(path)) as tmp:
            tmp.write_text(json.dumps({"file": it.csv, **it.decl}, ensure_ascii=False, indent=1), encoding="utf-8")
    write_workbook(man, folder / man.workbook, cover_facts(nb))
    return man


# --- the workbook ----------------------------------------------------------------------------------------------

def cover_facts(nb) -> dict:
    """Title, city, data nature, sources with licences, dates and notes for the cover sheet (from the run's
    provenance, the front matter and the data catalog)."""
    from .render import parse_front_matter
    prov = nb.metadata.get("ebpm", {})
    fm = parse_front_matter(nb)
    params = prov.get("parameters", {})
    nature = {"real": "実データ", "synthetic": "合成データ", "mixed": "実データ＋合成データ"}.get(
        prov.get("data_nature", ""), "入力記録なし")
    notes = [NOTE_BLANK,
             "文字列の先頭が = + - @ の値には、表計算ソフトが数式として実行しないよう先頭に ' を付けています。",
             "各シートの表は報告書に掲載した表と同じ行・同じ値です（報告書では数値を丸めて表示しています）。"]
    if params.get("min_cell"):
        notes.insert(1, f"個人に関わる人数・件数は {params['min_cell']} 未満を秘匿しています（公開版）。")
    if prov.get("audience") == "internal":
        notes.insert(0, "【庁内限り】この表は庁内の職員向けです。庁外に提供しないでください。")
    if prov.get("data_nature") in ("synthetic", "mixed"):
        notes.insert(0, "合成データを含みます：数値は手法の例示であり、実在の個人・施設・事案を表しません。")
    return {
        "title": str(fm.get("title") or prov.get("notebook", "")),
        "subtitle": str(fm.get("subtitle") or ""),
        "city": f"{prov.get('city_name') or ''}（{prov.get('city') or ''}）" if prov.get("city") else "",
        "nature": nature,
        "sources": sources(prov.get("inputs", [])),
        "finished": prov.get("finished", ""),
        "command": prov.get("command", ""),
        "notes": notes,
    }


def sources(inputs: list[dict]) -> list[tuple[str, str, str]]:
    """(source and attribution, licence, time covered) of each dataset the run read, once each: real files
    from their data-catalog entry, generated files as synthetic."""
    wanted = {Path(i.get("path", "")).parts[2] for i in inputs
              if i.get("nature") != "synthetic" and Path(i.get("path", "")).parts[:2] == ("data", "raw")
              and len(Path(i.get("path", "")).parts) >= 3}
    by_folder = _catalog_heads(wanted) if wanted else {}
    out, seen = [], set()
    for i in inputs:
        parts = Path(i.get("path", "")).parts
        if i.get("nature") == "synthetic":
            row = ("合成データ（公表統計に合わせて本ツールの生成器が作成）", "—（実データではありません）", "—")
        elif len(parts) >= 3 and parts[:2] == ("data", "raw") and parts[2] in by_folder:
            e = by_folder[parts[2]]
            src = str(e.get("attribution") or e.get("source") or e.get("title"))
            row = (f"{e.get('title', '')}：{src}", str(e.get("licence", "")), str(e.get("temporal_coverage", "")))
        elif parts[:2] == ("data", "catalog"):
            continue   # the data catalog itself (00) is this tool's description, not a source
        else:
            row = (str(i.get("dataset") or Path(i.get("path", "")).name), "", "")
        if row not in seen:
            seen.add(row)
            out.append(row)
    return out


def _catalog_heads(folders: set[str]) -> dict[str, dict]:
    """The catalog entries (title, source, licence, time covered; not the column list) of the datasets in the
    given ``data/raw`` folders. Only the part of each YAML file before ``columns:`` is parsed (the column lists
    are most of the catalog and reading them all costs seconds per run); the data catalog report (00) checks the
    entries themselves."""
    import yaml

    from .. import paths
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    out = {}
    for f in sorted(paths.CATALOG_DIR.glob("*.yml")):
        text = f.read_text(encoding="utf-8")
        head = re.split(r"(?m)^columns:", text, maxsplit=1)[0]
        try:
            entry = yaml.load(head, Loader=loader)   # noqa: S506 - a safe loader
        except yaml.YAMLError:
            continue
        parts = Path(str((entry or {}).get("path", ""))).parts if isinstance(entry, dict) else ()
        if len(parts) >= 3 and parts[:2] == ("data", "raw") and parts[2] in folders:
            out.setdefault(parts[2], entry)
    return out


def _width(values) -> float:
    """Column width in Excel units: East Asian wide characters count twice."""
    longest = 0
    for v in values:
        s = "" if v is None else str(v)
        longest = max(longest, sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s))
    return min(max(8, longest + 2), 60)


def write_workbook(man: Manifest, path: Path, facts: dict) -> Path:
    """The workbook: a cover sheet, then one sheet per table (title in A1, notes, the table as an Excel table)."""
    import xlsxwriter
    with atomic_path(path) as tmp:
        wb = xlsxwriter.Workbook(str(tmp), {"strings_to_formulas": False, "strings_to_urls": False,
                                            "strings_to_numbers": False, "nan_inf_to_errors": True})
        wb.set_properties({"title": facts["title"], "subject": facts.get("subtitle", ""),
                           "comments": "ebpm-analysis の報告書の表"})
        title_fmt = wb.add_format({"bold": True, "font_size": 14})
        bold = wb.add_format({"bold": True})
        wrap = wb.add_format({"text_wrap": True, "valign": "top"})
        ws = wb.add_worksheet(SHEET_COVER)
        ws.set_column(0, 0, 18)
        ws.set_column(1, 1, 70)
        ws.set_column(2, 3, 24)
        ws.write_string(0, 0, facts["title"], title_fmt)
        rows = [("副題", facts.get("subtitle", "")), ("市区町村", facts.get("city", "")),
                ("データの種別", facts.get("nature", "")), ("作成日時", facts.get("finished", "")),
                ("再現方法", facts.get("command", ""))]
        r = 2
        for k, v in rows:
            ws.write_string(r, 0, k, bold)
            ws.write_string(r, 1, str(v), wrap)
            r += 1
        r += 1
        ws.write_row(r, 0, ["出典", "出典・帰属表示", "ライセンス", "データの時点"], bold)
        r += 1
        for src, lic, when in facts.get("sources", []):
            ws.write_string(r, 0, "出典")
            ws.write_row(r, 1, [src, lic, when], wrap)
            r += 1
        r += 1
        for note in facts.get("notes", []):
            ws.write_string(r, 0, "注記", bold)
            ws.write_string(r, 1, note, wrap)
            r += 1
        r += 1
        ws.write_row(r, 0, ["シート", "表題", "行数", "CSV ファイル"], bold)
        r += 1
        for it in man.items:
            ws.write_row(r, 0, [it.sheet, it.caption])
            ws.write_number(r, 2, len(it.frame))
            ws.write_string(r, 3, it.csv)
            r += 1
        for it in man.items:
            _write_sheet(wb, it, title_fmt, wrap)
        wb.close()
    return path


def column_notes(decl: dict, columns) -> list[str]:
    """One line saying what each declared column is (a person count, a rate of which count …)."""
    kinds = decl.get("kinds", {})
    parts = []
    for c in columns:
        k = kinds.get(str(c))
        if not k:
            continue
        k = k if isinstance(k, dict) else {"kind": k}
        text = KIND_TEXT.get(k.get("kind"), str(k.get("kind")))
        if k.get("of"):
            text += "（" + "・".join(map(str, k["of"])) + " から計算）"
        parts.append(f"{c}＝{text}")
    return ["列：" + "、".join(parts)] if parts else []


def _write_sheet(wb, it: Item, title_fmt, wrap) -> None:
    ws = wb.add_worksheet(it.sheet)
    frame = neutralise_formulas(it.frame)
    ws.write_string(0, 0, f"{it.sheet}：{it.caption}", title_fmt)
    notes = [NOTE_BLANK, *column_notes(it.decl, it.frame.columns)]
    for i, note in enumerate(notes[:HEADER_ROW - 2]):
        ws.write_string(1 + i, 0, note)
    top = HEADER_ROW - 1
    columns = [str(c) for c in frame.columns]
    for j, c in enumerate(columns):
        ws.set_column(j, j, _width([c, *frame.iloc[:, j].tolist()]))
    data = [[_cell(v) for v in row] for row in frame.itertuples(index=False, name=None)]
    if data and len(set(columns)) == len(columns) and all(c.strip() for c in columns):
        ws.add_table(top, 0, top + len(data), len(columns) - 1,
                     {"name": f"Table_{it.no:02d}", "style": "Table Style Light 9", "autofilter": False,
                      "columns": [{"header": c} for c in columns], "data": data})
    else:   # an Excel table needs distinct, non-empty headers: the same cells without the table object
        for j, c in enumerate(columns):
            ws.write_string(top, j, c)
        for i, row in enumerate(data, start=1):
            for j, v in enumerate(row):
                ws.write(top + i, j, v)


def _cell(v):
    """A value for a sheet: numbers stay numbers, missing values are left blank, the rest is text."""
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return None
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    return str(v)


# --- the links in the report -------------------------------------------------------------------------------------

def link_html(man: Manifest, it: Item, named: bool = False) -> str:
    """The small link under a table or figure; ``named``: the figure has several tables, the link names its own
    (05's map: crossings and volunteer positions; 03's interactive map: one a layer)."""
    what = (f"「{it.caption}」" if named else "この図のデータ") if it.figure else "この表"
    return (f'<div class="ebpm-download">{what}をダウンロード：'
            f'<a href="{html.escape(man.href(it.csv))}">CSV</a>｜'
            f'<a href="{html.escape(man.href(man.workbook))}">Excel（シート「{html.escape(it.sheet)}」）</a></div>')


def section_html(man: Manifest) -> str:
    """The report's list of downloads (a section before the glossary and provenance)."""
    lis = "".join(f'<li><a href="{html.escape(man.href(it.csv))}">{html.escape(it.caption)}</a>'
                  f"（CSV、{len(it.frame):,}行）</li>" for it in man.items)
    return (f'<section class="ebpm-downloads" id="downloads">\n\n## ダウンロード\n\n'
            f'<p>報告書に掲載した表と図のデータを、表計算ソフトで開ける形式で提供します。'
            f'<a href="{html.escape(man.href(man.workbook))}">Excel ブック（全{len(man.items)}表、表紙つき）</a>。'
            f'各表の CSV（UTF-8、BOM 付き）：</p><ul>{lis}</ul>'
            f'<p>ファイルは報告書と同じ場所のフォルダ「{html.escape(man.folder)}」にあります。'
            f'報告書を移すときはこのフォルダも一緒に移してください。</p>\n</section>')


def add_links(nb, man: Manifest) -> None:
    """Put the download links into a notebook the renderer has preprocessed (only shown cells left): a link
    after each table output and at the end of each figure cell, and the list before the glossary/provenance."""
    from ..mime import FIGURE_MIME, TABLE_MIME
    items = {it.key: it for it in man.items}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs, tail = [], []
        for o in cell.get("outputs", []):
            outputs.append(o)
            data = o.get("data", {})
            if TABLE_MIME in data and _key(_payload(data[TABLE_MIME])) in items:
                outputs.append(_html_output(link_html(man, items[_key(_payload(data[TABLE_MIME]))])))
            if FIGURE_MIME in data:
                p = _payload(data[FIGURE_MIME])
                mine = [items[_key(p, i)] for i in range(len(p.get("tables", []))) if _key(p, i) in items]
                tail += [_html_output(link_html(man, it, named=len(mine) > 1)) for it in mine]
        cell.outputs = outputs + tail
    section = nbformat.v4.new_markdown_cell(section_html(man))
    section.metadata["tags"] = ["ebpm-downloads"]
    at = next((i for i, c in enumerate(nb.cells)
               if {"ebpm-glossary", "ebpm-provenance"} & set(c.get("metadata", {}).get("tags", []))), len(nb.cells))
    nb.cells.insert(at, section)


def _html_output(text: str):
    return nbformat.v4.new_output("display_data", data={"text/html": text})
