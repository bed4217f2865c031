"""Helpers a notebook calls to show things in the house style of the reports.

They only display; they never compute findings. Tables shown to readers must already be
aggregated and disclosure-controlled (see :mod:`ebpm_analysis.stats.disclosure`).

Data is text, never markup. A facility, ward, office or station name comes from an input file or
a parameter and may hold ``<script>``, ``[x](javascript:…)`` or ``**``; every helper here shows it
as the characters it is:

- prose with values: ``report.md("{ward}の受診率は{rate:.1f}%です。", ward=name, rate=r)`` — the
  template is the author's Markdown, each value is formatted with its spec and then escaped
  (:func:`text`), so it can neither open a tag nor start a link, list, heading or emphasis;
  ``report.bullets([...], **values)`` does the same per item, :func:`fmt` returns the text;
- tables (:func:`table`, :func:`searchable_table`), KPI tiles, the banner and the logic model
  HTML-escape every cell, label and value.

The renderer (:mod:`ebpm_analysis.pipeline.render`) sanitises the final page as a second line.

Disclosure: :func:`table`, :func:`searchable_table` and :func:`kpis` take ``kinds`` (what each column
is: ``{"受診児数": D.PERSONS, "有病者率": D.rate("有病者数")}`` with ``D`` =
:mod:`ebpm_analysis.stats.disclosure`) and keep the table's data and kinds in the executed notebook
(mime type :data:`TABLE_MIME`, dropped by the renderer), where ``ebpm audit`` reads what the report shows.
"""

from __future__ import annotations

import html
import re
import string
from pathlib import Path

import pandas as pd
from IPython.display import HTML, Markdown, display
from pandas.io.formats.style import Styler

from .audience import AUDIENCES, INTERNAL_MARK, is_internal  # noqa: F401  (notebooks: report.is_internal)
from .mime import FIGURE_MIME, KPI_MIME, TABLE_MIME  # noqa: F401  (report.TABLE_MIME, …)
from .provenance import data_nature, recorded_inputs

NATURE_TEXT = {
    "real": ("real", "実データ", "この報告書は公開されている実データに基づきます。"),
    "synthetic": ("synthetic", "合成データ",
                  "この報告書の数値は、公表統計に合わせて調整した<strong>合成データ</strong>によるもので、"
                  "実在の個人・施設・事案を表しません。手法と読み方の例示です。"),
    "mixed": ("mixed", "実データ＋合成データ",
              "この報告書は実データと<strong>合成データ</strong>を組み合わせています。"
              "どの図表がどちらに基づくかは各図の出典欄を参照してください。"),
}


# TABLE_MIME (a report table's data and column kinds), FIGURE_MIME (a figure's recorded data and key numbers) and
# KPI_MIME (a logic model's KPI rows) travel in the executed notebook; defined in ebpm_analysis.mime, imported above.


def _audit_payload(df: pd.DataFrame, caption, kinds) -> dict:
    """The table as shown (rows, columns) with its declaration, for ``ebpm audit``."""
    import json

    from .stats.disclosure import Schema
    frame = df.copy()
    frame.columns = [str(c) for c in frame.columns]
    decl = Schema.of(kinds or {}).to_json(frame.columns)
    data = json.loads(frame.to_json(orient="split", index=False, date_format="iso", default_handler=str))
    return {"caption": None if caption is None else str(caption), **decl,
            "columns": data["columns"], "rows": data["data"]}


def _show(html_text: str, df: pd.DataFrame, caption, kinds) -> None:
    display({"text/html": html_text, TABLE_MIME: _audit_payload(df, caption, kinds)}, raw=True)


def banner(nature: str | None = None, detail: str = "") -> None:
    """Show the real/synthetic label at the top of a report.

    ``nature`` defaults to what the loaders recorded so far ('real', 'synthetic', 'mixed').
    """
    nature = nature or data_nature(recorded_inputs())
    if nature not in NATURE_TEXT:
        raise ValueError(f"nature must be one of {sorted(NATURE_TEXT)}, not {nature!r}")
    cls, label, text = NATURE_TEXT[nature]
    extra = f"<br>{html.escape(str(detail))}" if detail else ""
    display(HTML(f'<div class="ebpm-banner ebpm-{cls}" data-nature="{cls}">'
                 f'<span class="ebpm-badge">{label}</span> {text}{extra}</div>'))


def p_value(value) -> str:
    """A p-value as a report shows it: ``<0.001`` below 0.001, else three decimals (``0.042``); ``—`` when
    missing. (04 printed ``3.7e-113``.)"""
    if value is None or pd.isna(value):
        return "—"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def p_text(value) -> str:
    """A p-value in a sentence: ``p < 0.001``, ``p = 0.004``, ``p = 0.74`` (07 wrote ``p = 1.9e-05``)."""
    if value < 0.001:
        return "p < 0.001"
    return f"p = {value:.3f}" if value < 0.01 else f"p = {value:.2f}"


