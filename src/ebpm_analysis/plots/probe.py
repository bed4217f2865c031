"""Figures for case 3 (probe slowdowns, sudden braking, accidents).

Static maps draw mesh cells in the city's plane CRS with the outlines and names of its areas (wards, or the
municipality itself; no web tiles); a map zooms to the data when they cover a small part of the city's
extent (islands such as 小笠原村). The offline
interactive map is in :mod:`ebpm_analysis.webmap` (shared with other cases).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Patch

from .. import viz
from ..jpcalendar import DAY_TYPE_JA

CLASS_COLORS = {"known_danger": "#b8433c", "latent_risk": "#d9822b", "congestion_only": "#1f5a96"}
CLASS_LABELS = {"known_danger": "既知の危険箇所（事故多発）", "latent_risk": "潜在的危険箇所（急減速多発・事故少）",
                "congestion_only": "渋滞のみ"}


def _frame(ax, wards, focus=None):
    viz.outline(ax, wards, label_col="name", fontsize=9)
    viz.map_axes(ax)
    ax.set_xlabel("")
    ax.set_ylabel("")
    b = map_bounds(wards, focus)
    ax.set_xlim(b[0] - 500, b[2] + 500)
    ax.set_ylim(b[1] - 500, b[3] + 500)


def map_bounds(wards, focus=None, *, pad_m: float = 1500.0, max_share: float = 0.25):
    """Extent of a map: the city's, or the data's (``focus``, a GeoDataFrame in the same CRS, padded by
    ``pad_m``) when that box is under ``max_share`` of the city's box (a city of scattered islands)."""
    b = wards.total_bounds
    if focus is None or not len(focus):
        return b
    f = focus.total_bounds + np.array([-pad_m, -pad_m, pad_m, pad_m])
    share = (f[2] - f[0]) * (f[3] - f[1]) / max((b[2] - b[0]) * (b[3] - b[1]), 1.0)
    return f if share < max_share else b


def mesh_choropleth(cells, column, wards, *, title, legend_title, source, synthetic, fmt="{:.0f}", k=5,
                    cmap=viz.SEQ_CMAP, bins=None, highlight=None, highlight_label=None, integer=False):
    """Classed map of a mesh value (quantile classes or given ``bins``) with ward outlines/names.

    Cells are drawn with an edge in their own colour so 125 m cells stay visible at city scale;
    ``highlight`` (GeoDataFrame) is outlined in black (e.g. Gi* hot spots).
    """
    import mapclassify

    fig, ax = plt.subplots(figsize=(8.5, 7.5))
    v = cells[column].astype(float)
    has = v.notna().to_numpy()
    vals = v[has].to_numpy()
    if bins is None:
        qs = np.unique(np.quantile(vals, np.linspace(0, 1, k + 1)[1:])) if len(vals) else np.array([1.0])
        bins = list(qs)
    cls = mapclassify.UserDefined(vals, bins=list(bins)).yb if len(vals) else np.array([], int)
    colors = plt.get_cmap(cmap)(np.linspace(0.2, 0.95, len(bins)))
    sub = cells[has]
    for i in range(len(bins)):
        part = sub[cls == i]
        if len(part):
            part.plot(ax=ax, color=colors[i], edgecolor=colors[i], linewidth=1.2, zorder=2)
    if highlight is not None and len(highlight):
        highlight.plot(ax=ax, facecolor="none", edgecolor="black", linewidth=1.6, zorder=3)
    _frame(ax, wards, cells)
    lows = [float(np.min(vals)) if len(vals) else 0.0] + [b + (1 if integer else 0) for b in bins[:-1]]
    labels = [fmt.format(bins[i]) if integer and lows[i] == bins[i] else f"{fmt.format(lows[i])}–{fmt.format(bins[i])}"
              for i in range(len(bins))]
    handles = [Patch(color=colors[i], label=labels[i]) for i in range(len(bins))]
    if highlight is not None and len(highlight):
        handles.append(Patch(facecolor="none", edgecolor="black", label=highlight_label or "強調"))
    ax.legend(handles=handles, title=legend_title, loc="upper left", bbox_to_anchor=(1.0, 0.95), frameon=True,
              framealpha=0.9, fontsize=9)
    viz.finish_map(ax, title, source, synthetic)
    return fig


