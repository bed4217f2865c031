"""Figures for Case 1 (census commuting). Each returns ``fig``; inputs are disclosure-controlled."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import viz
from ..stats import disclosure as D

CLASS_COLORS = {"高い": "#b8433c", "差なし": "#6b7280", "低い": "#1f5a96", "秘匿・不明": "#bbbbbb"}


def rate_map(areas_plane, rates: pd.DataFrame, wards_plane, *, title: str, source: str, synthetic: bool,
             k: int = 5, scheme: str = "NaturalBreaks", ward_label: str | None = "name"):
    """Classed choropleth (mapclassify) of the in-city rate (%) with ward outlines and names."""
    g = areas_plane.merge(rates[["area", "rate"]], left_on="district_code", right_on="area", how="left")
    g["rate_pct"] = g["rate"] * 100
    n = int(g["rate_pct"].notna().sum())
    k = max(2, min(k, -(-n // 2)))  # few areas (e.g. 5 wards): fewer classes
    name = "district_name" if "district_name" in g.columns else "district_code"
    fig, ax = viz.choropleth(g, "rate_pct", title=title, legend_title="市内従業率（%）", scheme=scheme, k=k,
                             outlines=wards_plane, outline_label=ward_label, fmt="{:.1f}", source=source,
                             synthetic=synthetic, label=name, label_title="常住地")
    return fig


def ranked_rates(rates: pd.DataFrame, names: dict, reference: float, classes: pd.Series, *, title: str,
                 source: str, synthetic: bool, reference_label: str = "市全体", area_label: str = "地区"):
    """Areas ranked by in-city rate with 95 % Wilson intervals and the city rate as a reference line."""
    r = rates.assign(cls=classes.to_numpy()).dropna(subset=["rate"]).sort_values("rate")
    n = len(r)
    # 0.2 in a row: room for 9-pt labels however many areas there are (68 districts made ~7-px labels)
    fig, ax = plt.subplots(figsize=(8, max(3.0, 0.2 * n + 1.4)))
    y = np.arange(n)
    for cls, color in CLASS_COLORS.items():
        m = (r["cls"] == cls).to_numpy()
        if m.any():
            ax.errorbar(r["rate"].to_numpy()[m] * 100, y[m],
                        xerr=[(r["rate"] - r["lower"]).to_numpy()[m] * 100,
                              (r["upper"] - r["rate"]).to_numpy()[m] * 100],
                        fmt="o", ms=4, color=color, ecolor=color, elinewidth=1.2, capsize=2,
                        label={"高い": "市全体より高い（95%区間が上）", "低い": "市全体より低い（95%区間が下）",
                               "差なし": "市全体と差なし"}.get(cls, cls))
    ax.axvline(reference * 100, color="#333333", linestyle="--", linewidth=1)
    ax.text(reference * 100, n - 0.3, f" {reference_label} {reference:.1%}", va="bottom", ha="left", fontsize=9)
    ax.set_yticks(y)
    ax.set_yticklabels([names.get(a, a) for a in r["area"]], fontsize=9)
    ax.set_ylim(-1, n + 0.5)
    ax.set_xlabel("市内従業率（%、95%信頼区間 Wilson）")
    ax.set_ylabel(f"常住地（{area_label}）")
    ax.set_title(title)
    ax.grid(axis="y", visible=False)
    ax.legend(loc="lower right", fontsize=9, frameon=True, framealpha=0.9)
    viz.source_note(fig, source, synthetic=synthetic)
    fig.tight_layout()
    shown = r.iloc[::-1]
    word = {"高い": "市全体より高い", "低い": "市全体より低い", "差なし": "差なし"}
    data = pd.DataFrame({f"常住地（{area_label}）": [str(names.get(a, a)) for a in shown["area"]],
                         "市内従業率（%）": shown["rate"].to_numpy(float) * 100,
                         "95%信頼区間下限（%）": shown["lower"].to_numpy(float) * 100,
                         "95%信頼区間上限（%）": shown["upper"].to_numpy(float) * 100,
                         "判定": [word.get(c, c) for c in shown["cls"]]})
    first = data.columns[0]
    keys = [f"{reference_label} {reference:.1%}"] + viz.extremes(data, first, "市内従業率（%）", "%")
    keys += [f"{word[c]} {int((shown['cls'] == c).sum())}{area_label}" for c in ("高い", "低い")]
    viz.figure_data(fig, data, caption=title, kinds=D.no_persons("rates with their intervals, as drawn",
                                                                  **{first: D.LABEL, "判定": D.LABEL}), keys=keys)
    return fig


def workplace_by_status(ct: pd.DataFrame, labels: dict, *, title: str, source: str, synthetic: bool):
    """100 % stacked bars: 従業地 shares within each 従業上の地位 (one area)."""
    cols = [c for c in ct.columns if c.startswith("pct_")]
    data = ct.set_index("status_label")[cols].astype(float)
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(data) + 1.8))
    left = np.zeros(len(data))
    colors = ["#8c6d46", "#3a8f5c", "#7fbf7b", "#d9822b", "#b8433c", "#bbbbbb"]
    for c, color in zip(cols, colors, strict=False):
        vals = data[c].fillna(0).to_numpy()
        ax.barh(np.arange(len(data)), vals, left=left, color=color, label=labels[c[4:]], edgecolor="white",
                linewidth=0.5)
        left += vals
    hidden = data.isna().any(axis=1).to_numpy()
    ax.set_yticks(np.arange(len(data)))
    ax.set_yticklabels([f"{s}＊" if h else s for s, h in zip(data.index, hidden, strict=True)])
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("構成比（%）")
    ax.set_ylabel("従業上の地位")
    ax.set_title(title)
    ax.grid(axis="y", visible=False)
    ax.legend(ncol=3, fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
    note = source + "　＊秘匿セルを含む（棒は公表値のみ）" if hidden.any() else source
    viz.source_note(fig, note, synthetic=synthetic)
    fig.tight_layout()
    heads = {c: f"{labels[c[4:]]}（%）" for c in cols}
    table = data.rename(columns=heads).rename_axis("従業上の地位").reset_index()
    keys = [f"{s} {labels[c[4:]]} {v:.1f}%" for s, row in data.iterrows()
            for c, v in [(row.idxmax(), row.max())] if pd.notna(v)][:3]
    viz.figure_data(fig, table, caption=title, kinds=D.no_persons("shares of published cells (hidden cells empty)",
                                                                   従業上の地位=D.LABEL), keys=keys)
    return fig