def percent(value, digits: int = 1) -> str:
    """A value already in percent as text (``12.3%``); ``—`` when missing or suppressed."""
    return "—" if value is None or pd.isna(value) else f"{value:.{digits}f}%"


# Every ASCII punctuation character that can start or end Markdown syntax (CommonMark allows a
# backslash before any ASCII punctuation); '&' and ';' stay as they are because html.escape has
# already turned '<', '>' and '&' into entities, which Markdown shows as the characters.
_MD_PUNCT = re.compile(r"([\\`*_{}\[\]()#+\-.!|~$\"'=:^])")


class MdText(str):
    """Markdown that is already safe (built by :func:`fmt`); not escaped again when nested."""


def text(value) -> MdText:
    """A data value as Markdown text: HTML-escaped, Markdown punctuation backslash-escaped and
    line breaks turned into spaces, so the value reads as itself and never as markup."""
    if isinstance(value, MdText):
        return value
    s = re.sub(r"[\r\n\t]+", " ", str(value))
    return MdText(_MD_PUNCT.sub(r"\\\1", html.escape(s, quote=False)))


class _EscapingFormatter(string.Formatter):
    def format_field(self, value, format_spec):
        if isinstance(value, MdText):
            return value
        return text(format(value, format_spec))

    def convert_field(self, value, conversion):
        return value if conversion is None else super().convert_field(value, conversion)


_FORMATTER = _EscapingFormatter()


def fmt(template: str, /, *args, **values) -> MdText:
    """Markdown from an author's template and data values: ``fmt("**{name}**：{n:,}件", name=x, n=3)``.

    ``{field:spec}`` formats as :meth:`str.format` does, then escapes the result with :func:`text`.
    A value that is itself a :class:`MdText` (from an inner ``fmt``) is inserted as it is."""
    return MdText(_FORMATTER.vformat(template, args, values))


def md(template: str, /, *args, **values) -> None:
    """Display Markdown prose written from computed numbers.

    With values, ``template`` is formatted by :func:`fmt` (values escaped):
    ``report.md("{ward}は{rate:.1f}%", ward=name, rate=r)``. Without values the text is shown as
    given (older notebooks pass f-strings; the renderer's sanitiser still removes any markup
    that could run)."""
    display(Markdown(fmt(template, *args, **values) if (args or values) else template))


def bullets(items, /, **values) -> None:
    """A Markdown bullet list; with values each item is a :func:`fmt` template."""
    lines = [i if isinstance(i, MdText) or not values else fmt(i, **values) for i in items]
    display(Markdown("\n".join(f"- {i}" for i in lines)))


def table(df: pd.DataFrame, caption: str | None = None, *, index: bool = False, max_rows: int = 60,
          float_format: str = "{:,.1f}", int_format: str = "{:,}", na_rep: str = "—", kinds=None) -> None:
    """Show an aggregated table as clean HTML: thousands separators, NA as '—', numbers right-aligned.

    ``kinds``: {column: kind} (or a Schema) of the columns as shown, for the disclosure audit."""
    if len(df) > max_rows:
        df = df.head(max_rows)
        caption = (caption or "") + f"（上位{max_rows}行）"
    if index:
        df = df.reset_index()
    formats, numeric = {}, []
    shown = df
    df = df.copy()
    for c in df.columns:
        if pd.api.types.is_bool_dtype(df[c]):
            continue
        if pd.api.types.is_integer_dtype(df[c]):
            formats[c] = lambda v, f=int_format: na_rep if pd.isna(v) else f.format(int(v))
            numeric.append(c)
        elif pd.api.types.is_float_dtype(df[c]):
            formats[c] = lambda v, f=float_format: na_rep if pd.isna(v) else f.format(v)
            numeric.append(c)
        elif df[c].dtype == object:
            # Styler escapes str cells only: any other object is shown through its str(), escaped too
            df[c] = df[c].map(lambda v: v if v is None or isinstance(v, str) or _isna(v) else str(v))
    classes = pd.DataFrame("", index=df.index, columns=df.columns)
    for c in numeric:
        classes[c] = "ebpm-num"
    for c in df.columns:   # short labels (区名, 分類) and codes (メッシュコード) stay on one line; long text wraps
        if c not in numeric and (df[c].map(lambda v: len(str(v)) if isinstance(v, str) else 0).max() <= SHORT_TEXT
                                 or df[c].map(_is_code).all()):
            classes[c] = "ebpm-short"
    styler = (Styler(df, cell_ids=False).hide(axis="index")
              .format(formats, na_rep=na_rep, escape="html")
              .format_index(escape="html", axis=1)
              .set_td_classes(classes)
              .set_table_attributes('class="ebpm-table"'))
    body = styler.to_html()
    cap = f'<div class="ebpm-table-caption">{html.escape(str(caption))}</div>' if caption else ""
    # the rule also lives in report.css; here it serves the notebook view (the renderer drops <style>)
    _show(f'<style>{_NUM_CSS}</style><div class="ebpm-table-wrap">{cap}{body}</div>', shown, caption, kinds)


