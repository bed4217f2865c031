"""Figures for case 3 (probe slowdowns, sudden braking, accidents).

Static maps draw mesh cells in the city's plane CRS with the outlines and names of its areas (wards, or the
municipality itself; no web tiles); a map zooms to the data when they cover a small part of the city's
extent (islands such as 小笠原村). The offline
interactive map is in :mod:`ebpm_analysis.webmap` (shared with other cases).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import Patch

from .. import viz
from ..jpcalendar import DAY_TYPE_JA
from ..stats import disclosure as D

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


def _zoom_box(wards, focus, *, pad_m: float = 800.0, max_share: float = 0.2, trim: float = 0.0):
    """The box to show enlarged beside a city map: ``focus`` (cells to read, e.g. hot spots) padded by
    ``pad_m``, when it is under ``max_share`` of the city's box (otherwise the city map is readable as it is);
    ``None`` when no enlargement helps. ``trim`` > 0 boxes only the central part of ``focus`` (between the
    ``trim`` and 1 − ``trim`` quantiles of its centres): where most of them lie, leaving scattered ones to the
    city map."""
    if focus is None or not len(focus):
        return None
    b = wards.total_bounds
    if trim > 0:
        c = focus.geometry.centroid
        lo_x, hi_x = np.quantile(c.x, [trim, 1 - trim])
        lo_y, hi_y = np.quantile(c.y, [trim, 1 - trim])
        f = np.array([lo_x - pad_m, lo_y - pad_m, hi_x + pad_m, hi_y + pad_m])
    else:
        f = focus.total_bounds + np.array([-pad_m, -pad_m, pad_m, pad_m])
    w, h = f[2] - f[0], f[3] - f[1]
    side = max(w, h)   # square-ish, so that the enlarged panel keeps the map's scale in both directions
    cx, cy = (f[0] + f[2]) / 2, (f[1] + f[3]) / 2
    f = np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2])
    share = side * side / max((b[2] - b[0]) * (b[3] - b[1]), 1.0)
    return f if share < max_share else None


def _panels(zoom):
    """One map, or the city map and an enlarged panel side by side (≤ 9.9 in with legends: the page's main
    column, where 9-pt labels stay 9 pt; pipeline.render.check_text_sizes)."""
    if zoom is None:
        fig, ax = plt.subplots(figsize=(7.4, 6.6))
        return fig, ax, None
    fig, (ax, az) = plt.subplots(1, 2, figsize=(9.2, 5.6), gridspec_kw={"width_ratios": [1, 1]})
    return fig, ax, az


def _enlarged(ax, az, wards, box, title: str = "拡大図（黒い四角の範囲）") -> None:
    """Frame of the enlarged panel and the box that marks it on the city map."""
    from matplotlib.patches import Rectangle
    viz.outline(az, wards, label_col="name", fontsize=9)
    viz.map_axes(az)
    az.set_xlim(box[0], box[2])
    az.set_ylim(box[1], box[3])
    az.set_title(title, fontsize=11)
    viz.scale_bar(az)
    ax.add_patch(Rectangle((box[0], box[1]), box[2] - box[0], box[3] - box[1], facecolor="none", edgecolor="black",
                           linewidth=1.2, linestyle="--", zorder=5))


def mesh_choropleth(cells, column, wards, *, title, legend_title, source, synthetic, fmt="{:.0f}", k=5,
                    cmap=viz.SEQ_CMAP, bins=None, highlight=None, highlight_label=None, integer=False):
    """Classed map of a mesh value (quantile classes or given ``bins``) with ward outlines/names.

    Cells are drawn with an edge in their own colour so 125 m cells stay visible at city scale;
    ``highlight`` (GeoDataFrame) is outlined in black (e.g. Gi* hot spots) and, when the highlighted cells lie
    in a small part of the city, shown again enlarged in a second panel (at city scale a 125 m outline is a
    dot).
    """
    import mapclassify

    v = cells[column].astype(float)
    has = v.notna().to_numpy()
    vals = v[has].to_numpy()
    if bins is None:
        qs = np.unique(np.quantile(vals, np.linspace(0, 1, k + 1)[1:])) if len(vals) else np.array([1.0])
        bins = list(qs)
    cls = mapclassify.UserDefined(vals, bins=list(bins)).yb if len(vals) else np.array([], int)
    colors = plt.get_cmap(cmap)(np.linspace(0.2, 0.95, len(bins)))
    sub = cells[has]
    marked = highlight is not None and len(highlight)
    box = None
    if marked:   # the hot spots' box, or where most of them lie when they are spread over the city
        box = _zoom_box(wards, highlight)
        box = _zoom_box(wards, highlight, trim=0.15) if box is None else box
    fig, ax, az = _panels(box)

    def draw(target, edge):
        for i in range(len(bins)):
            part = sub[cls == i]
            if len(part):
                viz.layer(part, target, color=colors[i], edgecolor=colors[i], linewidth=edge, zorder=2)
        if marked:
            viz.layer(highlight, target, facecolor="none", edgecolor="black", linewidth=1.6 if target is ax else 2.2,
                           zorder=3)

    draw(ax, 1.2)
    _frame(ax, wards, cells)
    if az is not None:
        draw(az, 0.3)
        _enlarged(az=az, ax=ax, wards=wards, box=box)
    lows = [float(np.min(vals)) if len(vals) else 0.0] + [b + (1 if integer else 0) for b in bins[:-1]]
    labels = [fmt.format(bins[i]) if integer and lows[i] == bins[i] else f"{fmt.format(lows[i])}–{fmt.format(bins[i])}"
              for i in range(len(bins))]
    handles = [Patch(color=colors[i], label=labels[i]) for i in range(len(bins))]
    if marked:
        handles.append(Patch(facecolor="none", edgecolor="black", label=highlight_label or "強調"))
    if az is None:
        ax.legend(handles=handles, title=legend_title, loc="upper left", bbox_to_anchor=(1.0, 0.95), frameon=True,
                  framealpha=0.9, fontsize=9)
        viz.finish_map(ax, title, source, synthetic)
    else:
        fig.legend(handles=handles, title=legend_title, loc="lower center", ncol=min(3, len(handles)),
                   frameon=True, fontsize=9, bbox_to_anchor=(0.5, 0.02))
        viz.finish_map(ax, "市全体", None)
        fig.suptitle(title, fontsize=13, fontweight="bold")
        fig.subplots_adjust(left=0.02, right=0.98, top=0.87, bottom=0.2, wspace=0.05)
        viz.source_note(fig, source, synthetic=synthetic)
    where = cells["mesh"].astype(str) if "mesh" in cells.columns else pd.Series("", index=cells.index)
    if "ward" in cells.columns:
        where = cells["ward"].astype(str) + "のメッシュ " + where
    unit = legend_title[legend_title.find("（") + 1:legend_title.rfind("）")] if "（" in legend_title else ""
    keys = viz.extremes(cells.assign(_where=where), "_where", column, unit, fmt.replace("{:", "{:,"))[:1]
    keys.append(f"色のついたメッシュ {int(has.sum())}")
    extra = None
    if marked and "mesh" in cells.columns and "mesh" in highlight.columns:
        extra = {highlight_label or "強調": np.where(cells["mesh"].isin(set(highlight["mesh"])), "○", "")}
    if marked:
        keys.append(f"{highlight_label or '強調'} {len(highlight)}メッシュ")
    _mesh_data(fig, cells, {column: legend_title}, caption=title, keys=keys, extra=extra)
    return fig


def _mesh_data(fig, cells, columns: dict, *, caption: str, keys=(), extra: dict | None = None):
    """Record a mesh map's data: the mesh code, the area (``ward``) when known and ``columns`` (column →
    heading), kinds from :func:`ebpm_analysis.cases.probe.probe_kinds`; ``extra`` adds label columns."""
    from ..cases.probe import probe_kinds
    cols = {c: h for c, h in {"mesh": "メッシュコード", "ward": "地域", **columns}.items() if c in cells.columns}
    data = pd.DataFrame(cells[list(cols)]).rename(columns=cols)
    for head, values in (extra or {}).items():
        data[head] = values
    kinds = probe_kinds(list(cols), shown_as=cols) | dict.fromkeys(extra or {}, D.LABEL)
    viz.figure_data(fig, data.reset_index(drop=True), caption=caption, kinds=kinds, keys=list(keys))


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

    fig, axes = plt.subplots(1, 2, figsize=(9.2, 5.2))
    bins = [10, 25, 50, 75, 100]
    colors = plt.get_cmap(viz.SEQ_CMAP)(np.linspace(0.15, 0.95, len(bins)))
    for ax, col, ttl in ((axes[0], "share_slow_peak", f"平日ピーク（{_hours_label(peak_hours)}）"),
                         (axes[1], "share_slow_offpeak", "平日オフピーク（10–16時）")):
        v = cells[col] * 100
        has = v.notna()
        cls = mapclassify.UserDefined(v[has].to_numpy(), bins=bins).yb if has.any() else np.array([], int)
        viz.layer(cells[~has], ax, color="#eeeeee", linewidth=0)
        sub = cells[has]
        for i in range(len(bins)):
            part = sub[cls == i]
            if len(part):
                viz.layer(part, ax, color=colors[i], linewidth=0)
        _frame(ax, wards, cells)
        ax.set_title(ttl, fontsize=12)
        viz.north_arrow(ax)
        viz.scale_bar(ax)
    lows = [0] + bins[:-1]
    handles = [Patch(color=colors[i], label=f"{lows[i]}–{bins[i]}%") for i in range(len(bins))]
    handles.append(Patch(color="#eeeeee", label="記録少（秘匿）"))
    fig.legend(handles=handles, title=f"{congested_kmh:g} km/h以下の記録の割合", loc="lower center",
               ncol=3, frameon=False, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle(f"プローブ走行記録に占める低速（{congested_kmh:g} km/h以下）の割合：平日ピーク対オフピーク",
                 fontsize=13, fontweight="bold")
    viz.source_note(fig, source, synthetic=synthetic)
    fig.subplots_adjust(bottom=0.16)
    peak, off = (f"{congested_kmh:g} km/h以下の記録の割合（%、{t}）" for t in ("平日ピーク", "平日オフピーク"))
    pct = cells.assign(share_slow_peak=cells["share_slow_peak"] * 100,
                       share_slow_offpeak=cells["share_slow_offpeak"] * 100)
    keys = [f"{t} 平均 {v:.1f}%" for t, v in (("平日ピーク", pct["share_slow_peak"].mean()),
                                              ("平日オフピーク", pct["share_slow_offpeak"].mean())) if pd.notna(v)]
    keys += [f"平日ピークに50%以上のメッシュ {int((pct['share_slow_peak'] >= 50).sum())}"]
    _mesh_data(fig, pct, {"share_slow_peak": peak, "share_slow_offpeak": off}, caption="低速記録の割合（メッシュ別）",
               keys=keys)
    return fig


def spots_map(spots, wards, *, source, synthetic=True, top_n=30, with_accidents=True, labelled=10):
    """Ranked spots by class (mesh cells enlarged to markers so they stay visible at city scale);
    ``with_accidents=False`` (no police records) leaves the accident class out of the legend title. The first
    ``labelled`` ranks are numbered; when they lie in a small part of the city they are numbered on an
    enlarged second panel, where the numbers do not overlap."""
    import matplotlib.patheffects as pe

    top = spots.head(labelled)
    box = _zoom_box(wards, top)
    fig, ax, az = _panels(box)
    cent = spots.geometry.centroid

    def draw(target, scale):
        for cls, color in CLASS_COLORS.items():
            sel = (spots["class"] == cls).to_numpy()
            if sel.any():
                size = (18 + 3 * np.sqrt(spots.loc[sel, "n_accidents"].to_numpy() + 1) * 6) * scale
                target.scatter(cent.x[sel], cent.y[sel], s=size, color=color, alpha=0.8, edgecolor="white",
                               linewidth=0.5, label=CLASS_LABELS[cls], zorder=3)

    draw(ax, 1.0)
    _frame(ax, wards, spots)
    label_on = ax if az is None else az
    if az is not None:
        draw(az, 2.0)
        _enlarged(ax=ax, az=az, wards=wards, box=box, title=f"拡大図：上位{len(top)}か所（黒い四角の範囲）")
    for _, r in top.iterrows():
        c = r.geometry.centroid
        label_on.annotate(str(r["rank"]), (c.x, c.y), xytext=(5, 5), textcoords="offset points", fontsize=10,
                          fontweight="bold", zorder=6, path_effects=[pe.withStroke(linewidth=3, foreground="white")])
    legend_title = "箇所の分類（円の大きさ＝事故件数）" if with_accidents else "箇所の分類"
    title = ("急減速・渋滞・事故を重ねた要対策箇所（地域メッシュ）" if with_accidents
             else "急減速・渋滞を重ねた要対策箇所（地域メッシュ）")
    if az is None:
        ax.legend(title=legend_title, loc="upper left", bbox_to_anchor=(1.0, 0.95), frameon=True, framealpha=0.9,
                  fontsize=9)
        viz.finish_map(ax, title, source, synthetic)
    else:
        handles, labels = ax.get_legend_handles_labels()
        fig.legend(handles, labels, title=legend_title, loc="lower center", ncol=min(3, len(handles)),
                   frameon=True, fontsize=9, bbox_to_anchor=(0.5, 0.02))
        viz.finish_map(ax, "市全体", None)
        fig.suptitle(title, fontsize=13, fontweight="bold")
        fig.subplots_adjust(left=0.02, right=0.98, top=0.87, bottom=0.2, wspace=0.05)
        viz.source_note(fig, source, synthetic=synthetic)
    cols = {"rank": "順位", "class_label": "分類", "n_accidents": "事故（件）", "rate_per_1000": "急減速（件／千通過）"}
    if not with_accidents:
        cols.pop("n_accidents")
    shown = spots.assign(class_label=spots["class"].map(CLASS_LABELS).fillna(spots["class"].astype(str)))
    counts = shown["class_label"].value_counts()
    keys = [f"{lab} {int(counts.get(lab, 0))}か所" for lab in CLASS_LABELS.values() if counts.get(lab, 0)]
    _mesh_data(fig, shown, cols, caption=title, keys=keys)
    return fig


def hourly_profile_chart(profile, *, source, synthetic=True, congested_kmh=20):
    """Share of slow records (%) and mean speed (km/h) by hour, weekdays and holidays: two panels on one time
    axis (two units never share a value axis), both from zero, legends above the data."""
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6.4), sharex=True)
    for dt, color, marker in (("weekday", viz.PALETTE[0], "o"), ("holiday", viz.PALETTE[1], "s")):
        p = profile[profile["day_type"] == dt]
        ax1.plot(p["hour"], p["share_slow"] * 100, marker=marker, ms=3.5, color=color, label=DAY_TYPE_JA[dt])
        ax2.plot(p["hour"], p["mean_speed"], marker=marker, ms=3.5, color=color, label=DAY_TYPE_JA[dt])
    top1 = float(np.nanmax(profile["share_slow"].to_numpy(dtype=float)) * 100) if len(profile) else 1.0
    ax1.set_ylim(0, max(top1, 1.0) * 1.15)
    top2 = float(np.nanmax(profile["mean_speed"].to_numpy(dtype=float))) if len(profile) else 1.0
    ax2.set_ylim(0, max(top2, 1.0) * 1.15)
    ax1.set_ylabel(f"{congested_kmh:g} km/h以下の\n記録の割合（%）")
    ax2.set_ylabel("平均速度（km/h）")
    ax2.set_xlabel("時台（時）")
    ax2.set_xticks(range(0, 24, 2))
    ax1.set_title("時間帯別の低速記録の割合と平均速度（市全体）")
    handles, labels = ax1.get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", ncol=2, fontsize=9, frameon=False, bbox_to_anchor=(0.98, 0.99))
    fig.subplots_adjust(hspace=0.12, top=0.9, bottom=0.15)
    viz.source_note(fig, source, synthetic=synthetic)
    data = pd.DataFrame({"日種": profile["day_type"].map(DAY_TYPE_JA).to_numpy(),
                         "時台（時）": profile["hour"].to_numpy(),
                         f"{congested_kmh:g} km/h以下の割合（%）": profile["share_slow"].to_numpy(dtype=float) * 100,
                         "平均速度（km/h）": profile["mean_speed"].to_numpy(dtype=float)})
    slow = f"{congested_kmh:g} km/h以下の割合（%）"
    viz.figure_data(fig, data, caption="時間帯別の低速記録の割合と平均速度",
                    kinds={"日種": D.LABEL, "時台（時）": D.LABEL, slow: D.OTHER, "平均速度（km/h）": D.OTHER},
                    keys=viz.extremes(data.assign(時=data["日種"] + data["時台（時）"].astype(str) + "時台"), "時",
                                      slow, "%")[:1])
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
    ax.set_ylim(0, max(float(bottom.max()) if len(bottom) else 0.0, 1.0) * 1.1)   # the tallest bar met the frame
    ax.set_title("時間帯別の人身事故件数（昼夜別）")
    ax.legend(title="昼夜（本票の区分）", loc="upper left")   # upper right covered the evening peak (17-18時)
    viz.source_note(fig, source)
    data = h.reset_index().rename(columns={"hour": "発生時台（時）"})
    data = data.assign(計=data.drop(columns="発生時台（時）").sum(axis=1))
    viz.figure_data(fig, data, caption="時間帯別の人身事故件数（昼夜別）",
                    kinds=D.public_records("police records", **{"発生時台（時）": D.LABEL}),
                    keys=viz.extremes(data.assign(時=data["発生時台（時）"].astype(str) + "時台"), "時", "計", "件",
                                      "{:,.0f}")[:1])
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
    data = by_group.copy()
    data.columns = [f"{c}年（件）" for c in data.columns]
    data = data.reset_index(drop=True).assign(**{area_word: [str(names.get(c, c)) for c in by_group.index]})
    data = data[[area_word, *data.columns[:-1]]]
    totals = by_group.sum(axis=0)
    keys = [f"合計 {totals.index[0]}年 {totals.iloc[0]:,.0f}件 → {totals.index[-1]}年 {totals.iloc[-1]:,.0f}件"] \
        if len(totals) > 1 else []
    viz.figure_data(fig, data, caption=f"{area_word}別の人身事故件数の推移",
                    kinds=D.public_records("police records", **{area_word: D.LABEL}), keys=keys)
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
    data = pd.DataFrame({"事故類型": types["accident_type"].to_numpy(), "事故件数（件）": types["n"].to_numpy(),
                         "割合（%）": types["share"].to_numpy(dtype=float) * 100})
    viz.figure_data(fig, data, caption="事故類型別の人身事故件数",
                    kinds={"事故類型": D.LABEL, "事故件数（件）": D.PUBLIC, "割合（%）": D.share("事故件数（件）")},
                    keys=[f"{r['事故類型']} {r['事故件数（件）']:,}件（{r['割合（%）']:.1f}%）"
                          for _, r in data.sort_values("事故件数（件）", ascending=False).head(2).iterrows()])
    return fig
