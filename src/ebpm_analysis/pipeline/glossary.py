"""用語 (glossary): a short plain-language definition of every statistical or technical term a report uses.

Department heads read the reports (issue 14: 「Beta(7.3,31.6)、φ、シルエット係数、擬似R² … with no
explanation」). Rather than each notebook keeping its own list, the pipeline looks for the terms below in
the report's text and appends a 用語 section listing only those it found, before the provenance. One list
for every report, so a term is explained the same way everywhere. The definitions are ours, written for
this project.
"""

from __future__ import annotations

import html
import re

#: (term as shown, patterns that mean the term is used, definition). Order = order in the section.
TERMS: list[tuple[str, tuple[str, ...], str]] = [
    ("95%信頼区間（95%区間）", ("信頼区間", "95%区間"),
     "推定値の不確かさの幅。同じ方法で何度も調べると、およそ95%の場合に真の値がこの幅に入ります。"
     "幅が広いほど、データが少ないなどで値が定まっていないことを示します。"),
    ("Wilson 法", ("Wilson",),
     "割合の信頼区間の計算方法の一つ。件数が少ないときや割合が0%・100%に近いときにも幅が適切になります。"),
    ("ブートストラップ（BCa 法）", ("ブートストラップ", "BCa", "再標本化"),
     "手元のデータから無作為に選び直す操作を何度も繰り返し、推定値のばらつきから区間を求める方法。"
     "同じ児童・同じ日の記録のように互いに似た記録は、まとまり（クラスター）ごとに選び直します。"),
    ("ポアソン回帰・負の二項回帰", ("ポアソン", "負の二項"),
     "件数（0, 1, 2 …）を、曜日・月・天候などの要因で説明する回帰モデル。"
     "係数は「件数が何倍になるか」（率比）で読みます。"
     "負の二項回帰は、件数の日ごとのばらつきがポアソン分布より大きい（過分散）ときに使います。"),
    ("過分散", ("過分散",), "件数のばらつきが、偶然だけで生じる程度（ポアソン分布）より大きいこと。"),
    ("率比（倍率）", ("率比", "倍率"), "ある条件のときの件数や率が、基準の条件の何倍かを示す値。"
     "1.2 なら 20% 多いことを意味します。"),
    ("オッズ比・ロジスティック回帰", ("オッズ比", "ロジスティック"),
     "「あり・なし」の結果（むし歯の有無など）を要因で説明する回帰モデルがロジスティック回帰で、"
     "要因があるときに「ありの起こりやすさ（オッズ）」が何倍になるかがオッズ比です。"),
    ("決定係数（R²）・擬似R²", ("決定係数", "擬似R²", "R²"),
     "モデルがデータの変動をどれだけ説明できているかの目安（0〜1、1に近いほど説明できている）。"
     "擬似R²は、ロジスティック回帰など件数や有無のモデルで使う類似の指標で、値は小さめに出ます。"),
    ("経験ベイズ（EB）・平滑化", ("経験ベイズ", "EB平滑化"),
     "対象者の少ない施設や区域の率は偶然で大きく振れるため、全体の率に近づける方向へ補正する方法。"
     "データが多い所ほど元の率に近く、少ない所ほど全体の率に近くなります。"),
    ("Beta 分布（事前分布）", ("Beta(", "ベータ分布"),
     "割合がとりうる値の分布。経験ベイズでは、施設ごとの率がどの程度ばらつくかを、"
     "市全体のデータから Beta(a, b) として求め、"
     "補正の強さを決めます（平均は a ÷ (a + b)）。"),
    ("ファンネルプロット", ("ファンネル",),
     "施設ごとの率を対象者数に対して描き、偶然で生じる範囲（じょうご形の管理限界）を重ねた図。"
     "範囲の外の施設だけが、偶然では説明しにくい差を持ちます。"),
    ("Gi*（ホットスポット分析）", ("Gi*",),
     "ある場所とその周囲の値がまとまって高い（または低い）かを調べる指標（Getis–Ord Gi*）。"
     "周囲も含めて高い場所を「ホットスポット」と呼びます。"),
    ("多重比較の補正（Benjamini–Hochberg 法）", ("Benjamini", "BH補正", "偽発見率"),
     "多くの地区や区域をまとめて検定すると、偶然だけで「有意」になるものが出ます。"
     "その割合（偽発見率）を一定以下に抑えるように判定の基準を厳しくする方法です。"),
    ("クラスター分析・シルエット係数", ("シルエット係数", "k-means", "クラスター分析"),
     "似たもの同士をグループ（クラスター）に分ける方法。"
     "シルエット係数は分け方のよさの目安（−1〜1、大きいほどよく分かれている）。"),
    ("φ（ファイ係数）", ("φ",), "二つの「あり・なし」の項目がどれだけ一緒に起こるかを示す相関の指標（−1〜1）。"),
    ("SARIMAX・AR(1)", ("SARIMAX", "AR(1)", "ARMA"),
     "時系列の予測・分析のモデル。前の時点の値との関係（自己回帰：AR）や季節の周期を考慮します。"
     "AR(1) は直前の時点との関係だけを考える最も簡単な形です。"),
    ("MAE・MAPE", ("MAE", "MAPE"),
     "予測の誤差の目安。MAE は実績との差の平均（件）、MAPE はその差を実績に対する割合（%）で表したものです。"),
    ("季節ナイーブ", ("季節ナイーブ",), "「1年前の同じ時期と同じになる」とみなす最も単純な予測。"
     "予測モデルの良し悪しを比べる基準に使います。"),
    ("ローリング・オリジン検証", ("ローリング・オリジン",),
     "過去のある時点までのデータだけでモデルを作って、"
     "その先を予測し、実績と比べる検証。時点をずらして繰り返します。"),
    ("MCLP（最大被覆問題）・p-median", ("MCLP", "p-median", "最大被覆"),
     "配置を決める数理最適化の方法。MCLP は決まった数の拠点で、一定時間・距離内に届く需要を最大にする配置を、"
     "p-median は需要で重み付けした平均の移動時間・距離を最小にする配置を求めます。"),
    ("アーランC", ("アーランC",),
     "窓口や電話の待ち行列の理論式。到着がランダムで、長い時間同じ混み具合が続く（定常状態）と仮定して、"
     "平均の待ち時間と必要な窓口数を求めます。"),
    ("離散事象シミュレーション", ("離散事象", "開庁時間シミュレーション", "開庁時間を再現したシミュレーション"),
     "一件一件の到着・対応・終了を時刻順にコンピューター上で再現し、待ち時間や到着時間を計算する方法。"),
    ("分断時系列（ITS）", ("分断時系列",),
     "施策や出来事の前後の推移を比べ、季節などを考えたうえで、出来事の時点で水準が変わったかを調べる方法。"),
    ("差の差（DiD）・イベントスタディ", ("差の差", "イベントスタディ"),
     "施策をした区域としなかった区域の「前後の変化」を比べ、共通の変化を差し引いて施策の効果を推定する方法。"
     "イベントスタディは、その効果を開始前後の時期ごとに示したもの（開始前は0に近いはず）です。"),
    ("合成コントロール・RMSPE", ("合成コントロール", "RMSPE"),
     "施策をした市と、"
     "施策前の推移がよく似るように他の市町村を重み付けして組み合わせた「合成の比較対象」とを比べる方法。"
     "RMSPE は両者の差の大きさの目安です。"),
    ("プラセボ検定", ("プラセボ",),
     "施策がなかった時期や区域を、あえて「施策あり」とみなして同じ分析を行い、"
     "偶然でどの程度の効果が出るかを確かめる方法。"),
    ("検出力・最小検出効果（MDE）", ("検出力", "最小検出", "MDE"),
     "本当に効果があるときに、分析でそれを見つけられる確率が検出力。"
     "ある検出力（通常80%）で見つけられる最も小さい効果が"
     "最小検出効果で、施策の規模や期間を決める目安になります。"),
    ("dmft", ("dmft",),
     "乳歯のむし歯の経験を表す指標。むし歯（d）・むし歯で失った歯（m）・治療済みの歯（f）の本数の合計です。"),
    ("自然分類（Jenks）", ("自然分類", "Jenks"), "地図の色分けで、"
     "値の似たもの同士が同じ区分に入るように区切りを決める方法。"),
    ("秘匿（最小セル）", ("秘匿",),
     "人数の少ない集計値から個人が特定されないよう、一定の人数・件数未満の値を「—」などで伏せること。"
     "伏せた値が他の数値から計算で戻せないよう、ほかの値も合わせて伏せることがあります。"),
]

