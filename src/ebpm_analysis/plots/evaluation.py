"""Figures for case 7 (policy evaluation). Each returns a matplotlib figure in the house style:
Japanese titles, units on the axes, a source note; blue/orange/grey (readable with colour-vision
deficiencies) and line styles that carry the meaning without colour."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import report, viz
from ..stats import disclosure as D

BLUE, ORANGE, GREY, GREEN = viz.PALETTE[0], viz.PALETTE[1], "#6b7280", viz.PALETTE[2]


def its_chart(cf: pd.DataFrame, events: pd.DataFrame, *, city: str, source: str):
    """Weekly counts, the model's fit and the counterfactual without the events; event periods shaded."""
    fig, ax = plt.subplots(figsize=(9.4, 4.8))
    shades = ["#fde0c5", "#f4a582"]
    for ev, colour in zip(events.itertuples(), shades, strict=False):
        ax.axvspan(pd.Timestamp(ev.start), pd.Timestamp(ev.end) + pd.Timedelta(days=1), color=colour, alpha=0.7,
                   label=ev.label, lw=0)
    ax.plot(cf["week"], cf["y"], color=GREY, lw=0.9, marker="o", ms=2.5, label="実績（週別件数）")
    ax.plot(cf["week"], cf["fitted"], color=BLUE, lw=1.8, label="モデル（季節・祝日・出来事）")
    ax.plot(cf["week"], cf["counterfactual"], color=ORANGE, lw=1.8, ls="--", label="出来事がなかった場合の推定")
    ax.set_ylim(bottom=0)
    ax.set_ylabel("人身事故（件／週）")
    ax.set_xlabel("週（月曜始まり）")
    ax.set_title(f"{city}の週別人身事故件数と2020年の緊急事態宣言")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, fontsize=9)
    fig.tight_layout()
    viz.source_note(fig, source)
    data = pd.DataFrame({"週（月曜日）": pd.to_datetime(cf["week"]).dt.strftime("%Y-%m-%d").to_numpy(),
                         "人身事故（件／週）": cf["y"].to_numpy(), "モデル（件／週）": cf["fitted"].to_numpy(float),
                         "出来事がなかった場合の推定（件／週）": cf["counterfactual"].to_numpy(float)})
    keys = []
    for ev in events.itertuples():
        week = pd.to_datetime(cf["week"])
        m = (week >= pd.Timestamp(ev.start)) & (week <= pd.Timestamp(ev.end))
        if m.any():
            keys.append(f"{ev.label}：実績 {cf.loc[m, 'y'].sum():,.0f}件、"
                        f"推定 {cf.loc[m, 'counterfactual'].sum():,.0f}件")
    viz.figure_data(fig, data, caption="週別の人身事故件数", keys=keys,
                    kinds=D.public_records("police records and model values", **{
                        "週（月曜日）": D.LABEL, "モデル（件／週）": D.OTHER,
                        "出来事がなかった場合の推定（件／週）": D.OTHER}))
    return fig


