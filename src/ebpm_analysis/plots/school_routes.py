"""Figures for the school-route case (house style via :mod:`ebpm_analysis.viz`).

Only aggregated, disclosure-controlled values are drawn: crossings (public places), designated
route segments (public), school sites (public). No tracks, no homes, no device positions.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import Normalize
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .. import viz
from ..cases.school_routes import bin_label
from ..stats import disclosure as D


def heatmap(values, mask, labels, windows: dict, *, source: str, synthetic: bool, bin_minutes: int = 5,
            min_cell: int = 10):
    """Crossing × 5-minute bin heat map, one panel per window (朝 / 午後). Suppressed cells hatched."""
    panels = [(k, lo, hi) for k, (lo, hi) in windows.items()]
    widths = [(hi - lo) for _, lo, hi in panels]
    n = len(values)
    fig, axes = plt.subplots(1, len(panels), figsize=(8.6, 1.6 + 0.38 * n), sharey=True,
                             gridspec_kw={"width_ratios": widths, "wspace": 0.04})
    axes = np.atleast_1d(axes)
    vmax = float(np.nanmax(values.to_numpy(dtype=float, na_value=np.nan))) if n else 1.0
    norm = Normalize(0, max(vmax, 1.0))
    cmap = plt.get_cmap(viz.SEQ_CMAP)
    titles = {"morning": "登校（朝）", "afternoon": "下校（午後）"}
    im = None
    for ax, (key, lo, hi) in zip(axes, panels, strict=True):
        cols = [b for b in values.columns if lo <= b < hi]
        arr = values[cols].to_numpy(dtype=float, na_value=np.nan)
        im = ax.imshow(np.ma.masked_invalid(arr), aspect="auto", cmap=cmap, norm=norm, interpolation="nearest",
                       extent=(lo, hi, n, 0))
        m = mask[cols].to_numpy() if len(cols) else np.zeros((n, 0), bool)
        for i, j in zip(*np.nonzero(m), strict=True):
            ax.add_patch(plt.Rectangle((cols[j], i), bin_minutes, 1, facecolor="#e5e5e5", edgecolor="#aaaaaa",
                                       hatch="///", linewidth=0))
        ticks = list(range(lo, hi, 30))
        ax.set_xticks(ticks)
        ax.set_xticklabels([bin_label(t) for t in ticks], fontsize=9)
        ax.set_xlabel("時刻（5分ごと）")
        ax.set_title(titles.get(key, key), fontsize=11)
        ax.grid(False)
    axes[0].set_yticks(np.arange(n) + 0.5)
    axes[0].set_yticklabels(labels, fontsize=9)
    axes[0].set_ylabel("交差点（混雑順）")
    cb = fig.colorbar(im, ax=axes.tolist(), fraction=0.025, pad=0.01)
    cb.set_label("見守り対象の児童数（人／5分、平日平均）")
    handles = [Patch(facecolor="#e5e5e5", edgecolor="#aaaaaa", hatch="///", label=f"秘匿（延べ{min_cell}人未満）")]
    fig.legend(handles=handles, loc="upper right", bbox_to_anchor=(0.9, 1.0), fontsize=9)
    fig.suptitle("混雑する交差点と時間帯（5分ごとの児童数）", fontsize=13, fontweight="bold", x=0.45, y=1.0)
    viz.source_note(fig, source, synthetic=synthetic)
    head = "見守り対象の児童数（人／5分、平日平均）"
    drawn = values.astype(float).mask(mask.reindex_like(values).fillna(False).astype(bool))
    data = (drawn.set_axis(list(labels)).rename_axis("交差点").reset_index()
            .melt(id_vars="交差点", var_name="bin", value_name=head))
    period = {"morning": "朝", "afternoon": "午後"}
    data.insert(1, "時間帯", [next((period.get(k, k) for k, lo, hi in panels if lo <= b < hi), "")
                            for b in data["bin"]])
    data.insert(2, "時刻", [bin_label(b) for b in data.pop("bin")])
    data = data[data["時間帯"] != ""].reset_index(drop=True)
    peak = data.dropna(subset=[head]).sort_values(head, ascending=False).head(1)
    keys = [f"最も多い5分間 {r['交差点']} {r['時間帯']}{r['時刻']} {r[head]:.1f}人" for _, r in peak.iterrows()]
    keys.append(f"秘匿セル {int(mask.to_numpy().sum())}")
    viz.figure_data(fig, data, caption="交差点×5分ごとの児童数",
                    kinds=D.no_persons("means per school day, hidden where fewer than min_cell children were seen",
                                       交差点=D.LABEL, 時間帯=D.LABEL, 時刻=D.LABEL), keys=keys)
    return fig


def _fit_figure(fig, ax, width: float, extra: float = 1.0, share: float = 1.0):
    """Set the figure height to the map's aspect so no blank band is left above/below it."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    fig.set_size_inches(width, min(12.0, width * share * (y1 - y0) / (x1 - x0) * 0.92 + extra))


