"""Helpers a notebook calls to show things in the house style of the reports.

They only display; they never compute findings. Tables shown to readers must already be
aggregated and disclosure-controlled (see :mod:`ebpm_analysis.stats.disclosure`).
"""

from __future__ import annotations

import html

import pandas as pd
from IPython.display import HTML, Markdown, display

from .provenance import data_nature, recorded_inputs

NATURE_TEXT = {
    "real": ("real", "実データ", "この報告書は公開されている実データに基づきます。"),
    "synthetic": ("synthetic", "合成データ",
                  "この報告書の数値は、公表統計に合わせて調整した<strong>合成データ（synthetic）</strong>によるもので、"
                  "実在の個人・施設・事案を表しません。手法と読み方の例示です。"),
    "mixed": ("mixed", "実データ＋合成データ",
              "この報告書は実データと<strong>合成データ（synthetic）</strong>を組み合わせています。"
              "どの図表がどちらに基づくかは各図の出典欄を参照してください。"),
}


def banner(nature: str | None = None, detail: str = "") -> None:
    """Show the real/synthetic label at the top of a report.

    ``nature`` defaults to what the loaders recorded so far ('real', 'synthetic', 'mixed').
    """
    nature = nature or data_nature(recorded_inputs())
    if nature not in NATURE_TEXT:
        raise ValueError(f"nature must be one of {sorted(NATURE_TEXT)}, not {nature!r}")
    cls, label, text = NATURE_TEXT[nature]
    extra = f"<br>{detail}" if detail else ""
    display(HTML(f'<div class="ebpm-banner ebpm-{cls}" data-nature="{cls}">'
                 f'<span class="ebpm-badge">{label}</span> {text}{extra}</div>'))


def percent(value, digits: int = 1) -> str:
    """A value already in percent as text (``12.3%``); ``—`` when missing or suppressed."""
    return "—" if value is None or pd.isna(value) else f"{value:.{digits}f}%"


def md(text: str) -> None:
    """Display markdown written from computed numbers (f-strings in the notebook)."""
    display(Markdown(text))


def bullets(items) -> None:
    md("\n".join(f"- {i}" for i in items))


def table(df: pd.DataFrame, caption: str | None = None, *, index: bool = False, max_rows: int = 60,
          float_format: str = "{:,.1f}", int_format: str = "{:,}", na_rep: str = "—") -> None:
    """Show an aggregated table as clean HTML: thousands separators, NA as '—', numbers right-aligned."""
    if len(df) > max_rows:
        df = df.head(max_rows)
        caption = (caption or "") + f"（上位{max_rows}行）"
    if index:
        df = df.reset_index()
    fmt, numeric = {}, []
    for c in df.columns:
        if pd.api.types.is_bool_dtype(df[c]):
            continue
        if pd.api.types.is_integer_dtype(df[c]):
            fmt[c] = lambda v, f=int_format: na_rep if pd.isna(v) else f.format(int(v))
            numeric.append(c)
        elif pd.api.types.is_float_dtype(df[c]):
            fmt[c] = lambda v, f=float_format: na_rep if pd.isna(v) else f.format(v)
            numeric.append(c)
    styler = (df.style.hide(axis="index").format(fmt, na_rep=na_rep)
              .set_properties(subset=numeric, **{"text-align": "right"})
              .set_table_attributes('class="ebpm-table"'))
    body = styler.to_html()
    cap = f'<div class="ebpm-table-caption">{html.escape(caption)}</div>' if caption else ""
    display(HTML(f'<div class="ebpm-table-wrap">{cap}{body}</div>'))


def kpis(items: dict[str, str]) -> None:
    """A row of headline numbers: {label: formatted value}."""
    cells = "".join(f'<div class="ebpm-kpi"><div class="ebpm-kpi-value">{html.escape(str(v))}</div>'
                    f'<div class="ebpm-kpi-label">{html.escape(str(k))}</div></div>' for k, v in items.items())
    display(HTML(f'<div class="ebpm-kpis">{cells}</div>'))


_SEARCH_JS = """<script>
(function(){var box=document.getElementById('%(id)s-q');var rows=document.querySelectorAll('#%(id)s tbody tr');
var n=document.getElementById('%(id)s-n');box.addEventListener('input',function(){var q=box.value.trim().toLowerCase();
var k=0;rows.forEach(function(r){var hit=!q||r.textContent.toLowerCase().indexOf(q)>=0;
r.style.display=hit?'':'none';if(hit)k++;});
n.textContent=k+' / '+rows.length+' 行';});})();
</script>"""


def searchable_table(df: pd.DataFrame, table_id: str, caption: str | None = None,
                     placeholder: str = "検索（例: 文字コード、区、コード）") -> None:
    """A table with a search box that filters rows in the browser (inline JS, works offline)."""
    body = df.to_html(index=False, escape=True, na_rep="", border=0, classes="ebpm-table", table_id=table_id)
    cap = f'<div class="ebpm-table-caption">{html.escape(caption)}</div>' if caption else ""
    box = (f'<div class="ebpm-search"><input id="{table_id}-q" type="search" placeholder="{html.escape(placeholder)}" '
           f'style="width:60%;padding:.3rem .5rem;border:1px solid #aab;border-radius:4px"> '
           f'<span id="{table_id}-n" style="color:#667;font-size:.85rem">{len(df)} / {len(df)} 行</span></div>')
    display(HTML(f'<div class="ebpm-table-wrap">{cap}{box}'
                 f'<div style="max-height:520px;overflow:auto">{body}</div></div>'
                 + _SEARCH_JS % {"id": table_id}))


def logic_model(stages: dict[str, list[str]], kpis: list[tuple[str, str, str]] | None = None,
                title: str = "ロジックモデル") -> None:
    """Draw a logic model (インプット → 活動 → アウトプット → アウトカム …) as HTML boxes, and a KPI
    table of (indicator, current value computed from the data, how it is measured)."""
    cols = []
    for i, (stage, items) in enumerate(stages.items()):
        lis = "".join(f"<li>{html.escape(str(x))}</li>" for x in items)
        arrow = '<div class="ebpm-lm-arrow">→</div>' if i < len(stages) - 1 else ""
        cols.append(f'<div class="ebpm-lm-stage"><div class="ebpm-lm-head">{html.escape(stage)}</div>'
                    f'<ul>{lis}</ul></div>{arrow}')
    kpi_table = ""
    if kpis:
        rows = "".join(f"<tr><td>{html.escape(k)}</td>"
                       f"<td style='text-align:right'><strong>{html.escape(v)}</strong></td>"
                       f"<td>{html.escape(m)}</td></tr>" for k, v, m in kpis)
        kpi_table = ('<table class="ebpm-table"><tr><th>KPI（指標）</th><th>現状値</th><th>測り方・データ</th></tr>'
                     f'{rows}</table>')
    display(HTML(f'<div class="ebpm-lm"><div class="ebpm-table-caption">{html.escape(title)}</div>'
                 f'<div class="ebpm-lm-row">{"".join(cols)}</div>{kpi_table}</div>'))