def forest(table: pd.DataFrame, *, title: str, source: str, synthetic: bool = False, truth: float | None = None,
           label_col: str = "label"):
    """Changes (rate ratios on a log axis, labelled in %) with 95 % intervals, one row per line of
    ``table`` (columns ``ratio``, ``lo``, ``hi`` and ``label_col``)."""
    t = table.reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(8.5, 0.5 * len(t) + 1.8))
    y = np.arange(len(t))[::-1]
    ax.errorbar(t["ratio"], y, xerr=[t["ratio"] - t["lo"], t["hi"] - t["ratio"]], fmt="o", color=BLUE, ecolor=BLUE,
                capsize=3, label="推定値と95%信頼区間")
    ax.axvline(1, color="#333333", lw=1)
    if truth is not None:
        ax.axvline(1 + truth, color=ORANGE, lw=1.6, ls="--", label=f"埋め込んだ真の効果（{truth * 100:+.0f}%）")
    ax.set_xscale("log")
    lo, hi = float(t["lo"].min()), float(t["hi"].max())
    ticks = [v for v in (0.25, 0.33, 0.5, 0.67, 0.8, 1, 1.25, 1.5, 2, 3, 4) if lo / 1.1 <= v <= hi * 1.1]
    ax.set_xticks(ticks, [f"{(v - 1) * 100:+.0f}%" if v != 1 else "0%" for v in ticks])
    ax.minorticks_off()
    ax.set_yticks(y, t[label_col])
    ax.set_xlabel("件数の変化（対数目盛、0% = 変化なし）")
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12 - 0.3 / len(t)), ncol=2, fontsize=9)
    fig.tight_layout()
    viz.source_note(fig, source, synthetic=synthetic)
    data = pd.DataFrame({"項目": t[label_col].astype(str).to_numpy(),
                         "件数の変化（%）": (t["ratio"].to_numpy(dtype=float) - 1) * 100,
                         "95%信頼区間下限（%）": (t["lo"].to_numpy(dtype=float) - 1) * 100,
                         "95%信頼区間上限（%）": (t["hi"].to_numpy(dtype=float) - 1) * 100})
    viz.figure_data(fig, data, caption=title, kinds=_kinds(data, "項目"),
                    keys=[f"{r['項目']} {r['件数の変化（%）']:+.1f}%（95%区間 {r['95%信頼区間下限（%）']:+.1f}〜"
                          f"{r['95%信頼区間上限（%）']:+.1f}%）" for _, r in data.head(3).iterrows()])
    return fig


def event_study_chart(es: pd.DataFrame, *, pretrend_p: float, source: str, synthetic: bool,
                      truth: float | None = None, title: str = "対策開始からの月数ごとの効果（イベントスタディ）"):
    """Rate ratios by months since the start: placebo bins before (should be 0 %) and effects after."""
    fig, ax = plt.subplots(figsize=(9, 4.8))
    pre = f"開始前（擬似効果、事前トレンド検定 {report.p_text(pretrend_p)}）"
    for phase, colour, marker, lab in (("pre", GREY, "s", pre), ("post", BLUE, "o", "開始後（効果）")):
        d = es[es["phase"] == phase]
        x = (d["from_month"] + d["to_month"]) / 2
        pct = (d["ratio"] - 1) * 100
        ax.errorbar(x, pct, yerr=[pct - (d["lo"] - 1) * 100, (d["hi"] - 1) * 100 - pct], fmt=marker, color=colour,
                    ecolor=colour, capsize=3, label=lab)
    ax.axhline(0, color="#333333", lw=1)
    ax.axvline(-0.5, color="#333333", lw=1, ls=":")
    if truth is not None:
        ax.axhline(truth * 100, color=ORANGE, lw=1.6, ls="--", label=f"埋め込んだ真の効果（{truth * 100:+.0f}%）")
    ax.set_xlabel("対策開始からの月数（3か月ごと、0 = 開始月）")
    ax.set_ylabel("件数の変化（%）")
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=9)
    fig.tight_layout()
    viz.source_note(fig, source, synthetic=synthetic)
    data = pd.DataFrame({"区分": np.where(es["phase"] == "pre", "開始前（擬似効果）", "開始後（効果）"),
                         "開始からの月数（から）": es["from_month"].to_numpy(),
                         "開始からの月数（まで）": es["to_month"].to_numpy(),
                         "件数の変化（%）": (es["ratio"].to_numpy(dtype=float) - 1) * 100,
                         "95%信頼区間下限（%）": (es["lo"].to_numpy(dtype=float) - 1) * 100,
                         "95%信頼区間上限（%）": (es["hi"].to_numpy(dtype=float) - 1) * 100})
    post = data[data["区分"] == "開始後（効果）"]
    change = post["件数の変化（%）"]
    keys = [f"事前トレンド検定 {report.p_text(pretrend_p)}"] + (   # "p = 0.00" read as no evidence at all
        [f"開始後の変化 {change.min():+.1f}%〜{change.max():+.1f}%"] if len(post) else [])
    viz.figure_data(fig, data, caption=title, kinds=_kinds(data, "区分"), keys=keys)
    return fig