_NUM_CSS = ".ebpm-table td.ebpm-num{text-align:right}.ebpm-table td.ebpm-short{white-space:nowrap}"
#: Text columns whose longest value has at most this many characters are kept on one line.
SHORT_TEXT = 10


def _is_code(v) -> bool:
    """A code a reader copies whole: digits only, at most 16 (03's 11-digit mesh codes were broken in two)."""
    return isinstance(v, str) and v.isdigit() and len(v) <= 16


def _isna(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def kpis(items: dict[str, str], *, kinds=None) -> None:
    """A row of headline numbers: {label: formatted value} (both shown as text, escaped).

    ``kinds``: {label: kind} for the disclosure audit (values are read as the number they start with)."""
    cells = "".join(f'<div class="ebpm-kpi"><div class="ebpm-kpi-value">{html.escape(str(v))}</div>'
                    f'<div class="ebpm-kpi-label">{html.escape(str(k))}</div></div>' for k, v in items.items())
    _show(f'<div class="ebpm-kpis">{cells}</div>', pd.DataFrame([{str(k): str(v) for k, v in items.items()}]),
          "KPI", kinds)


# The search box's script. The renderer drops every script a notebook output carries and adds this
# one file itself (pipeline/templates/search.js, trusted furniture) when the page has a search box;
# the inline copy below serves the notebook view only.
SEARCH_JS_FILE = Path(__file__).parent / "pipeline" / "templates" / "search.js"
_TABLE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


def searchable_table(df: pd.DataFrame, table_id: str, caption: str | None = None,
                     placeholder: str = "検索（例: 文字コード、区、コード）", *, kinds=None) -> None:
    """A table with a search box that filters rows in the browser (plain JS, works offline)."""
    if not _TABLE_ID.match(table_id):
        raise ValueError(f"table_id must be letters, digits, '-' or '_' starting with a letter, not {table_id!r}")
    body = df.to_html(index=False, escape=True, na_rep="", border=0, classes="ebpm-table", table_id=table_id)
    cap = f'<div class="ebpm-table-caption">{html.escape(str(caption))}</div>' if caption else ""
    box = (f'<div class="ebpm-search"><input class="ebpm-search-q" id="{table_id}-q" type="search" '
           f'placeholder="{html.escape(placeholder)}"> '
           f'<span class="ebpm-search-n" id="{table_id}-n">{len(df)} / {len(df)} 行</span></div>')
    _show(f'<div class="ebpm-table-wrap">{cap}{box}'
          f'<div class="ebpm-search-scroll">{body}</div></div>'
          f"<script>{SEARCH_JS_FILE.read_text(encoding='utf-8')}</script>", df, caption, kinds)


def logic_model(stages: dict[str, list[str]], kpis: list[tuple[str, str, str]] | None = None,
                title: str = "ロジックモデル") -> None:
    """Draw a logic model (インプット → 活動 → アウトプット → アウトカム …) as HTML boxes, and a KPI
    table of (indicator, current value computed from the data, how it is measured)."""
    cols = []
    for i, (stage, items) in enumerate(stages.items()):
        lis = "".join(f"<li>{html.escape(str(x))}</li>" for x in items)
        arrow = '<div class="ebpm-lm-arrow">→</div>' if i < len(stages) - 1 else ""
        cols.append(f'<div class="ebpm-lm-stage"><div class="ebpm-lm-head">{html.escape(str(stage))}</div>'
                    f'<ul>{lis}</ul></div>{arrow}')
    kpi_table = ""
    if kpis:
        rows = "".join(f"<tr><td>{html.escape(str(k))}</td>"
                       f"<td class='ebpm-num'><strong>{html.escape(str(v))}</strong></td>"
                       f"<td>{html.escape(str(m))}</td></tr>" for k, v, m in kpis)
        kpi_table = ('<table class="ebpm-table"><tr><th>KPI（指標）</th><th>現状値</th><th>測り方・データ</th></tr>'
                     f'{rows}</table>')
    page = (f'<div class="ebpm-lm"><div class="ebpm-table-caption">{html.escape(title)}</div>'
            f'<div class="ebpm-lm-row">{"".join(cols)}</div>{kpi_table}</div>')
    rows = [{"label": str(k), "value": str(v), "method": str(m)} for k, v, m in kpis or []]
    display({"text/html": page, KPI_MIME: {"title": str(title), "kpis": rows}}, raw=True)