def _ward_labels(ax, wards, fontsize=10):
    """Ward names at a point inside the visible part of each ward (after the extent is set)."""
    import shapely
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    box = shapely.box(x0, y0, x1, y1)
    for _, w in wards.iterrows():
        part = w.geometry.intersection(box)
        if part.is_empty or part.area < 0.02 * box.area:
            continue
        p = part.representative_point()
        ax.annotate(str(w["name"]), (p.x, p.y), ha="center", va="center", fontsize=fontsize, color="#333333",
                    fontweight="bold", zorder=4, bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.6))


def _extent(ax, xs, ys, pad=350):
    ax.set_xlim(min(xs) - pad, max(xs) + pad)
    ax.set_ylim(min(ys) - pad, max(ys) + pad)


def _name_points(ax, schools, top, school_pts, crossing_pts, circles, legend, vmax):
    """The crossings' ranks and the schools' names, placed once the map's layout is final (colour bar, legend):
    a rank sits on its crossing unless it would cover another crossing or rank (then beside it, with a leader
    line); a school's name goes beside its square where it covers no crossing, volunteer circle, rank, area
    name, other school or the legend (it was drawn at a fixed offset, under the markers of nearby crossings)."""
    renderer = ax.figure.canvas.get_renderer()
    fixed = [viz.label_box(t, renderer) for t in ax.texts]   # area names, scale bar, north arrow
    crossing_boxes = viz.point_boxes(crossing_pts)
    ranks = [ax.annotate(str(int(r["rank"])), (r["x"], r["y"]), xytext=(0, 0), textcoords="offset points",
                         fontsize=9, fontweight="bold", zorder=8, gid="crossing-rank",
                         color="white" if r["peak_mean"] > 0.6 * vmax else "black",
                         bbox=dict(boxstyle="round,pad=0.1", fc="none", ec="none", lw=0.6))   # shown if moved
             for _, r in top.iterrows()]
    moved = viz.place_labels(ax, ranks, avoid=crossing_boxes + fixed, own=crossing_boxes)
    px = 72.0 / ax.figure.dpi
    for ann, box, m in zip(ranks, crossing_boxes, moved, strict=True):
        if not m:
            continue
        ann.set_color("black")
        ann.get_bbox_patch().set_facecolor("white")
        ann.get_bbox_patch().set_edgecolor("#552200")
        ax.annotate("", ann.xy, xytext=ann.xyann, textcoords="offset points", zorder=7.5,
                    arrowprops=dict(arrowstyle="-", color="#552200", lw=0.8, shrinkA=0,
                                    shrinkB=box.width * px / 2))
    school_boxes = viz.point_boxes(school_pts)
    names = [ax.annotate(s["school_name"], (s["x"], s["y"]), xytext=(0, 0), textcoords="offset points",
                         fontsize=9, annotation_clip=True,   # a school outside the map's extent: no label
                         color="#1f3f66", fontweight="bold", zorder=9, gid="school-name",
                         bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))
             for _, s in schools.iterrows()]
    avoid = (crossing_boxes + [b for c in circles for b in viz.point_boxes(c)] + school_boxes + fixed
             + [viz.label_box(a, renderer) for a in ranks] + [legend.get_window_extent(renderer)])
    viz.place_labels(ax, names, avoid=avoid, own=school_boxes, on_point=False)