def measures_map(meshes, city_areas, *, title: str, source: str, synthetic: bool):
    """Treated meshes by start month and the comparison (candidate) meshes on the city outline.
    ``meshes``: GeoDataFrame in a metre CRS with ``start`` ("" for comparison meshes)."""
    fig, ax = plt.subplots(figsize=(6.8, 6.4))   # with the legend beside it: within the page's 9.9 in
    viz.layer(city_areas, ax, color="#f4f4f4", edgecolor="#999999", lw=0.6)
    comp = meshes[meshes["start"] == ""]
    viz.layer(comp, ax, facecolor="none", edgecolor=GREY, lw=0.8, hatch="////", label="比較メッシュ（候補・未実施）")
    starts = sorted(s for s in meshes["start"].unique() if s)
    colours = [BLUE, ORANGE, GREEN, viz.PALETTE[4]]
    handles = [plt.Rectangle((0, 0), 1, 1, facecolor="none", edgecolor=GREY, hatch="////")]
    labels = ["比較メッシュ（候補・未実施）"]
    for s, c in zip(starts, colours, strict=False):
        viz.layer(meshes[meshes["start"] == s], ax, color=c, edgecolor="black", lw=0.4)
        handles.append(plt.Rectangle((0, 0), 1, 1, color=c))
        labels.append(f"対策メッシュ（{s}開始）")
    ax.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9, title="500 mメッシュ")
    # Zoom to the meshes (plus 2 km) when they cover a small part of the city (e.g. 富山市's mountains).
    mx0, my0, mx1, my1 = meshes.total_bounds
    cx0, cy0, cx1, cy1 = city_areas.total_bounds
    if (mx1 - mx0) * (my1 - my0) < 0.25 * (cx1 - cx0) * (cy1 - cy0):
        half = max(mx1 - mx0, my1 - my0) / 2 + 2000
        xm, ym = (mx0 + mx1) / 2, (my0 + my1) / 2
        ax.set_xlim(xm - half, xm + half)
        ax.set_ylim(ym - half, ym + half)
    viz.finish_map(ax, title, source, synthetic)
    code = next((c for c in ("mesh", "area_code") if c in meshes.columns), None)
    data = pd.DataFrame({"メッシュコード": meshes[code].astype(str).to_numpy() if code else "",
                         "区分": np.where(meshes["start"] == "", "比較メッシュ（候補・未実施）", "対策メッシュ"),
                         "開始月": meshes["start"].astype(str).to_numpy()})
    keys = [f"対策メッシュ {int((meshes['start'] != '').sum())}", f"比較メッシュ {len(comp)}"]
    viz.figure_data(fig, data.sort_values(["開始月", "メッシュコード"]).reset_index(drop=True), caption=title,
                    kinds={"メッシュコード": D.LABEL, "区分": D.LABEL, "開始月": D.LABEL}, keys=keys)
    return fig


