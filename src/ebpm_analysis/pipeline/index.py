"""reports/index.html: the dashboard a department head opens (issue 14), one self-contained offline page.

For each report a card: theme, title (link), city, labels (実データ / 合成データ / 実データ＋合成データ, 庁内限り),
status (a failed build is marked and keeps its previous report), the headline KPIs with value, unit, as-of date,
the change since the run before and their history as a small inline SVG line (from the KPI register,
:mod:`.kpi`), a small copy of the key figure (embedded), the data's as-of date, the build date and the owning
section (担当課: the city profile's, else the notebook's default role). Filters by theme, city and data nature and a
text search (plain JavaScript in the page, nothing loaded from elsewhere; a Content-Security-Policy forbids it).
Cards are grouped by the city they were built for (the default city first). Internal reports (庁内限り) are listed
apart, after the public ones, in a section of their own and without KPI values: the register keeps internal KPIs
flagged internal, and they never appear on this page. At the end: the KPI definitions of every theme.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
import math
import re
import urllib.parse
from pathlib import Path

from .. import audience as A
from ..io.common import atomic_path
from .downloads import folder_name
from .render import TEMPLATE_DIR

NATURE_LABEL = {"real": "実データ", "synthetic": "合成データ", "mixed": "実データ＋合成データ", "none": "—", "": "—"}
STATUS_LABEL = {"ok": "成功", "failed": "失敗（前回の報告書を表示）"}
THUMB_WIDTH = 360   # px of the key figure's copy on a card (shown at half that width or less)


# --- what a run leaves for the card ------------------------------------------------------------------------

def write_thumbnail(nb, key_figure: str, out: Path) -> Path | None:
    """A small PNG of the executed notebook's key figure (the cell labelled ``key_figure``; else its first
    figure) at ``out``; None when the report has no figure. Matplotlib's PNGs are reduced with Pillow (a
    dependency of matplotlib) and quantised to 64 colours to stay a few tens of kB inside the page."""
    from PIL import Image
    data = None
    for want_label in ((key_figure,) if key_figure else ()) + ("",):
        for cell in nb.cells:
            if cell.cell_type != "code" or (want_label and f"#| label: {want_label}" not in cell.source):
                continue
            png = next((o["data"]["image/png"] for o in cell.get("outputs", []) if "image/png" in o.get("data", {})),
                       None)
            if png:
                data = png
                break
        if data:
            break
    if not data:
        return None
    img = Image.open(io.BytesIO(base64.b64decode(data if isinstance(data, str) else "".join(data))))
    img = img.convert("RGB")
    img.thumbnail((THUMB_WIDTH, THUMB_WIDTH))
    img = img.quantize(colors=64)
    with atomic_path(out) as tmp:
        img.save(tmp, format="PNG", optimize=True)
    return out


# --- pieces of a card --------------------------------------------------------------------------------------

def _num(v: float, decimals: int | None = None) -> str:
    """A KPI value as the report writes it: thousands separators and its number of decimals (else none needless)."""
    if decimals is not None:
        return f"{v:,.{decimals}f}"
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.10g}"


def sparkline(points: list[tuple[str, float]], unit: str, width: int = 96, height: int = 26,
              decimals: int | None = None) -> str:
    """An inline SVG line of a KPI's registered values (oldest first), with the last value dotted; a title
    lists the values for screen readers and a hover. Hand-written: a few lines of SVG need no charting library."""
    pts = [(t, v) for t, v in points if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not pts:
        return ""
    lo, hi = min(v for _, v in pts), max(v for _, v in pts)
    span = (hi - lo) or 1.0
    n = len(pts)

    def xy(i, v):
        x = 3 + (width - 6) * (i / (n - 1) if n > 1 else 0.5)
        y = height - 3 - (height - 6) * ((v - lo) / span if hi > lo else 0.5)
        return f"{x:.1f},{y:.1f}"
    coords = [xy(i, v) for i, (_, v) in enumerate(pts)]
    label = "、".join(f"{t[:10]} {_num(v, decimals)}{unit}" for t, v in pts)
    line = (f'<polyline points="{" ".join(coords)}" fill="none" stroke="#1f5a96" stroke-width="1.6"/>'
            if n > 1 else "")
    lx, ly = coords[-1].split(",")
    return (f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="推移 {n}回：{html.escape(label)}" data-points="{n}">'
            f'<title>推移（{n}回）：{html.escape(label)}</title>{line}'
            f'<circle cx="{lx}" cy="{ly}" r="2.6" fill="#1f5a96"/></svg>')


def _trend(value, previous, good: str, unit: str, decimals: int | None = None) -> str:
    """The change since the run before, in words and an arrow (not colour alone): 改善 / 悪化 / 変化 / 横ばい."""
    if value is None or previous is None or any(isinstance(x, float) and math.isnan(x) for x in (value, previous)):
        return '<span class="trend trend-none">前回の値なし</span>'
    d = value - previous
    if abs(d) < 1e-12:
        return '<span class="trend trend-flat">→ 前回と同じ</span>'
    arrow = "▲" if d > 0 else "▼"
    if good == "none":
        word, cls = "変化", "trend-neutral"
    else:
        better = (d > 0) == (good == "up")
        word, cls = ("改善", "trend-better") if better else ("悪化", "trend-worse")
    sign = "+" if d > 0 else "−"
    step = "ポイント" if unit == "%" else unit   # the change of a percentage is in points
    change = f"{sign}{_num(abs(d), decimals)}{html.escape(step)}"
    return f'<span class="trend {cls}">{arrow} 前回比 {change}（{word}）</span>'


def _history(register: Path | None) -> dict[tuple[str, str], list[tuple[str, float, str]]]:
    """(stem, kpi_id) → [(run_at, value, run_id)] of the public register rows, oldest first."""
    from . import kpi
    if register is None or not Path(register).exists():
        return {}
    df = kpi.read(register, audience="public")
    out: dict = {}
    for r in df.itertuples():
        out.setdefault((r.stem, r.kpi_id), []).append((r.run_at, r.value, r.run_id))
    return out


def _kpi_items(r: dict, history: dict) -> str:
    kpis = r.get("kpis") or []
    heads = [k for k in kpis if k.get("headline")] or kpis[:3]
    items = []
    for k in heads:
        series = history.get((r["stem"], k["kpi_id"]), [])
        # the change since the register entry before this run's (the run's own entry is the last one)
        ids = [run_id for _, _, run_id in series]
        pos = ids.index(r.get("kpi_run_id")) if r.get("kpi_run_id") in ids else len(series)
        before = next((v for _, v, _ in reversed(series[:pos]) if v is not None and not math.isnan(v)), None)
        value = k.get("value")
        dec = k.get("decimals")
        shown = (f'<span class="kpi-value">{_num(value, dec)}<span class="unit">{html.escape(k["unit"])}</span></span>'
                 if value is not None else f'<span class="kpi-value kpi-na">{html.escape(k.get("value_text") or "—")}'
                 '</span>')
        items.append(
            f'<li class="kpi" data-kpi="{html.escape(k["kpi_id"])}">'
            f'<div class="kpi-name">{html.escape(k["name"])}</div>'
            f'<div class="kpi-row">{shown}'
            f'{sparkline([(t, v) for t, v, _ in series[:pos + 1]], k["unit"], decimals=dec)}</div>'
            # a KPI without a value has no change and no data date (船橋市's card said データなし, then
            # 前回の値なし and データ時点 2021-12-31)
            + (f'<div class="kpi-meta">{_trend(value, before, k["good"], k["unit"], dec)}'
               f'<span class="kpi-asof">データ時点 {html.escape(k.get("as_of") or "—")}</span></div>'
               if value is not None else "")
            + '</li>')
    return f'<ul class="kpis">{"".join(items)}</ul>' if items else ""


def _thumb(layout, r: dict) -> str:
    name = r.get("thumbnail")
    f = layout.build_dir / "thumbs" / str(name) if name else None
    if not f or not f.is_file():
        return '<div class="thumb thumb-none">図なし</div>'
    b64 = base64.b64encode(f.read_bytes()).decode()
    return (f'<img class="thumb" src="data:image/png;base64,{b64}" '
            f'alt="{html.escape(r.get("title") or r["stem"])}の代表的な図（縮小）">')


def _filled(text: str | None) -> str:
    """A title or subtitle without the notebook's template placeholders (``{{city_name}}``, ``{{data_label}}``),
    which a run refused before it started still carries."""
    return re.sub(r"\s*(?:—\s*)?\{\{[^}]*\}\}\s*", " ", text or "").strip()


def _run_conditions(r: dict) -> str:
    """How the run was asked for, in words: parameter set, city, changed parameters (from its command)."""
    parts = ["既定のパラメータ" if (r.get("variant") or "default") == "default" else f"パラメータ集「{r['variant']}」"]
    if r.get("city"):
        parts.append(f"市区町村コード {r['city']}")
    overrides = [w for w in str(r.get("command") or "").split(" -p ")[1:]]
    if overrides:
        parts.append("変更したパラメータ " + "、".join(o.split(" ")[0] for o in overrides))
    return "・".join(parts)


def _failure(r: dict, has_report: bool) -> str:
    """What a failed build's card says: which notebook with which parameters, the error's first line, where its
    record is, and the command that runs it again."""
    rows = [("ノートブック", html.escape(r.get("notebook") or r["stem"])),
            ("条件", html.escape(_run_conditions(r))),
            ("エラー", html.escape(r.get("error_line") or r.get("error_summary") or "—")),
            ("記録", f'<code>{html.escape(r.get("log") or "build/status/" + r["stem"] + ".json")}</code>')]
    if r.get("command"):
        rows.append(("再実行", f'<code>{html.escape(r["command"])}</code>'))
    items = "".join(f"<div><dt>{k}</dt><dd>{v}</dd></div>" for k, v in rows)
    kept = "リンク先は最後に成功した回の報告書です" if has_report else "成功した回がないため報告書はありません"
    return (f'<div class="err"><p><strong>最新の作成に失敗しました</strong>（{kept}）。</p>'
            f'<dl class="err-facts">{items}</dl></div>')


def _when(s: str | None) -> str:
    return (s or "")[:16].replace("T", " ") or "—"


def _card(layout, r: dict, history: dict, themes: dict, internal: bool) -> str:
    theme = r.get("theme") or getattr(themes.get(r.get("notebook")), "theme", "") or "その他"
    dept = r.get("department") or getattr(themes.get(r.get("notebook")), "department", "") or "未設定"
    nature = r.get("data_nature", "") or ""
    report = layout.reports_dir / f"{r['stem']}.html"
    title = html.escape(_filled(r.get("title")) or r["stem"])
    link = f'<a class="report-link" href="{html.escape(report.name)}">{title}</a>' if report.exists() else title
    failed = r.get("status") == "failed"
    status = STATUS_LABEL.get(r.get("status", ""), r.get("status", ""))
    if failed and not report.exists():
        status = "失敗（報告書なし）"
    err = _failure(r, report.exists()) if failed else ""
    mark = html.escape(A.INTERNAL_MARK)
    badges = (f'<span class="badge nature nature-{html.escape(nature)}">{NATURE_LABEL.get(nature, html.escape(nature))}'
              f'</span>' + (f'<span class="badge internal">{mark}</span>' if internal else "")
              + ('<span class="badge custom">設定外の条件による試算</span>' if _is_custom(r) else "")
              + f'<span class="badge st st-{html.escape(r.get("status", ""))}">{html.escape(status)}</span>')
    kpis = ('<p class="kpi-note">KPI の値は報告書本文を参照してください（この一覧には載せません）。</p>' if internal
            else _kpi_items(r, history))
    book = f"{folder_name(r['stem'])}/{r['stem']}.xlsx"   # the report's tables as one workbook (downloads.py)
    dl = (f'<p class="dl"><a class="dl-link" href="{html.escape(urllib.parse.quote(book))}">'
          f'報告書の表をダウンロード（Excel）</a></p>' if (layout.reports_dir / book).is_file() else "")
    # an internal report's figures may show what only staff may see (facility points, small counts): no copy here
    thumb = '<div class="thumb thumb-none">図は報告書を参照</div>' if internal else _thumb(layout, r)
    city = r.get("city_name") or r.get("city") or "市区町村の指定なし"
    as_of = r.get("as_of") or max((k.get("as_of") or "" for k in r.get("kpis") or []), default="") or "—"
    nature_key = "internal" if internal else (nature or "none")
    search = " ".join([r.get("title") or "", r.get("subtitle") or "", theme, city, dept, NATURE_LABEL.get(nature, ""),
                       *(k["name"] for k in r.get("kpis") or [] if not internal)])
    return (
        f'<article class="card{" card-failed" if failed else ""}" data-theme="{html.escape(theme)}" '
        f'data-city="{html.escape(r.get("city") or "")}" data-nature="{html.escape(nature_key)}" '
        f'data-search="{html.escape(search.lower())}">'
        f'<div class="card-top"><span class="theme">{html.escape(theme)}</span>{badges}</div>'
        f'<h3 class="card-title">{link}</h3>'
        f'<p class="sub">{html.escape(_filled(r.get("subtitle")))}</p>{err}{dl}'
        f'<div class="card-body">{thumb}{kpis}</div>'
        f'<dl class="facts"><div><dt>市区町村</dt><dd>{html.escape(city)}</dd></div>'
        f'<div><dt>データ時点</dt><dd>{html.escape(as_of)}</dd></div>'
        f'<div><dt>作成日</dt><dd>{html.escape(_when(r.get("last_ok") or r.get("run_at")))}</dd></div>'
        f'<div><dt>担当課</dt><dd>{html.escape(dept)}</dd></div></dl></article>')


# --- the page ----------------------------------------------------------------------------------------------

def _city_name(code: str) -> str:
    """The name of a city code from the bundled boundaries, for a report whose runs all failed before naming it."""
    from ..errors import EbpmError
    from ..geo import city_name
    from ..provenance import suspended
    try:
        with suspended():
            return city_name(code)
    except EbpmError:
        return ""


def _city_key(r: dict) -> str:
    """The 5-digit code a status record was built for ("" when it names none)."""
    return str(r.get("city") or "")


def _is_custom(r: dict) -> bool:
    """A run with parameters given on the command line (``-p``): not a configured report (``…--custom-<hash>``)."""
    return "--custom-" in str(r.get("stem", ""))


def _is_internal(r: dict) -> bool:
    """A status record of an internal run (older records without ``audience`` are public)."""
    return r.get("audience") == "internal"


def _city_sections(layout, records: list[dict], history, themes, level: int, id_prefix: str,
                   internal: bool, first: str) -> list[str]:
    """One section of cards per city (the default city first, then by code); reports that name no city last."""
    by_city: dict[str, list[dict]] = {}
    for r in records:
        if _city_key(r) and not r.get("city_name"):
            r["city_name"] = _city_name(_city_key(r))
        by_city.setdefault(_city_key(r), []).append(r)
    order = sorted(by_city, key=lambda c: (c == "", c != first, c))
    sections = []
    for code in order:
        recs = by_city[code]
        name = next((r.get("city_name") for r in recs if r.get("city_name")), "") if code else ""
        heading = f"{html.escape(name)}（{html.escape(code)}）" if code else "市区町村を指定しない報告書"
        cards = "".join(_card(layout, r, history, themes, internal) for r in sorted(recs, key=lambda r: r["stem"]))
        sections.append(f'<section class="index-city" id="{id_prefix}city-{html.escape(code or "none")}">'
                        f'<h{level}>{heading}</h{level}><p class="sub">{len(recs)} 件</p>'
                        f'<div class="cards">{cards}</div></section>')
    return sections


def _definitions(themes: dict) -> str:
    """The KPI definitions of every theme: name, unit, formula, data source, direction of good."""
    from .kpi import GOOD
    parts = []
    for t in themes.values():
        rows = "".join(f"<tr><td>{html.escape(d.name)}</td><td>{html.escape(d.unit)}</td>"
                       f"<td>{html.escape(d.formula)}</td><td>{html.escape(d.source)}</td>"
                       f"<td>{html.escape(GOOD[d.good])}</td></tr>" for d in t.kpis)
        parts.append(f'<details class="kpi-defs" data-theme="{html.escape(t.theme)}"><summary>{html.escape(t.theme)}'
                     f'（{len(t.kpis)} 指標）</summary><table><tr><th>KPI</th><th>単位</th><th>計算方法</th>'
                     f'<th>データ</th><th>良い方向</th></tr>{rows}</table></details>')
    return ('<section class="index-defs" id="kpi-definitions"><h2>KPI の定義</h2>'
            '<p>各 KPI の単位・計算方法・データ・良い方向（値が高いほど良いか低いほど良いか）。'
            '「前回比」はこの方向で改善・悪化を判定します。</p>' + "".join(parts) + "</section>") if parts else ""


def _options(values: dict[str, str], all_label: str) -> str:
    opts = "".join(f'<option value="{html.escape(k)}">{html.escape(v)}</option>' for k, v in values.items())
    return f'<option value="">{html.escape(all_label)}</option>{opts}'


def write_index(layout, *, themes_dir: Path | None = None) -> Path:
    """reports/index.html (the dashboard) from the build's status records, the KPI register and the KPI
    definitions."""
    from ..errors import EbpmError
    from . import kpi
    records = []
    if layout.status_dir.exists():
        for f in sorted(layout.status_dir.glob("*.json")):
            records.append(json.loads(f.read_text(encoding="utf-8")))
    try:
        themes = {t.notebook: t for t in kpi.list_themes(themes_dir)}
    except EbpmError:   # a bad definitions file: the runs say which; the index is still written
        themes = {}
    history = _history(layout.register_path)
    custom = [r for r in records if _is_custom(r) and not _is_internal(r)]
    public = [r for r in records if not _is_internal(r) and not _is_custom(r)]
    internal = [r for r in records if _is_internal(r)]
    first = _default_city()
    sections = _city_sections(layout, public, history, themes, 2, "", False, first)
    mark = html.escape(A.INTERNAL_MARK)
    if custom:
        sections.append(
            '<section class="index-custom" id="custom"><h2>設定外の条件による試算</h2>'
            f'<p><strong>{len(custom)} 件。</strong>パラメータを個別に変えて作成した試算です'
            '（構成ファイルにある報告書ではありません）。'
            '上の報告書と数値が異なることがあります。条件は各報告書の来歴に記録されています。</p>'
            + "".join(_city_sections(layout, custom, history, themes, 3, "custom-", False, first)) + "</section>")
    if internal:
        sections.append(
            f'<section class="index-internal" id="internal"><h2><span class="ebpm-badge">{mark}</span>'
            f'{mark}の報告書（職員のみ・公開しない）</h2>'
            f'<p><strong>{len(internal)} 件。これらは{mark}です。</strong>公開用の報告書では秘匿または粗くしている詳細'
            f'（施設別・地点別の少数の件数、正確な位置など）を含みます。庁外へ配布・掲載しないでください'
            f'（ファイル名とタイトルに「{mark}」が付きます）。</p>'
            + "".join(_city_sections(layout, internal, history, themes, 3, "internal-", True, first)) + "</section>")
    count = f"{len(public)} 件（{len({_city_key(r) for r in public if _city_key(r)})} 市区町村）"
    if custom:
        count += f"、ほかに設定外の条件による試算 {len(custom)} 件（別掲）"
    if internal:
        count += f"、ほかに{A.INTERNAL_MARK}の報告書 {len(internal)} 件（末尾に別掲）"
    theme_names = sorted({r.get("theme") or getattr(themes.get(r.get("notebook")), "theme", "") or "その他"
                          for r in records})
    cities = {}
    for r in sorted(records, key=lambda r: (_city_key(r) != first, _city_key(r))):
        if _city_key(r):
            cities.setdefault(_city_key(r), r.get("city_name") or _city_key(r))
    natures = {k: NATURE_LABEL[k] for k in ("real", "synthetic", "mixed")
               if any((r.get("data_nature") == k) for r in public)}
    if internal:
        natures["internal"] = A.INTERNAL_MARK
    built = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M")
    css = (TEMPLATE_DIR / "report.css").read_text(encoding="utf-8")
    dash_css = (TEMPLATE_DIR / "dashboard.css").read_text(encoding="utf-8")
    dash_js = (TEMPLATE_DIR / "dashboard.js").read_text(encoding="utf-8")
    csp = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
           "base-uri 'none'; form-action 'none'")
    page = f"""<!DOCTYPE html>
