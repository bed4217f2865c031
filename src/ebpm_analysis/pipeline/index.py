"""reports/index.html: every report with title, variant, run date, real/synthetic label, status, grouped by
the city it was built for (the default city first; a city with a profile in notebooks/cities says so).
Internal reports (``audience: internal``, 庁内限り) are listed apart, after the public ones, in a section of
their own marked 庁内限り."""

from __future__ import annotations

import html
import json
from pathlib import Path

from .. import audience as A
from ..io.common import atomic_path
from .render import TEMPLATE_DIR

NATURE_LABEL = {"real": "実データ", "synthetic": "合成データ", "mixed": "実＋合成", "none": "—", "": "—"}
STATUS_LABEL = {"ok": "成功", "failed": "失敗（前回の報告書を保持）"}


def _city_key(r: dict) -> str:
    """The 5-digit code a status record was built for ("" when it names none)."""
    return str(r.get("city") or "")


def _row(layout, r: dict) -> str:
    report = layout.reports_dir / f"{r['stem']}.html"
    link = (f'<a href="{html.escape(report.name)}">{html.escape(r["title"])}</a>' if report.exists()
            else html.escape(r["title"]))
    status = STATUS_LABEL.get(r["status"], r["status"])
    # the error class and where to look; the message itself may quote an input file (see the status file)
    err = f'<div class="err">{html.escape(r.get("error_summary") or "失敗")}</div>' if r.get("error") else ""
    nature = r.get("data_nature", "")
    return (
        f'<tr class="st-{html.escape(r["status"])}">'
        f'<td>{link}<div class="sub">{html.escape(r.get("subtitle", ""))}</div></td>'
        f'<td><code>{html.escape(r["notebook"])}</code></td>'
        f'<td>{html.escape(r["variant"])}</td>'
        f'<td>{html.escape((r.get("last_ok") or r.get("run_at") or "")[:16].replace("T", " "))}</td>'
        f'<td class="nature-{html.escape(nature)}">{NATURE_LABEL.get(nature, nature)}</td>'
        f'<td>{status}{err}</td><td>{(str(r["seconds"]) + " 秒") if r.get("seconds") else "—"}</td></tr>')


HEAD = ("<tr><th>報告書</th><th>ノートブック</th><th>パラメータ</th><th>実行日時</th><th>データ</th>"
        "<th>状態</th><th>実行時間</th></tr>")


def _is_internal(r: dict) -> bool:
    """A status record of an internal run (older records without ``audience`` are public)."""
    return r.get("audience") == "internal"


def _city_sections(layout, records: list[dict], level: int, id_prefix: str) -> list[str]:
    """One section per city (the default city first, then by code); reports that name no city last."""
    by_city: dict[str, list[dict]] = {}
    for r in records:
        by_city.setdefault(_city_key(r), []).append(r)
    first = _default_city()
    profiles = _profile_codes()
    order = sorted(by_city, key=lambda c: (c == "", c != first, c))
    sections = []
    for code in order:
        recs = by_city[code]
        name = next((r.get("city_name") for r in recs if r.get("city_name")), "") if code else ""
        heading = f"{html.escape(name)}（{html.escape(code)}）" if code else "市区町村を指定しない報告書"
        if code in profiles:
            heading += f' <span class="sub">都市プロファイル notebooks/cities/{html.escape(code)}.yml</span>'
        rows = "".join(_row(layout, r) for r in sorted(recs, key=lambda r: r["stem"]))
        sections.append(f'<section class="index-city" id="{id_prefix}city-{html.escape(code or "none")}">'
                        f'<h{level}>{heading}</h{level}><p class="sub">{len(recs)} 件</p>'
                        f'<table class="index-table">{HEAD}{rows}</table></section>')
    return sections


def write_index(layout) -> Path:
    """reports/index.html: the public reports, one section per city (the default city first, then by code),
    then, clearly apart, the internal reports (庁内限り) in a section of their own, again by city."""
    records = []
    if layout.status_dir.exists():
        for f in sorted(layout.status_dir.glob("*.json")):
            records.append(json.loads(f.read_text(encoding="utf-8")))
    public = [r for r in records if not _is_internal(r)]
    internal = [r for r in records if _is_internal(r)]
    sections = _city_sections(layout, public, 2, "")
    if internal:
        mark = html.escape(A.INTERNAL_MARK)
        sections.append(
            f'<section class="index-internal" id="internal"><h2><span class="ebpm-badge">{mark}</span>'
            f'{mark}の報告書（職員のみ・公開しない）</h2>'
            f'<p><strong>{len(internal)} 件。これらは{mark}です。</strong>公開用の報告書では秘匿または粗くしている詳細'
            f'（施設別・地点別の少数の件数、正確な位置など）を含みます。庁外へ配布・掲載しないでください'
            f'（ファイル名とタイトルに「{mark}」が付きます）。</p>'
            + "".join(_city_sections(layout, internal, 3, "internal-")) + "</section>")
    count = f"{len(public)} 件（{len({_city_key(r) for r in public if _city_key(r)})} 市区町村）"
    if internal:
        count += f"、ほかに{A.INTERNAL_MARK}の報告書 {len(internal)} 件（末尾に別掲）"
    css = (TEMPLATE_DIR / "report.css").read_text(encoding="utf-8")
    page = f"""<!DOCTYPE html>
<html lang="ja"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>報告書一覧 — ebpm-analysis</title>
<style>{css}
.index-table td, .index-table th {{ text-align: left; }}
.index-table td:nth-child(n+3) {{ white-space: nowrap; }}
.index-table .sub {{ color: var(--muted); font-size: .8rem; }}
.index-table .err {{ color: #a40000; font-size: .8rem; }}
.nature-synthetic, .nature-mixed {{ color: var(--syn); font-weight: bold; }}
.nature-real {{ color: var(--real); font-weight: bold; }}
tr.st-failed td {{ background: #fff0f0; }}
</style></head>
<body>
<header class="ebpm-title-block"><h1 class="title">報告書一覧（Reports）</h1>
<p class="subtitle">ebpm-analysis — 市区町村の EBPM 分析ノートブック集。
各報告書は外部通信なしで閲覧できます。</p></header>
<div class="ebpm-layout"><main class="ebpm-main">
<p>{count}。
市区町村ごとに、その市のために作成した報告書を示します。「合成データ」の報告書は手法の例示であり、実在の個人・施設・事案を表しません。</p>
{''.join(sections)}
</main></div>
<footer class="ebpm-page-footer">再生成: <code>make reports</code>（変更がなければ何もしません）</footer>
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


def _profile_codes() -> set[str]:
    """Codes of the city profiles (notebooks/cities/*.yml); none when a profile cannot be read (the
    index is still written; `ebpm list` and the runs report the bad profile)."""
    from ..errors import EbpmError
    from . import cities
    try:
        return {p.code for p in cities.list_profiles()}
    except EbpmError:
        return set()