_TAGS = re.compile(r"<[^>]+>")


def _report_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & {"remove-cell", "workshop", "ebpm-provenance", "injected-parameters", "parameters"}:
            continue
        if cell.cell_type == "markdown":
            parts.append(cell.source)
        elif cell.cell_type == "code":
            src = cell.source
            m = re.search(r"#\|\s*fig-cap:\s*\"?(.*?)\"?\s*$", src, re.M)
            if m:
                parts.append(m.group(1))
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                for kind in ("text/markdown", "text/html"):
                    v = data.get(kind)
                    if v:
                        parts.append(_TAGS.sub(" ", v if isinstance(v, str) else "".join(v)))
    return html.unescape("\n".join(parts))


def terms_used(nb) -> list[tuple[str, str]]:
    """(term, definition) of every glossary term the report's text uses, in :data:`TERMS` order."""
    text = _report_text(nb)
    return [(term, definition) for term, pats, definition in TERMS if any(p in text for p in pats)]


def glossary_markdown(terms: list[tuple[str, str]]) -> str:
    """The 用語 section (Markdown) for ``terms``; empty when there are none."""
    if not terms:
        return ""
    rows = "\n".join(f"<dt>{html.escape(t)}</dt><dd>{html.escape(d)}</dd>" for t, d in terms)
    return (f'<section class="ebpm-glossary">\n\n## 用語\n\n<p>この報告書で使った統計・分析の用語の意味です。</p>\n\n'
            f"<dl>\n{rows}\n</dl>\n</section>")
