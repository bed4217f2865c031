"""Figures for case 2 (preschool dental checkups). Each function returns a matplotlib figure
in the house style (:mod:`ebpm_analysis.viz`): Japanese title, labelled axes with units, 出典."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import colors as mcolors
from matplotlib.collections import PathCollection
from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch

from .. import viz
from ..io.dental_sheet import FDI_TO_JP
from ..stats import disclosure as D

UPPER_ROW = [55, 54, 53, 52, 51, 61, 62, 63, 64, 65]
LOWER_ROW = [85, 84, 83, 82, 81, 71, 72, 73, 74, 75]
TOOTH_WIDTH = {1: 0.85, 2: 0.75, 3: 0.8, 4: 1.0, 5: 1.15}
SIGNAL_COLORS = {"99.8%超": "#b8433c", "95%超": "#d9822b", "範囲内": "#7a8899", "95%未満": "#5b8fc7",
                 "99.8%未満": "#1f5a96"}


def _log_x(ax, subs=(1, 2, 5)) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))


def _arch_positions(row: list[int], upper: bool) -> dict[int, tuple[float, float, float]]:
    """x, y and rotation of each tooth along a U-shaped arch (midline at x = 0)."""
    widths = [TOOTH_WIDTH[t % 10] for t in row]
    half = widths[:5][::-1]  # from the midline outwards
    s = np.concatenate([[0], np.cumsum(half)])
    centres = (s[:-1] + s[1:]) / 2  # arc length from the midline
    total = s[-1]
    pos = {}
    for side, teeth in ((-1, row[:5][::-1]), (1, row[5:])):
        for t, c in zip(teeth, centres, strict=True):
            theta = (c / total) * (np.pi / 2) * 0.95
            x = side * 3.5 * np.sin(theta)
            y = 2.5 * np.cos(theta)
            rot = -side * np.degrees(theta)
            if not upper:
                y, rot = -y, -rot
            pos[t] = (x, y, rot)
    return pos


def dental_chart(shares: pd.DataFrame, *, value: str = "share", ages=None, title: str = "歯種別う蝕の割合（年齢別）",
                 source: str = "", synthetic: bool = False, cmap: str = "YlOrRd"):
    """Dental-chart heatmap: one panel per age, the upper and lower arches drawn as a chart,
    each tooth coloured by ``value`` (% of present teeth that are decayed or filled)."""
    ages = sorted(shares["age"].unique()) if ages is None else ages
    vmax = float(np.nanmax(shares[value])) if len(shares) else 1.0
    norm = mcolors.Normalize(vmin=0, vmax=max(vmax, 1e-9))
    cm = plt.get_cmap(cmap)
    ncols = 2
    nrows = int(np.ceil((len(ages) + 1) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(9.4, 4.3 * nrows + 0.6), squeeze=False)
    flat = axes.ravel()
    for ax, age in zip(flat, ages, strict=False):
        s = shares[shares["age"] == age].set_index("tooth")[value]
        for row, upper in ((UPPER_ROW, True), (LOWER_ROW, False)):
            for t, (x, y, rot) in _arch_positions(row, upper).items():
                v = s.get(t, np.nan)
                w = TOOTH_WIDTH[t % 10] * 0.78
                h = 0.7 if t % 10 <= 3 else 0.85
                box = FancyBboxPatch((-w / 2, -h / 2), w, h, boxstyle="round,pad=0.04,rounding_size=0.15",
                                     fc=cm(norm(v)) if np.isfinite(v) else "#eeeeee", ec="#444444", lw=0.8)
                tr = plt.matplotlib.transforms.Affine2D().rotate_deg(rot).translate(x, y) + ax.transData
                box.set_transform(tr)
                ax.add_patch(box)
                dark = np.isfinite(v) and norm(v) > 0.6
                ax.text(x, y, f"{v:.1f}" if np.isfinite(v) else "—", ha="center", va="center", fontsize=9,
                        color="white" if dark else "#111111", rotation=rot)
                lx, ly = x * 1.28, y * 1.3
                ax.text(lx, ly, f"{FDI_TO_JP[t][-1]}\n{t}" if upper else f"{t}\n{FDI_TO_JP[t][-1]}",
                        ha="center", va="center", fontsize=9, color="#555555")
        ax.axvline(0, color="#999999", lw=0.6, ls=":")
        ax.text(0, 0.55, "上顎", ha="center", fontsize=10, color="#333333")
        ax.text(0, -0.8, "下顎", ha="center", fontsize=10, color="#333333")
        ax.text(-4.8, 0, "右", ha="center", va="center", fontsize=10)
        ax.text(4.8, 0, "左", ha="center", va="center", fontsize=10)
        ax.set_xlim(-5.1, 5.1)
        ax.set_ylim(-3.75, 3.75)
        viz.map_axes(ax)
        ax.set_title(f"{age}歳", fontsize=12)
    key = flat[len(ages)]
    key.axis("off")
    key.text(0.02, 0.95, "歯式の読み方", fontsize=11, fontweight="bold", va="top", transform=key.transAxes)
    key.text(0.02, 0.82,
             "・患者に向かって見た配置（向かって左が患者の右）\n"
             "・上の弓＝上顎、下の弓＝下顎。正中（点線）から外側へ\n"
             "　A 乳中切歯、B 乳側切歯、C 乳犬歯、D 第一乳臼歯、E 第二乳臼歯\n"
             "・FDI番号：右上 51–55、左上 61–65、左下 71–75、右下 81–85\n"
             "・数値と色：現在歯のうち、う蝕（未処置C＋処置〇）の歯の割合（%）",
             fontsize=9, va="top", linespacing=1.7, transform=key.transAxes)
    for ax in flat[len(ages) + 1:]:
        ax.axis("off")
    sm = plt.cm.ScalarMappable(norm=norm, cmap=cm)
    cax = key.inset_axes([0.05, 0.22, 0.85, 0.07])
    cb = fig.colorbar(sm, cax=cax, orientation="horizontal")
    cb.set_label("う蝕のある歯の割合（%、C＋〇／現在歯）")
    fig.suptitle(title, fontsize=13, fontweight="bold")
    fig.tight_layout()
    if source:
        viz.source_note(fig, source, synthetic=synthetic)
    cols = {"age": "年齢（歳）", "tooth": "歯（FDI番号）", "present": "現在歯数（本）",
            "carious": "う蝕のある歯数（本）",
            value: "う蝕のある歯の割合（%）"}
    d = shares[shares["age"].isin(ages)]
    data = d[[c for c in cols if c in d.columns]].rename(columns=cols).reset_index(drop=True)
    data.insert(2, "歯の名前", [FDI_TO_JP.get(t, "") for t in d["tooth"]])
    kinds = {"年齢（歳）": D.LABEL, "歯（FDI番号）": D.LABEL, "歯の名前": D.LABEL}
    counts = [c for c in ("現在歯数（本）", "う蝕のある歯数（本）") if c in data.columns]
    kinds |= dict.fromkeys(counts, D.PERSONS)
    kinds["う蝕のある歯の割合（%）"] = D.share(counts) if counts else D.OTHER
    keys = []
    for age in ages:
        a = d[d["age"] == age].dropna(subset=[value])
        if len(a):
            top = a.loc[a[value].idxmax()]
            name = FDI_TO_JP.get(top["tooth"], top["tooth"])
            keys.append(f"{age}歳で最も高い {name}（{top['tooth']}） {top[value]:.1f}%")
    viz.figure_data(fig, data, caption=title, kinds=kinds, keys=keys)
    return fig


def _omitted_note(ax, omitted: int, min_cell: int, below: bool = False) -> None:
    """Say on the figure how many facilities are not drawn because their count is hidden (public runs): inside the
    plot at its lower right, or (``below``, maps, whose lower right holds the legend) just under the map."""
    if not omitted:
        return
    text = f"う蝕のある子が{min_cell}人未満の{omitted}施設は秘匿のため描いていません"
    if below:
        ax.annotate(text, (1, 0), xycoords="axes fraction", xytext=(0, -3), textcoords="offset points",
                    ha="right", va="top", fontsize=9, color="#444444", annotation_clip=False)
    else:
        ax.text(0.99, 0.01, text, transform=ax.transAxes, ha="right", va="bottom", fontsize=9, color="#444444")


def funnel_plot(fa: pd.DataFrame, curves: pd.DataFrame, info: dict, *, label_col: str = "facility_name",
                title: str = "施設別う蝕有病者率のファンネルプロット", source: str = "", synthetic: bool = False,
                omitted: int = 0, min_cell: int = 10):
    """Age-adjusted facility rates vs number examined with 95 % / 99.8 % control limits.
    Facilities flagged ``small`` are not drawn (shown only in aggregate); ``omitted`` facilities left out of
    ``fa`` because their count is hidden are counted in a note."""
    d = fa[~fa["small"]]
    fig, ax = plt.subplots(figsize=(9, 5.8))
    _omitted_note(ax, omitted, min_cell)
    l95, l998 = (f"{lv * 100:g}" for lv in info["levels"])
    ax.fill_between(curves["n"], 100 * curves[f"lo{l998}"], 100 * curves[f"hi{l998}"], color="#dbe4ee", alpha=0.5, lw=0)
    for lv, ls in ((l95, "--"), (l998, "-")):
        ax.plot(curves["n"], 100 * curves[f"hi{lv}"], color="#555555", ls=ls, lw=1)
        ax.plot(curves["n"], 100 * curves[f"lo{lv}"], color="#555555", ls=ls, lw=1)
    ax.axhline(100 * info["p0"], color="#1f5a96", lw=1.2)
    for sig, col in SIGNAL_COLORS.items():
        m = d["signal"] == sig
        if m.any():
            ax.scatter(d.loc[m, "examined"], 100 * d.loc[m, "adj_rate"], s=28, color=col,
                       label=f"{sig}（{int(m.sum())}施設）",
                       edgecolor="white", lw=0.5, zorder=3)
    named = []
    for _, r in d[d["signal"] == "99.8%超"].iterrows():   # named as in the report's tables (code without a name)
        name = r.get(label_col) if label_col in d.columns else None
        label = str(name) if isinstance(name, str) and name.strip() else str(r["facility_code"])
        named.append(ax.annotate(label, (r["examined"], 100 * r["adj_rate"]), xytext=(4, 3),
                                 textcoords="offset points", fontsize=9, color="#7a1f1a"))
    handles, labels = ax.get_legend_handles_labels()
    handles += [Line2D([], [], color="#1f5a96", lw=1.2), Line2D([], [], color="#555555", ls="--"),
                Line2D([], [], color="#555555")]
    labels += [f"全体 {100 * info['p0']:.1f}%", "95%管理限界", "99.8%管理限界"]
    _log_x(ax)
    ax.set_xlabel("受診児数（人、対数目盛）")
    # under the axis label, outside the plot: inside, at the upper left, it covered the control limits' curves
    # (they rise there at small numbers examined) and facilities above them
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0), ncol=3, fontsize=9, frameon=False)
    ax.set_ylabel("年齢調整う蝕有病者率（%）")
    ax.set_ylim(0, max(100 * d["adj_rate"].max() * 1.3, 100 * info["p0"] * 2.5))
    fig.canvas.draw()           # the labels' extents are known once drawn at the final limits
    renderer, frame = fig.canvas.get_renderer(), ax.get_window_extent()
    below = frame.y0 - ax.xaxis.get_tightbbox(renderer).y0     # tick labels and axis label, in pixels
    ax.get_legend().set_bbox_to_anchor((0.5, -(below + 4) / frame.height), transform=ax.transAxes)
    # names beside their points, covering no other name, point or the note on hidden facilities, inside the plot
    # (nudged down one after another, 西区・幼稚園020 and 028 sat on each other and on a point)
    points = [b for c in ax.collections if isinstance(c, PathCollection) for b in viz.point_boxes(c)]
    own = []
    for a in named:
        x, y = ax.transData.transform(a.xy)
        own.append(min(points, key=lambda b: (b.x0 + b.x1 - 2 * x) ** 2 + (b.y0 + b.y1 - 2 * y) ** 2))
    notes = [viz.label_box(t, renderer) for t in ax.texts if t not in named]
    viz.place_labels(ax, named, avoid=points + notes, own=own, on_point=False)
    to_pt = 72.0 / fig.dpi
    for a, mine in zip(named, own, strict=True):   # a thin leader from each name to its point: no name is read as
        box = viz.label_box(a, renderer)           # a neighbour's (offsets in points: the same at any dpi)
        (ox, oy), w, h = a.xyann, box.width * to_pt / 2, box.height * to_pt / 2
        ex, ey = min(max(0.0, ox - w), ox + w), min(max(0.0, oy - h), oy + h)
        if np.hypot(ex, ey) > mine.width * to_pt / 2 + 1.5:
            ax.annotate("", a.xy, xytext=(ex, ey), textcoords="offset points", annotation_clip=False,
                        arrowprops=dict(arrowstyle="-", color="#7a1f1a", lw=0.6, shrinkA=0, shrinkB=2.5))
    extra = f"、過分散補正 τ²={info['tau2']:.4f}" if info.get("tau2", 0) > 0 else ""
    ax.set_title(title + extra)
    if source:
        viz.source_note(fig, source, synthetic=synthetic)
    data, kinds = _facility_frame(d, label_col, {"adj_rate": "年齢調整う蝕有病者率（%）"})
    data["判定"] = d["signal"].astype(str).to_numpy()
    counts = d["signal"].astype(str).value_counts()
    keys = [f"全体 {100 * info['p0']:.1f}%"] + [f"{sig} {int(counts[sig])}施設" for sig in ("99.8%超", "95%超")
                                                if counts.get(sig, 0)]
    viz.figure_data(fig, data, caption=title, kinds=kinds | {"判定": D.LABEL}, keys=keys)
    return fig


def _facility_frame(d: pd.DataFrame, label_col: str, rates: dict) -> tuple[pd.DataFrame, dict]:
    """A figure's facilities as drawn: code, name, children examined and with caries (persons; the table rules
    hide small ones in a public download) and ``rates`` (column → heading, in %) declared from those counts."""
    cols = {"facility_code": "施設コード", label_col: "施設名", "examined": "受診児数（人）",
            "with_caries": "う蝕有病者数（人）"}
    cols = {c: h for c, h in cols.items() if c in d.columns}
    data = d[list(cols)].rename(columns=cols).reset_index(drop=True)
    kinds = {h: D.LABEL for c, h in cols.items() if c in ("facility_code", label_col)}
    counts = [h for c, h in cols.items() if c in ("examined", "with_caries")]
    kinds |= dict.fromkeys(counts, D.PERSONS)
    for c, h in rates.items():
        data[h] = 100 * d[c].astype(float).to_numpy()
        kinds[h] = (D.rate(counts) if c == "adj_rate" else D.expected(counts)) if counts else D.OTHER
    return data, kinds


def shrinkage_plot(fa: pd.DataFrame, info: dict, *, title: str = "経験ベイズ推定による施設率の縮小",
                   source: str = "", synthetic: bool = False, omitted: int = 0, min_cell: int = 10):
    """Age-adjusted observed rate vs empirical-Bayes rate (age-standardised too) for each facility,
    by number examined (``omitted``: as in :func:`funnel_plot`)."""
    d = fa[~fa["small"]].sort_values("examined")
    crude = 100 * d["adj_rate"]
    fig, ax = plt.subplots(figsize=(8.5, 5))
    _omitted_note(ax, omitted, min_cell)
    for (_, r), c in zip(d.iterrows(), crude, strict=True):
        ax.plot([r["examined"]] * 2, [c, 100 * r["eb_rate"]], color="#bbbbbb", lw=0.8, zorder=1)
    ax.scatter(d["examined"], crude, s=16, facecolor="white", edgecolor="#7a8899", label="年齢調整率（観測値）",
               zorder=2)
    ax.scatter(d["examined"], 100 * d["eb_rate"], s=16, color="#b8433c", label="経験ベイズ推定値", zorder=3)
    ax.axhline(100 * info["p0"], color="#1f5a96", lw=1, label=f"全体 {100 * info['p0']:.1f}%")
    _log_x(ax)
    ax.set_xlabel("受診児数（人、対数目盛）")
    ax.set_ylabel("う蝕有病者率（年齢調整、%）")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=9)
    if source:
        viz.source_note(fig, source, synthetic=synthetic)
    label = "facility_name" if "facility_name" in d.columns else "facility_code"
    data, kinds = _facility_frame(d, label, {"adj_rate": "年齢調整率（観測値、%）", "eb_rate": "経験ベイズ推定値（%）"})
    moved = (data["経験ベイズ推定値（%）"] - data["年齢調整率（観測値、%）"]).abs()
    keys = [f"全体 {100 * info['p0']:.1f}%"]
    if len(moved):
        keys.append(f"観測値からの移動 最大 {moved.max():.1f}ポイント、中央値 {moved.median():.1f}ポイント")
    viz.figure_data(fig, data, caption=title, kinds=kinds, keys=keys)
    return fig


def facility_map(points, wards, *, column: str = "eb_pct", size_col: str = "examined",
                 title: str = "施設別う蝕有病者率（経験ベイズ推定）", legend_title: str = "有病者率（%）",
                 flag_col: str | None = "signal", source: str = "", synthetic: bool = False,
                 omitted: int = 0, min_cell: int = 10):
    """Facility points (metre CRS) coloured by ``column``, sized by ``size_col``, over ward outlines;
    facilities above the 99.8 % limit ringed (``omitted``: as in :func:`funnel_plot`)."""
    fig, ax = plt.subplots(figsize=(8.5, 8))
    _omitted_note(ax, omitted, min_cell, below=True)   # the legend "記号" covered it at the lower right
    viz.layer(wards, ax, color="#f4f4f0", edgecolor="none")
    viz.outline(ax, wards, label_col="name", fontsize=9)
    v = points[column].astype(float)
    norm = mcolors.Normalize(vmin=float(np.nanpercentile(v, 2)), vmax=float(np.nanpercentile(v, 98)))
    sizes = 12 + 60 * np.sqrt(points[size_col] / points[size_col].max())
    sc = ax.scatter(points.geometry.x, points.geometry.y, c=v, s=sizes, cmap=viz.SEQ_CMAP, norm=norm,
                    edgecolor="#333333", lw=0.4, zorder=3)
    if flag_col and flag_col in points:
        m = points[flag_col] == "99.8%超"
        ax.scatter(points.geometry.x[m], points.geometry.y[m], s=sizes[m] * 2.6, facecolor="none",
                   edgecolor="#7a1f1a", lw=1.6, zorder=4)
    cb = fig.colorbar(sc, ax=ax, fraction=0.035, pad=0.01)
    cb.set_label(legend_title)
    handles = [Line2D([], [], marker="o", ls="", mfc="none", mec="#7a1f1a", mew=1.6, ms=10, label="99.8%管理限界超"),
               Line2D([], [], marker="o", ls="", mfc="#cccccc", mec="#333333", ms=4, label="受診児数 少"),
               Line2D([], [], marker="o", ls="", mfc="#cccccc", mec="#333333", ms=9, label="受診児数 多")]
    ax.legend(handles=handles, loc="lower right", fontsize=9, title="記号", frameon=True, framealpha=0.9)
    viz.finish_map(ax, title, source, synthetic)
    label = "facility_name" if "facility_name" in points.columns else "facility_code"
    data = pd.DataFrame({"施設名": points[label].astype(str).to_numpy(), legend_title: v.to_numpy(float)})
    if "facility_code" in points.columns and label != "facility_code":
        data.insert(0, "施設コード", points["facility_code"].astype(str).to_numpy())
    if flag_col and flag_col in points:
        data["99.8%管理限界超"] = np.where(points[flag_col] == "99.8%超", "はい", "")
    n_flag = int((data.get("99.8%管理限界超", pd.Series(dtype=str)) == "はい").sum())
    viz.figure_data(fig, data, caption=title,
                    kinds=D.no_persons("estimates of the facilities a public report shows (their counts are "
                                       "published)", 施設名=D.LABEL,
                                       **({"施設コード": D.LABEL} if "施設コード" in data else {}),
                                       **({"99.8%管理限界超": D.LABEL} if "99.8%管理限界超" in data else {})),
                    keys=viz.extremes(data, "施設名", legend_title, "%")[:1] + [f"99.8%管理限界超 {n_flag}施設"])
    return fig


def hotspot_map(points, wards, *, title: str = "施設のう蝕有病者率のホットスポット（Getis–Ord Gi*）",
                source: str = "", synthetic: bool = False):
    colors = {"ホットスポット": "#b8433c", "コールドスポット": "#1f5a96", "有意差なし": "#c8c8c8"}
    fig, ax = plt.subplots(figsize=(8.5, 8))
    viz.layer(wards, ax, color="#f4f4f0", edgecolor="none")
    viz.outline(ax, wards, label_col="name", fontsize=9)
    for lab, col in colors.items():
        m = points["hotspot"] == lab
        ax.scatter(points.geometry.x[m], points.geometry.y[m], s=30 if lab != "有意差なし" else 14, color=col,
                   edgecolor="#333333", lw=0.4, zorder=3 if lab != "有意差なし" else 2,
                   label=f"{lab}（{int(m.sum())}施設）")
    ax.legend(loc="lower right", title="Gi*（p<0.05、並べ替え検定）", fontsize=9, frameon=True, framealpha=0.9)
    viz.finish_map(ax, title, source, synthetic)
    label = "facility_name" if "facility_name" in points.columns else "facility_code"
    data = pd.DataFrame({"施設名": points[label].astype(str).to_numpy(),
                         "分類": points["hotspot"].astype(str).to_numpy()})
    counts = data["分類"].value_counts()
    viz.figure_data(fig, data, caption=title, kinds={"施設名": D.LABEL, "分類": D.LABEL},
                    keys=[f"{lab} {int(counts.get(lab, 0))}施設" for lab in colors if lab != "有意差なし"])
    return fig


def prevalence_bars(tab: pd.DataFrame, *, group: str, hue: str = "age", hue_label: str = "{}歳",
                    title: str = "年齢・施設種別のう蝕有病者率", xlabel: str = "", source: str = "",
                    synthetic: bool = False):
    """Grouped bars of prevalence (%) with 95 % Wilson intervals."""
    groups = list(dict.fromkeys(tab[group]))
    hues = sorted(tab[hue].unique())
    fig, ax = plt.subplots(figsize=(8.5, 4.8))
    w = 0.8 / len(hues)
    for j, h in enumerate(hues):
        d = tab[tab[hue] == h].set_index(group).reindex(groups)
        x = np.arange(len(groups)) + (j - (len(hues) - 1) / 2) * w
        y = d["prevalence"].astype(float).to_numpy()
        err = np.vstack([y - d["prev_lo"].astype(float), d["prev_hi"].astype(float) - y])
        ax.bar(x, y, width=w * 0.95, color=viz.PALETTE[j % len(viz.PALETTE)], label=hue_label.format(h))
        ax.errorbar(x, y, yerr=err, fmt="none", ecolor="#333333", lw=0.8, capsize=2)
    ax.set_xticks(np.arange(len(groups)), groups)
    ax.set_ylabel("う蝕有病者率（%、95%信頼区間）")
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.legend(ncol=len(hues), loc="upper left")
    if source:
        viz.source_note(fig, source, synthetic=synthetic)
    cols = {group: xlabel or group, hue: "年齢（歳）" if hue == "age" else hue, "examined": "受診児数（人）",
            "with_caries": "う蝕有病者数（人）", "prevalence": "う蝕有病者率（%）", "prev_lo": "95%信頼区間下限（%）",
            "prev_hi": "95%信頼区間上限（%）"}
    data = tab[[c for c in cols if c in tab.columns]].rename(columns=cols)
    count = cols["with_caries"]
    kinds = {cols[group]: D.LABEL, cols[hue]: D.LABEL, cols["examined"]: D.PERSONS, count: D.PERSONS,
             cols["prevalence"]: D.rate(count), cols["prev_lo"]: D.interval(count), cols["prev_hi"]: D.interval(count)}
    if count in data.columns and cols["examined"] in data.columns:
        shown = data.assign(区分=data[cols[group]].astype(str) + " " + data[cols[hue]].astype(str)
                            + ("歳" if hue == "age" else ""))
        viz.figure_data(fig, data, caption=title, kinds={c: k for c, k in kinds.items() if c in data.columns},
                        keys=viz.extremes(shown, "区分", cols["prevalence"], "%"))
    return fig


def cluster_plot(features: pd.DataFrame, labels, sil: pd.DataFrame, names: dict, *, x: str = "anterior_share",
                 y: str = "prevalence", title: str = "う蝕パターンによる施設の類型化", source: str = "",
                 synthetic: bool = False):
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(9.4, 4.8), gridspec_kw={"width_ratios": [3, 1.2]})
    for c in sorted(set(labels)):
        m = labels == c
        ax.scatter(features.loc[m, x], features.loc[m, y], s=22, color=viz.PALETTE[(c - 1) % len(viz.PALETTE)],
                   label=f"類型{c}：{names.get(c, '')}（{int(m.sum())}施設）", edgecolor="white", lw=0.4)
    ax.set_xlabel("う蝕歯に占める上顎前歯の割合（%）")
    ax.set_ylabel("う蝕有病者率（%、経験ベイズ推定）")
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi + 0.3 * (hi - lo))   # a band above the points for the legend (it covered facilities)
    ax.legend(fontsize=9, loc="upper right")
    ax.set_title(title)
    ax2.plot(sil["k"], sil["silhouette"], marker="o", color="#1f5a96")
    kb = sil.loc[sil["silhouette"].idxmax()]
    ax2.scatter([kb["k"]], [kb["silhouette"]], s=90, facecolor="none", edgecolor="#b8433c", lw=1.5, zorder=3)
    ax2.set_xlabel("クラスタ数 k")
    ax2.set_ylabel("平均シルエット係数")
    ax2.set_title("k の選択", fontsize=11)
    fig.tight_layout()
    if source:
        viz.source_note(fig, source, synthetic=synthetic)
    # per type, not per facility: a facility's exact EB rate is not published where its count is hidden
    lab = np.asarray(labels)
    ks = sorted(set(lab))
    types = pd.DataFrame({"類型": [f"類型{c}：{names.get(c, '')}" for c in ks],
                          "施設数": [int((lab == c).sum()) for c in ks],
                          "上顎前歯の割合の平均（%）": [float(features.loc[lab == c, x].mean()) for c in ks],
                          "有病者率の平均（%）": [float(features.loc[lab == c, y].mean()) for c in ks]})
    viz.figure_data(fig, types, caption=title,
                    kinds=D.no_persons("means over facilities", 類型=D.LABEL, 施設数=D.COUNT),
                    keys=[f"{r['類型']} {r['施設数']}施設 有病者率 {r['有病者率の平均（%）']:.1f}%"
                          for _, r in types.iterrows()])
    sel = pd.DataFrame({"クラスタ数 k": sil["k"].astype(int).to_numpy(),
                        "平均シルエット係数": sil["silhouette"].astype(float).to_numpy()})
    viz.figure_data(fig, sel, caption="クラスタ数の選択", kinds=D.no_persons("model fit", **{"クラスタ数 k": D.OTHER}),
                    keys=[f"k={int(kb['k'])}（平均シルエット係数 {kb['silhouette']:.2f}）"])
    return fig


#: column names of the odds-ratio table (cases.dental, its export behaviour_odds_ratios.csv keeps them) as the
#: report shows them: readers get 95%信頼区間 in words, not "95%CI"
CI_WORDS = {"95%CI下限": "95%信頼区間の下限", "95%CI上限": "95%信頼区間の上限"}


def odds_ratio_plot(tab: pd.DataFrame, *, title: str = "生活習慣とう蝕の関連（ロジスティック回帰、年齢調整）",
                    source: str = "", synthetic: bool = False):
    d = tab.iloc[::-1]
    fig, ax = plt.subplots(figsize=(7.8, 0.55 * len(d) + 1.6))
    yy = np.arange(len(d))
    ax.errorbar(d["オッズ比"], yy, xerr=[d["オッズ比"] - d["95%CI下限"], d["95%CI上限"] - d["オッズ比"]],
                fmt="o", color="#1f5a96", ecolor="#1f5a96", capsize=3)
    ax.axvline(1, color="#888888", lw=1, ls="--")
    ax.set_yticks(yy, d["要因"])
    _log_x(ax, subs=(1, 1.5, 2, 3, 5, 7))   # odds ratios span ~0.5-4: 1 and 2 alone left 3.05 unmarked
    ax.set_xlabel("オッズ比（対数目盛、95%信頼区間）")
    ax.set_title(title)
    if source:
        viz.source_note(fig, source, synthetic=synthetic)
    data = (tab[[c for c in ("要因", "オッズ比", "95%CI下限", "95%CI上限") if c in tab.columns]]
            .rename(columns=CI_WORDS).reset_index(drop=True))
    viz.figure_data(fig, data, caption=title, kinds=D.no_persons("model estimates", 要因=D.LABEL),
                    keys=viz.extremes(data, "要因", "オッズ比", "", "{:.2f}"))
    return fig