def crossings_map(wards, segments, schools, top, volunteers, *, source: str, synthetic: bool, min_cell: int = 10,
                  area_word: str = "区"):
    """Map: area outlines (``area_word``: 区, or 市/町/村 for a city without wards), designated routes,
    schools, top crowded crossings (size/colour = peak count, number = rank) and the proposed volunteer
    positions (``volunteers``: {period: frame with x, y}). All frames in the city's plane CRS."""
    fig, ax = plt.subplots(figsize=(9, 8.5))
    viz.layer(wards, ax, color="#f4f4f0", edgecolor="none")
    viz.layer(segments, ax, color="#7fa7cf", linewidth=1.6, zorder=2)
    viz.outline(ax, wards, label_col=None)
    school_pts = ax.scatter(schools["x"], schools["y"], marker="s", s=120, color="#1f5a96", edgecolor="white",
                            zorder=5)
    vmax = float(top["peak_mean"].max()) if len(top) else 1.0
    norm = Normalize(0, vmax)
    sc = ax.scatter(top["x"], top["y"], s=25 + 8 * top["peak_mean"], c=top["peak_mean"], cmap=viz.SEQ_CMAP,
                    norm=norm, edgecolor="#552200", linewidth=0.6, zorder=7)
    vol_styles = {"morning": ("#3a8f5c", 420, "見守りボランティア配置案（朝）"),
                  "afternoon": ("#7a5ea8", 700, "見守りボランティア配置案（午後）")}
    vol_handles, circles = [], []
    for period, vf in (volunteers or {}).items():
        if vf is None or not len(vf):
            continue
        color, size, label = vol_styles.get(period, ("#3a8f5c", 420, "見守りボランティア配置案"))
        circles.append(ax.scatter(vf["x"], vf["y"], s=size, facecolor="none", edgecolor=color, linewidth=2.2,
                                  zorder=6))
        vol_handles.append(Line2D([], [], marker="o", markerfacecolor="none", markeredgecolor=color,
                                  markeredgewidth=2, linestyle="none", markersize=13 if size < 500 else 17,
                                  label=label))
    xs = list(schools["x"]) + list(top["x"])
    ys = list(schools["y"]) + list(top["y"])
    b = segments.total_bounds
    _extent(ax, xs + [b[0], b[2]], ys + [b[1], b[3]])
    _fit_figure(fig, ax, width=9.0, extra=0.6, share=0.82)
    _ward_labels(ax, wards, fontsize=11)
    viz.map_axes(ax)
    cb = fig.colorbar(sc, ax=ax, fraction=0.035, pad=0.01)
    cb.set_label("ピーク5分間の児童数（人、平日平均）")
    handles = [
        Line2D([], [], marker="s", color="#1f5a96", linestyle="none", markersize=9, label="小学校"),
        Line2D([], [], color="#7fa7cf", linewidth=2, label="指定通学路"),
        Line2D([], [], marker="o", color="#f08c3c", markeredgecolor="#552200", linestyle="none", markersize=9,
               label="混雑交差点（数字＝順位）"),
        *vol_handles,
        Line2D([], [], color="#333333", linewidth=1, label=f"{area_word}界"),
    ]
    legend = ax.legend(handles=handles, loc="lower left", frameon=True, framealpha=0.9, fontsize=9)
    ax.set_title("混雑交差点と見守りボランティアの配置案")
    viz.north_arrow(ax)
    viz.scale_bar(ax, loc=(0.04, 0.94))
    _name_points(ax, schools, top, school_pts, sc, circles, legend, vmax)
    viz.source_note(fig, source + f"。延べ{min_cell}人未満の交差点は表示していません", synthetic=synthetic)
    head = "ピーク5分間の児童数（人、平日平均）"
    data = pd.DataFrame({"順位": top["rank"].astype(int).to_numpy(),
                         "交差点ID": top["crossing_id"].astype(str).to_numpy(),
                         head: top["peak_mean"].astype(float).to_numpy()})
    period = {"morning": "朝", "afternoon": "午後"}
    vol = pd.DataFrame([{"時間帯": period.get(p, p), "順": int(r["order"]) if "order" in vf else i + 1,
                         "交差点ID": str(r["crossing_id"])}
                        for p, vf in (volunteers or {}).items() if vf is not None
                        for i, (_, r) in enumerate(vf.iterrows())], columns=["時間帯", "順", "交差点ID"])
    keys = [f"1位 {r['交差点ID']} {r[head]:.1f}人" for _, r in data.head(1).iterrows()]
    keys += [f"見守りボランティア配置案（{p}） {int((vol['時間帯'] == p).sum())}か所" for p in vol["時間帯"].unique()]
    viz.figure_data(fig, data, caption="混雑交差点",
                    kinds=D.no_persons("ranks and means per school day of crossings shown", 交差点ID=D.LABEL),
                    keys=keys)
    if len(vol):
        viz.figure_data(fig, vol, caption="見守りボランティアの配置案",
                        kinds=D.no_persons("placement order", 時間帯=D.LABEL, 交差点ID=D.LABEL))
    return fig