def _hours_label(hours) -> str:
    """(7, 8, 17, 18) → 7–9時・17–19時 (runs of consecutive hours)."""
    hs, runs = sorted(int(h) for h in hours), []
    for h in hs:
        if runs and h == runs[-1][1]:
            runs[-1][1] = h + 1
        else:
            runs.append([h, h + 1])
    return "・".join(f"{a}–{b}時" for a, b in runs)


def peak_offpeak_maps(cells, wards, *, source, synthetic=True, congested_kmh=20, peak_hours=(7, 8, 17, 18)):
    """Two panels: weekday peak vs off-peak share of records ≤ congested_kmh, same classes."""
    import mapclassify

    fig, axes = plt.subplots(1, 2, figsize=(13, 6.2))
    bins = [10, 25, 50, 75, 100]
    colors = plt.get_cmap(viz.SEQ_CMAP)(np.linspace(0.15, 0.95, len(bins)))
    for ax, col, ttl in ((axes[0], "share_slow_peak", f"平日ピーク（{_hours_label(peak_hours)}）"),
                         (axes[1], "share_slow_offpeak", "平日オフピーク（10–16時）")):
        v = cells[col] * 100
        has = v.notna()
        cls = mapclassify.UserDefined(v[has].to_numpy(), bins=bins).yb if has.any() else np.array([], int)
        cells[~has].plot(ax=ax, color="#eeeeee", linewidth=0)
        sub = cells[has]
        for i in range(len(bins)):
            part = sub[cls == i]
            if len(part):
                part.plot(ax=ax, color=colors[i], linewidth=0)
        _frame(ax, wards, cells)
        ax.set_title(ttl, fontsize=12)
        viz.north_arrow(ax)
        viz.scale_bar(ax)
    lows = [0] + bins[:-1]
    handles = [Patch(color=colors[i], label=f"{lows[i]}–{bins[i]}%") for i in range(len(bins))]
    handles.append(Patch(color="#eeeeee", label="記録少（秘匿）"))
    fig.legend(handles=handles, title=f"{congested_kmh:g} km/h以下の記録の割合", loc="lower center",
               ncol=len(handles), frameon=False, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(f"プローブ走行記録に占める低速（{congested_kmh:g} km/h以下）の割合：平日ピーク対オフピーク",
                 fontsize=13, fontweight="bold")
    viz.source_note(fig, source, synthetic=synthetic)
    fig.subplots_adjust(bottom=0.1)
    return fig


def spots_map(spots, wards, *, source, synthetic=True, top_n=30, with_accidents=True):
    """Ranked spots by class (mesh cells enlarged to markers so they stay visible at city scale);
    ``with_accidents=False`` (no police records) leaves the accident class out of the legend title."""
    fig, ax = plt.subplots(figsize=(8.5, 7.5))
    cent = spots.geometry.centroid
    for cls, color in CLASS_COLORS.items():
        sel = (spots["class"] == cls).to_numpy()
        if sel.any():
            ax.scatter(cent.x[sel], cent.y[sel], s=18 + 3 * np.sqrt(spots.loc[sel, "n_accidents"].to_numpy() + 1) * 6,
                       color=color, alpha=0.8, edgecolor="white", linewidth=0.5, label=CLASS_LABELS[cls], zorder=3)
    top = spots.head(top_n)
    for _, r in top.head(10).iterrows():
        c = r.geometry.centroid
        ax.annotate(str(r["rank"]), (c.x, c.y), xytext=(4, 4), textcoords="offset points", fontsize=8, zorder=4)
    _frame(ax, wards, spots)
    ax.legend(title="箇所の分類（円の大きさ＝事故件数）" if with_accidents else "箇所の分類", loc="upper left",
              bbox_to_anchor=(1.0, 0.95), frameon=True,
              framealpha=0.9, fontsize=9)
    viz.finish_map(ax, "急減速・渋滞・事故を重ねた要対策箇所（地域メッシュ）" if with_accidents
                   else "急減速・渋滞を重ねた要対策箇所（地域メッシュ）", source, synthetic)
    return fig


def hourly_profile_chart(profile, *, source, synthetic=True, congested_kmh=20):
    fig, ax1 = plt.subplots(figsize=(8, 4.5))
    for dt, color in (("weekday", viz.PALETTE[0]), ("holiday", viz.PALETTE[1])):
        p = profile[profile["day_type"] == dt]
        ax1.plot(p["hour"], p["share_slow"] * 100, marker="o", ms=3, color=color,
                 label=f"{DAY_TYPE_JA[dt]}：{congested_kmh:g} km/h以下の割合")
        ax1.plot(p["hour"], p["mean_speed"], linestyle="--", color=color, alpha=0.7,
                 label=f"{DAY_TYPE_JA[dt]}：平均速度")
    ax1.set_xlabel("時台（時）")
    ax1.set_ylabel("低速記録の割合（%）／平均速度（km/h）")
    ax1.set_xticks(range(0, 24, 2))
    ax1.set_title("時間帯別の低速記録の割合と平均速度（市全体）")
    ax1.legend(fontsize=8, ncol=2, loc="upper left")
    viz.source_note(fig, source, synthetic=synthetic)
    return fig


def accident_hour_chart(hour_night, *, source):
    fig, ax = plt.subplots(figsize=(8, 4.2))
    h = hour_night.set_index("hour")
    bottom = np.zeros(len(h))
    for col, color in (("昼", viz.PALETTE[1]), ("夜", viz.PALETTE[0])):
        if col in h:
            ax.bar(h.index, h[col], bottom=bottom, color=color, label=col)
            bottom += h[col].to_numpy()
    ax.set_xlabel("発生時台（時）")
    ax.set_ylabel("事故件数（件）")
    ax.set_xticks(range(0, 24, 2))
    ax.set_title("時間帯別の人身事故件数（昼夜別）")
    ax.legend(title="昼夜（本票の区分）")
    viz.source_note(fig, source)
    return fig


def accident_trend_chart(by_group, names: dict, *, source, area_word: str = "区"):
    fig, ax = plt.subplots(figsize=(8, 4.2))
    for i, (code, row) in enumerate(by_group.iterrows()):
        ax.plot(row.index.astype(str), row.to_numpy(), marker="o", color=viz.PALETTE[i % len(viz.PALETTE)],
                label=names.get(code, code))
    ax.set_xlabel("発生年")
    ax.set_ylabel("事故件数（件）")
    ax.set_ylim(bottom=0)
    ax.set_title(f"{area_word}別の人身事故件数の推移")
    ax.legend(ncol=3, fontsize=9)
    viz.source_note(fig, source)
    return fig


def accident_type_chart(types, *, source):
    fig, ax = plt.subplots(figsize=(7, 3.2))
    t = types.sort_values("n")
    ax.barh(t["accident_type"], t["n"], color=viz.PALETTE[0])
    for y, (n, s) in enumerate(zip(t["n"], t["share"], strict=True)):
        ax.text(n, y, f" {n:,}件（{s * 100:.1f}%）", va="center", fontsize=9)
    ax.set_xlabel("事故件数（件）")
    ax.set_ylabel("事故類型")
    ax.set_xlim(0, t["n"].max() * 1.3)
    ax.set_title("事故類型別の人身事故件数")
    viz.source_note(fig, source)
    return fig