<html lang="ja"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<title>EBPM 分析ダッシュボード</title>
<style>{css}
{dash_css}</style></head>
<body>
<header class="ebpm-title-block"><h1 class="title">EBPM 分析ダッシュボード</h1>
<p class="subtitle">テーマごとの報告書と主な指標（KPI）の一覧です。各報告書は外部通信なしで閲覧できます。</p>
<p class="date">この一覧の作成：{built}</p></header>
<div class="dash">
<form class="filters" id="filters" role="search" onsubmit="return false">
<label>テーマ <select id="f-theme">{_options({t: t for t in theme_names}, "すべてのテーマ")}</select></label>
<label>市区町村 <select id="f-city">{_options(cities, "すべての市区町村")}</select></label>
<label>データの種別 <select id="f-nature">{_options(natures, "すべての種別")}</select></label>
<label class="q">検索 <input id="f-q" type="search" placeholder="報告書名・指標・担当課など"></label>
<span class="count" id="f-count" aria-live="polite"></span>
</form>
<p>{count}。市区町村ごとに、その市のために作成した報告書を示します。「合成データ」の報告書は手法の例示であり、
実在の個人・施設・事案を表しません。KPI の「前回比」は同じ報告書の前回の作成時の値との差です。</p>
<p class="none" id="f-none" hidden>条件に合う報告書はありません。</p>
{''.join(sections)}
{_definitions(themes)}
</div>
<footer class="ebpm-page-footer">報告書を作成するたびにこの一覧も更新されます。</footer>
<script>{dash_js}</script>
</body></html>"""
    out = layout.reports_dir / "index.html"
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out


def _default_city() -> str:
    """The notebooks' default city (the first section of the index)."""
    from . import params as P
    for name in P.list_notebooks():
        spec = P.inspect_parameters(P.notebook_path(name))
        if "city_code" in spec:
            return str(spec["city_code"].default)
    return ""