SHARE_CLASSES = [(0.0, 0.05, "#9fb3c8", 1.6, "5%未満"), (0.05, 0.10, "#f4a259", 3.0, "5–10%"),
                 (0.10, 0.20, "#d9482b", 3.6, "10–20%"), (0.20, 1.01, "#7a0c2e", 4.2, "20%以上")]


def offroute_map(wards, segments_share, schools, *, source: str, synthetic: bool, top: int = 8,
                 min_cell: int = 10):
    """Designated route segments classed by the share of fixes off the route; bars for the top segments."""
    # the map above the bars (side by side, at 12.5 in, both were shown at ~7 pt on the page)
    fig, (ax, axb) = plt.subplots(2, 1, figsize=(9.2, 11.5),
                                  gridspec_kw={"height_ratios": [2.3, 1], "hspace": 0.12})
    viz.layer(wards, ax, color="#f4f4f0", edgecolor="none")
    viz.outline(ax, wards, label_col=None)
    shown = segments_share[~segments_share["suppressed"]]
    hidden = segments_share[segments_share["suppressed"]]
    if len(hidden):
        viz.layer(hidden, ax, color="#bbbbbb", linewidth=1.2, linestyle="--", zorder=2)
    handles = []
    for lo, hi, color, lw, label in SHARE_CLASSES:
        part = shown[(shown["share"] >= lo) & (shown["share"] < hi)]
        if len(part):
            viz.layer(part, ax, color=color, linewidth=lw, zorder=3 + lo)
        handles.append(Line2D([], [], color=color, linewidth=lw, label=f"外れた測位 {label}"))
    school_pts = ax.scatter(schools["x"], schools["y"], marker="s", s=90, color="#1f5a96", edgecolor="white",
                            zorder=5)
    topn = shown.sort_values("share", ascending=False).head(top)
    b = segments_share.total_bounds
    _extent(ax, [b[0], b[2]], [b[1], b[3]], pad=300)
    _ward_labels(ax, wards)
    viz.map_axes(ax)
    handles += [Line2D([], [], color="#bbbbbb", linestyle="--", label=f"秘匿（児童{min_cell}人未満）"),
                Line2D([], [], marker="s", color="#1f5a96", linestyle="none", label="小学校")]
    legend = ax.legend(handles=handles, loc="lower left", frameon=True, framealpha=0.9, fontsize=9,
                       title="指定通学路の区間", title_fontsize=9)
    ax.set_title("指定通学路から外れた歩行が多い区間（数字＝下の順位）")
    viz.north_arrow(ax)
    viz.scale_bar(ax, loc=(0.04, 0.94))
    # ranks above their segments' midpoints, then the schools' names, placed so that none covers another
    # (three ranks sat on A小学校's name on the default map)
    renderer = fig.canvas.get_renderer()
    fixed = [viz.label_box(t, renderer) for t in ax.texts] + [legend.get_window_extent(renderer)]
    school_boxes = viz.point_boxes(school_pts)
    ranks = []
    for k, (_, r) in enumerate(topn.iterrows(), start=1):
        p = r.geometry.interpolate(0.5, normalized=True)
        ranks.append(ax.annotate(str(k), (p.x, p.y), xytext=(0, 11), textcoords="offset points", ha="center",
                                 va="center", fontsize=9, fontweight="bold", zorder=7, gid="segment-rank",
                                 bbox=dict(boxstyle="circle,pad=0.2", fc="white", ec="#7a1f4f")))
    moved = viz.place_labels(ax, ranks, avoid=school_boxes + fixed)
    for ann, m in zip(ranks, moved, strict=True):   # a rank moved away from its segment points back to it
        if m:
            ax.annotate("", ann.xy, xytext=ann.xyann, textcoords="offset points", zorder=6.5,
                        arrowprops=dict(arrowstyle="-", color="#7a1f4f", lw=0.8, shrinkA=0, shrinkB=0))
    names = [ax.annotate(s["school_name"], (s["x"], s["y"]), xytext=(0, 0), textcoords="offset points",
                         fontsize=9, annotation_clip=True, color="#1f3f66", zorder=8, gid="school-name",
                         bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.8))
             for _, s in schools.iterrows()]
    viz.place_labels(ax, names, avoid=school_boxes + fixed + [viz.label_box(a, renderer) for a in ranks],
                     own=school_boxes, on_point=False)
    # Bars with Wilson intervals.
    y = np.arange(len(topn))[::-1]
    colors = [next(c for lo, hi, c, _, _ in SHARE_CLASSES if lo <= v < hi) for v in topn["share"]]
    axb.barh(y, topn["share"], color=colors)
    # Wilson limits can sit a rounding error inside the share (a share of 0 or 1): no negative bar lengths.
    err = [np.clip((topn["share"] - topn["share_lo"]).to_numpy(float), 0, None),
           np.clip((topn["share_hi"] - topn["share"]).to_numpy(float), 0, None)]
    axb.errorbar(topn["share"], y, xerr=err,
                 fmt="none", ecolor="#333333", capsize=3, linewidth=1)
    axb.set_yticks(y)
    axb.set_yticklabels([f"{k}. {sid}" for k, sid in enumerate(topn["segment_id"], start=1)], fontsize=9)
    axb.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    axb.set_xlabel("外れた測位の割合（%、線は95%信頼区間）")
    axb.set_title("外れた割合の高い区間", fontsize=11)
    viz.source_note(fig, source, synthetic=synthetic)
    rank = {sid: k for k, sid in enumerate(topn["segment_id"], start=1)}
    hide = segments_share["suppressed"].to_numpy(bool)
    pct = {c: np.where(hide, np.nan, segments_share[c].to_numpy(float) * 100)
           for c in ("share", "share_lo", "share_hi")}
    data = pd.DataFrame({"区間ID": segments_share["segment_id"].astype(str).to_numpy(),
                         "順位（上位のみ）": [rank.get(x) for x in segments_share["segment_id"]],
                         "外れた測位の割合（%）": pct["share"], "95%信頼区間下限（%）": pct["share_lo"],
                         "95%信頼区間上限（%）": pct["share_hi"]})
    data = data.sort_values(["外れた測位の割合（%）"], ascending=False, na_position="last").reset_index(drop=True)
    keys = viz.extremes(data, "区間ID", "外れた測位の割合（%）", "%")[:1] + [f"秘匿の区間 {int(hide.sum())}"]
    viz.figure_data(fig, data, caption="指定通学路の区間ごとの外れた測位の割合",
                    kinds=D.no_persons("shares as drawn; hidden segments empty", 区間ID=D.LABEL), keys=keys)
    return fig


def pedestrian_accidents_map(by_mesh, level: int, wards, *, title: str, source: str):
    """Real police records: pedestrian accidents per mesh (classes 1, 2, 3, 4+), zoomed to the meshes
    when they cover a small part of the city, with the city's area outlines. ``by_mesh``:
    :attr:`ebpm_analysis.cases.school_routes.PedestrianAccidents.by_mesh`; ``wards`` in the plane CRS."""
    from ..cases.probe import mesh_cells
    from .probe import mesh_choropleth

    cells = mesh_cells(by_mesh.drop(columns=["lat", "lon"]), level, wards.crs)
    top = int(by_mesh["n_accidents"].max()) if len(by_mesh) else 4
    return mesh_choropleth(cells, "n_accidents", wards, title=title, legend_title="事故件数（件）", source=source,
                           synthetic=False, fmt="{:.0f}", cmap="Reds", bins=[1, 2, 3, max(4, top)], integer=True)
