"""reports/index.html: every report with title, variant, run date, real/synthetic label, status."""

from __future__ import annotations

import html
import json
from pathlib import Path

from ..io.common import atomic_path
from .render import TEMPLATE_DIR

NATURE_LABEL = {"real": "実データ", "synthetic": "合成データ", "mixed": "実＋合成", "none": "—", "": "—"}
STATUS_LABEL = {"ok": "成功", "failed": "失敗（前回の報告書を保持）"}


def write_index(layout) -> Path:
    records = []
    if layout.status_dir.exists():
        for f in sorted(layout.status_dir.glob("*.json")):
            records.append(json.loads(f.read_text(encoding="utf-8")))
    rows = []
    for r in records:
        report = layout.reports_dir / f"{r['stem']}.html"
        link = (f'<a href="{html.escape(report.name)}">{html.escape(r["title"])}</a>' if report.exists()
                else html.escape(r["title"]))
        status = STATUS_LABEL.get(r["status"], r["status"])
        # the error class and where to look; the message itself may quote an input file (see the status file)
        err = f'<div class="err">{html.escape(r.get("error_summary") or "失敗")}</div>' if r.get("error") else ""
        nature = r.get("data_nature", "")
        rows.append(
            f'<tr class="st-{html.escape(r["status"])}">'
            f'<td>{link}<div class="sub">{html.escape(r.get("subtitle", ""))}</div></td>'
            f'<td><code>{html.escape(r["notebook"])}</code></td>'
            f'<td>{html.escape(r.get("city_name") or "")}<div class="sub">{html.escape(r.get("city") or "")}</div></td>'
            f'<td>{html.escape(r["variant"])}</td>'
            f'<td>{html.escape((r.get("last_ok") or r.get("run_at") or "")[:16].replace("T", " "))}</td>'
            f'<td class="nature-{html.escape(nature)}">{NATURE_LABEL.get(nature, nature)}</td>'
            f'<td>{status}{err}</td><td>{(str(r["seconds"]) + " 秒") if r.get("seconds") else "—"}</td></tr>')
    css = (TEMPLATE_DIR / "report.css").read_text(encoding="utf-8")
    page = f"""<!DOCTYPE html>
<html lang="ja"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>報告書一覧 — ebpm-analysis</title>
<style>{css}
.index-table td, .index-table th {{ text-align: left; }}
.index-table td:nth-child(n+4) {{ white-space: nowrap; }}
.index-table .sub {{ color: var(--muted); font-size: .8rem; }}
.index-table .err {{ color: #a40000; font-size: .8rem; }}
.nature-synthetic, .nature-mixed {{ color: var(--syn); font-weight: bold; }}
.nature-real {{ color: var(--real); font-weight: bold; }}
tr.st-failed td {{ background: #fff0f0; }}
</style></head>
<body>
<header class="ebpm-title-block"><h1 class="title">報告書一覧（Reports）</h1>
<p class="subtitle">ebpm-analysis — 熊本市 EBPM 分析ノートブック集。各報告書は外部通信なしで閲覧できます。</p></header>
<div class="ebpm-layout"><main class="ebpm-main">
<p>{len(records)} 件。「合成データ」の報告書は手法の例示であり、実在の個人・施設・事案を表しません。</p>
<table class="index-table">
<tr><th>報告書</th><th>ノートブック</th><th>市区町村</th><th>パラメータ</th><th>実行日時</th><th>データ</th><th>状態</th><th>実行時間</th></tr>
{''.join(rows)}
</table>
</main></div>
<footer class="ebpm-page-footer">再生成: <code>make reports</code>（変更がなければ何もしません）</footer>
</body></html>"""
    out = layout.reports_dir / "index.html"
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out