def synthetic_control_chart(res, *, city: str, source: str, synthetic: bool):
    """Left: the city's index and its synthetic control. Right: the gap for the city and for every donor
    as a placebo (placebo-in-space). ``res``: :class:`ebpm_analysis.cases.evaluation.ScResult`."""
    fig, axes = plt.subplots(1, 2, figsize=(9.2, 4.8))
    obs, syn, gaps = res.observed, res.synthetic, res.gaps
    x = np.arange(len(obs))
    n_pre = res.n_pre
    ax = axes[0]
    ax.plot(x, obs.to_numpy(), color=BLUE, lw=1.8, label=city)
    ax.plot(x, syn.to_numpy(), color=ORANGE, lw=1.8, ls="--", label="合成コントロール（他市町村の加重平均）")
    ax.set_title("指数（開始前の平均 = 100）")
    ax.set_ylabel("人身事故件数の指数")
    ax = axes[1]
    for c in gaps.columns:
        if c != obs.name:
            ax.plot(x, gaps[c].to_numpy(), color=GREY, lw=0.7, alpha=0.5)
    ax.plot([], [], color=GREY, lw=0.7, label="他市町村を対策ありとみなした場合（プラセボ）")
    ax.plot(x, gaps[obs.name].to_numpy(), color=BLUE, lw=2.0, label=city)
    ax.axhline(0, color="#333333", lw=1)
    ax.set_title(f"実績 − 合成コントロール（順位 {res.rank}／{res.n_units}）")
    ax.set_ylabel("差（指数ポイント）")
    ticks = x[::6]
    for ax in axes:
        ax.axvline(n_pre - 0.5, color="#333333", ls=":", lw=1)
        ax.set_xticks(ticks, [str(gaps.index[i]) for i in ticks], rotation=0, fontsize=9)
        ax.set_xlabel("月")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=9, ncol=1)
    fig.tight_layout()
    viz.source_note(fig, source, synthetic=synthetic)
    data = pd.DataFrame({"月": [str(i) for i in gaps.index], f"{city}の指数": obs.to_numpy(float),
                         "合成コントロールの指数": syn.to_numpy(float),
                         "差（指数ポイント）": gaps[obs.name].to_numpy(float),
                         "期間": np.where(x < n_pre, "開始前", "開始後")})
    keys = [f"開始後の効果 {res.effect * 100:+.1f}%", f"プラセボを含めた順位 {res.rank}／{res.n_units}"]
    viz.figure_data(fig, data, caption="市と合成コントロールの指数", kinds=_kinds(data, "月") | {"期間": D.LABEL},
                    keys=keys)
    return fig


def power_chart(grid: pd.DataFrame, *, targets=(0.1, 0.2), source: str):
    """Minimum detectable reduction vs number of treated areas, one line per evaluation length."""
    fig, ax = plt.subplots(figsize=(8.5, 4.8))
    styles = ["-", "--", "-.", ":"]
    for (months, d), ls, c in zip(grid.groupby("months_post"), styles, [BLUE, ORANGE, GREEN, GREY], strict=False):
        ax.plot(d["n_treated"], d["mde"] * 100, ls=ls, color=c, lw=2, marker="o", ms=3, label=f"開始後 {months}か月")
    for t in targets:
        ax.axhline(t * 100, color="#333333", lw=0.8, ls=":")
        ax.text(grid["n_treated"].max(), t * 100, f" {t * 100:.0f}%", va="center", fontsize=9)
    ax.set_xlabel("対策するメッシュ数（500 m）")
    ax.set_ylabel("検出できる最小の減少（%）")
    ax.set_ylim(0, min(60, float(np.nanmax(grid["mde"])) * 100 + 5))
    ax.set_title("評価に必要な規模：検出できる最小の効果（検出力80%、両側5%）")
    ax.legend(fontsize=9)
    fig.tight_layout()
    viz.source_note(fig, source)
    data = pd.DataFrame({"開始後の月数": grid["months_post"].to_numpy(),
                         "対策するメッシュ数": grid["n_treated"].to_numpy(),
                         "検出できる最小の減少（%）": grid["mde"].to_numpy(dtype=float) * 100})
    best = data.dropna().sort_values(["検出できる最小の減少（%）"]).head(1)
    keys = [f"最小 {r['検出できる最小の減少（%）']:.1f}%"
            f"（{r['対策するメッシュ数']:.0f}メッシュ、開始後{r['開始後の月数']:.0f}か月）" for _, r in best.iterrows()]
    viz.figure_data(fig, data, caption="検出できる最小の効果", kinds=_kinds(data), keys=keys)
    return fig


def _kinds(data: pd.DataFrame, label: str | None = None) -> dict:
    """Model estimates (no count of persons): ``label`` names the rows, every other column is ``other``."""
    return {c: (D.LABEL if c == label else D.OTHER) for c in data.columns}
