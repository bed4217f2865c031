"""One house style for figures: Japanese glyphs, titles, units, source notes, maps with
legend, north arrow and scale bar. Maps need no web tiles (closed networks).
"""

from __future__ import annotations

import re

import matplotlib
import matplotlib.pyplot as plt
import matplotlib_fontja  # noqa: F401  (registers IPAexGothic and makes it the default)

from .mime import FIGURE_MIME

PALETTE = ["#1f5a96", "#d9822b", "#3a8f5c", "#b8433c", "#7a5ea8", "#8c6d46", "#c7579b", "#6b7280"]
SEQ_CMAP = "YlOrRd"
SYNTHETIC_NOTE = "※合成データ（実データではありません）"

_STYLE = {
    "font.family": "IPAexGothic",
    "axes.unicode_minus": False,
    "figure.figsize": (8.0, 5.0),
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "savefig.bbox": "tight",
    "axes.titlesize": 13,
    "axes.titleweight": "bold",
    "axes.labelsize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
    "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
}


def setup() -> None:
    """Apply the house style (call once at the top of a notebook)."""
    matplotlib.rcParams.update(_STYLE)
    # IPAexGothic has one weight; matplotlib uses it for bold text and would log "findfont: Failed
    # to find font weight bold" into every report. Glyph (tofu) warnings are unaffected.
    import logging
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    try:  # inside a kernel: PNG figures (embedded in the HTML report), crisp but small
        from matplotlib_inline.backend_inline import set_matplotlib_formats
        set_matplotlib_formats("png")
    except ImportError:  # pragma: no cover - outside IPython
        pass
    register_figure_formatter()
    render_open_figures_once()


def render_open_figures_once() -> None:
    """With the inline backend, render a figure a cell leaves open once, when it is shown, not twice.

    After each cell pyplot's hook draws every changed figure on its canvas (for GUI windows), then the inline
    backend's own hook shows and closes the open figures, which renders them again into the PNG: the first
    rendering is thrown away (a third of the drawing time of a figure cell without ``plt.show()``; 02's nine
    figures, ~2 s a run). The inline backend shows every figure without pyplot's hook, so it is disconnected
    (``pyplot.uninstall_repl_displayhook``, public API); with any other backend (a GUI, ipympl) it stays."""
    backend = str(matplotlib.get_backend())
    if "inline" in backend:
        plt.uninstall_repl_displayhook()


# FIGURE_MIME (imported above from report): the mime type under which a displayed figure's recorded data and key
# numbers travel in the executed notebook beside its image/png; the renderer makes the alt text from them and the
# pipeline offers the data as a download (ebpm_analysis.pipeline.downloads).
_FIGURE_ATTR = "_ebpm_figure_data"


def figure_data(fig, frame=None, *, caption: str | None = None, kinds=None, keys=None):
    """Record what a figure shows, for its download and its alt text: ``frame`` (the table the figure is drawn
    from, aggregated as published: a plain DataFrame; geometry is dropped), its column ``kinds`` (as for
    :func:`ebpm_analysis.report.table`; a public run's download is suppressed by them) and ``keys``, the key
    numbers in words (``"最大 中央区 52.1件/千人"``; a list or one text). Call it in a plot function before it
    returns the figure; several calls add several tables. Returns ``fig``."""
    import pandas as pd

    rec = getattr(fig, _FIGURE_ATTR, None) or {"tables": [], "keys": []}
    if frame is not None:
        from .report import _audit_payload  # the same payload as a report table: rows, columns, kinds
        df = pd.DataFrame(frame).drop(columns=["geometry"], errors="ignore")
        rec["tables"].append(_audit_payload(df.reset_index(drop=True), caption, kinds))
    if keys:
        rec["keys"] += [keys] if isinstance(keys, str) else [str(k) for k in keys]
    setattr(fig, _FIGURE_ATTR, rec)
    return fig


def extremes(frame, label: str, value: str, unit: str = "", fmt: str = "{:,.1f}") -> list[str]:
    """Key numbers of a ranked quantity: ``["最大 中央区 52.1件/千人", "最小 北区 12.0件/千人"]``
    (rows with a value)."""
    import pandas as pd

    d = pd.DataFrame(frame)[[label, value]].dropna(subset=[value])
    if d.empty:
        return []
    hi, lo = d.loc[d[value].idxmax()], d.loc[d[value].idxmin()]
    out = [f"最大 {hi[label]} {fmt.format(hi[value])}{unit}"]
    if len(d) > 1:
        out.append(f"最小 {lo[label]} {fmt.format(lo[value])}{unit}")
    return out


def title_numbers(fig) -> list[str]:
    """The figure's titles (suptitle, axes titles, legend titles) that carry a measured value (a decimal or a
    percentage, not a year, a mesh size or an index base): computed values the plot function already put on the
    figure (``平均 58.3 件/千人・年``, ``8〜20時に 67.4%``)."""
    texts = [fig._suptitle.get_text()] if getattr(fig, "_suptitle", None) is not None else []
    for ax in fig.axes:
        texts.append(ax.get_title())
        legend = ax.get_legend()
        if legend is not None:
            texts.append(legend.get_title().get_text())
    return [t.replace("\n", " ").strip() for t in texts if t and _NUMBER.search(_YEARS.sub("", t))]


_YEARS = re.compile(r"(?:19|20)\d\d\s*(?:年度?|[〜~–-]|/|$)")   # a year or period names no finding
_NUMBER = re.compile(r"[0-9]\.[0-9]|[0-9]\s*[%％]")   # a measured value: decimals or a percentage


def text_sizes(fig) -> list[list]:
    """The font sizes (pt) of the figure's visible, non-empty texts: ``[[size, example text], …]`` smallest first,
    one entry a size (titles, labels, tick labels, legends, annotations, colour-bar labels, the source note).
    The build checks them against the width the figure is shown at (:func:`ebpm_analysis.pipeline.render.
    small_texts`)."""
    from matplotlib.text import Text
    sizes: dict[float, str] = {}
    for t in fig.findobj(Text):
        text = t.get_text().strip() if t.get_visible() else ""
        if text and (t.axes is None or t.axes.get_visible()):
            sizes.setdefault(round(float(t.get_fontsize()), 2), text.replace("\n", " ")[:40])
    return [[size, text] for size, text in sorted(sizes.items())]


def figure_payload(fig) -> dict:
    """What travels under :data:`FIGURE_MIME`: the recorded tables, the key numbers (those the plot function
    recorded; without them, the titles that carry numbers), the figure's resolution (``dpi``: pixels an inch of
    the PNG) and its :func:`text_sizes`."""
    rec = getattr(fig, _FIGURE_ATTR, None) or {"tables": [], "keys": []}
    keys = list(dict.fromkeys(rec["keys"] or title_numbers(fig)))
    return {"tables": rec["tables"], "keys": keys, "dpi": float(fig.dpi), "text_sizes": text_sizes(fig)}


def register_figure_formatter() -> None:
    """Inside IPython: every displayed matplotlib figure also carries :func:`figure_payload` (mime
    :data:`FIGURE_MIME`), whether a cell returns it or the inline backend shows it."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return
    ip = get_ipython()
    if ip is None:
        return
    from IPython.core.formatters import BaseFormatter
    from matplotlib.figure import Figure
    from traitlets import ObjectName, Unicode

    class FigureDataFormatter(BaseFormatter):
        format_type = Unicode(FIGURE_MIME)
        _return_type = dict
        print_method = ObjectName("_repr_ebpm_figure_")

    formatters = ip.display_formatter.formatters
    if FIGURE_MIME not in formatters:
        formatters[FIGURE_MIME] = FigureDataFormatter(parent=ip.display_formatter)
    formatters[FIGURE_MIME].for_type(Figure, figure_payload)


def source_note(fig, text: str, synthetic: bool = False) -> None:
    """Write '出典：…' (and the synthetic-data mark) just under the figure's content.

    The note is anchored at draw time to the lowest point of the axes and legends, so it follows
    ``tight_layout`` and equal-aspect maps (whose empty margins ``bbox_inches='tight'`` then crops).
    It is a figure-level text (in ``fig.texts``), never part of an axes' own extent.
    """
    from matplotlib.text import Annotation
    from matplotlib.transforms import Bbox

    from .pipeline.wording import references_in
    found = references_in(text)
    if found:   # the note is inside the image, where the report's wording check cannot read it
        raise ValueError(f"source note {text!r} names what a reader cannot look up: {', '.join(found)}")
    note = f"出典：{text}" if not text.startswith(("出典", "資料")) else text
    if synthetic:
        note = f"{note}　{SYNTHETIC_NOTE}"

    def anchor(renderer):
        boxes = [a.get_tightbbox(renderer) for a in fig.axes if a.get_visible()]
        boxes += [lg.get_window_extent(renderer) for lg in fig.legends]
        boxes = [bb for bb in boxes if bb is not None]
        y = min(bb.y0 for bb in boxes) if boxes else fig.bbox.y0
        x = fig.bbox.x0 + 0.01 * fig.bbox.width
        return Bbox.from_extents(x, y, x + 1, y + 1)

    # a wide figure is scaled down to the report's width (a main column of ~9.9 in at 96 px an inch): its note
    # grows with it so that it is read at 9 pt or more (pipeline.render.check_text_sizes; one of 14 inches was
    # ~7 px high on screen)
    size = 9 * max(1.0, fig.get_figwidth() / 9.4)
    ann = Annotation(_wrap(note, 0.96 * fig.get_figwidth() * 72, size), xy=(0, 0), xycoords=anchor, xytext=(0, -4),
                     textcoords="offset points", ha="left", va="top", fontsize=size, color="#444444")
    ann.set_figure(fig)
    fig.texts.append(ann)  # a figure-level text: drawn with the figure, outside every axes' extent


def point_boxes(collection) -> list:
    """The display boxes (pixels) of the markers of a scatter (a ``PathCollection``): each point's centre ± half
    its marker size (``s`` is the marker's area in pt²) and edge. For labels that must not cover markers."""
    import numpy as np
    from matplotlib.transforms import Bbox

    ax = collection.axes
    offsets = np.asarray(collection.get_offsets(), dtype=float)
    if not len(offsets):
        return []
    sizes = np.broadcast_to(np.asarray(collection.get_sizes(), dtype=float), (len(offsets),))
    edge = np.broadcast_to(np.asarray(collection.get_linewidths(), dtype=float), (len(offsets),))
    px = ax.figure.dpi / 72.0
    centres = ax.transData.transform(offsets)
    half = (np.sqrt(sizes) + edge) / 2.0 * px
    return [Bbox.from_extents(x - h, y - h, x + h, y + h) for (x, y), h in zip(centres, half, strict=True)]


def label_box(ann, renderer=None):
    """The display box of a text or annotation as drawn, with its ``bbox`` patch (a circle or rounded box around
    the text is larger than the text)."""
    from matplotlib.transforms import Bbox

    renderer = renderer or ann.figure.canvas.get_renderer()
    box = ann.get_window_extent(renderer)
    patch = ann.get_bbox_patch()
    if patch is None:
        return box
    ann.update_bbox_position_size(renderer)
    return Bbox.union([box, patch.get_window_extent(renderer)])


def place_labels(ax, labels, avoid=(), own=None, gap_pt: float = 2.0, rings: int = 3,
                 on_point: bool = True) -> list[bool]:
    """Place point labels (``ax.annotate`` in offset points) where they cover no other label, no box of
    ``avoid`` (display boxes: markers from :func:`point_boxes`, a legend's window extent …) and stay inside the
    axes, in the order given. Each label keeps its own offset when that is free (``on_point=False``: labels
    never stay on their point); otherwise it tries the eight directions around its point (upper right first),
    just clear of its own marker (``own[i]``: the box of the marker label ``i`` names, or None; it is never
    counted as covered), then one and two label-heights further out. With no free place it takes the one that
    covers least. Labels are centred on their offset. Returns, per label, whether it left its first place.

    Written by hand: the usual libraries for this (adjustText, textalloc) are not dependencies of the project,
    and the maps that name points name a handful (05's schools and ranked crossings), for which trying a few
    positions per label is enough and keeps each name beside its point."""
    renderer = ax.figure.canvas.get_renderer()
    to_pt = 72.0 / ax.figure.dpi
    frame = ax.get_window_extent(renderer)
    own = list(own) if own is not None else [None] * len(labels)
    avoid = list(avoid)
    placed, moved = [], []

    pad = 1.5 / to_pt   # 1.5 pt between a label and what it must not cover

    def cost(box, mine):
        box = box.padded(pad)
        c = 0.0
        for b in placed + [a for a in avoid if a is not mine]:
            w = min(box.x1, b.x1) - max(box.x0, b.x0)
            h = min(box.y1, b.y1) - max(box.y0, b.y0)
            if w > 0 and h > 0:
                c += w * h
        inside_w = max(0.0, min(box.x1, frame.x1) - max(box.x0, frame.x0))
        inside_h = max(0.0, min(box.y1, frame.y1) - max(box.y0, frame.y0))
        return c + 4.0 * (box.width * box.height - inside_w * inside_h)   # outside the map: worse than a cover

    for ann, mine in zip(labels, own, strict=True):
        ann.set_horizontalalignment("center")
        ann.set_verticalalignment("center")
        first = tuple(ann.xyann)
        box = label_box(ann, renderer)
        w, h = box.width * to_pt, box.height * to_pt
        r = (mine.width * to_pt / 2.0) if mine is not None else 0.0
        tries = [first] if on_point else []
        for k in range(rings):
            far = k * (h + gap_pt)
            for ux, uy in ((1, 1), (1, 0), (1, -1), (-1, 1), (-1, 0), (-1, -1), (0, 1), (0, -1)):
                norm = (ux * ux + uy * uy) ** 0.5
                tries.append((ux * (w / 2 + r + gap_pt + far / norm), uy * (h / 2 + r + gap_pt + far / norm)))
        best, best_cost = tries[0], None
        for off in tries:
            ann.xyann = off
            c = cost(label_box(ann, renderer), mine)
            if best_cost is None or c < best_cost - 1e-9:
                best, best_cost = off, c
            if c == 0:
                break
        ann.xyann = best
        placed.append(label_box(ann, renderer))
        moved.append(best != tries[0])
    return moved


def thin_tick_labels(ax, prefer=(1, 2, 0.5, 4, 3, 10, 5, 1.5, 6, 0.75, 1.25)) -> list[float]:
    """Drop the x tick labels that would overlap another (a log axis of rate ratios spanning 0.75–4 put 1.25 and
    1.5 on top of each other in 06's month panel): ticks are kept in the order of ``prefer`` (others after, left
    to right) while their label clears every label kept. Call once the figure's layout is final. Returns the
    ticks kept."""
    renderer = ax.figure.canvas.get_renderer()
    lo, hi = sorted(ax.get_xlim())
    ticks = [float(t) for t in ax.get_xticks() if lo <= t <= hi]
    if len(ticks) < 2:
        return ticks
    text = {t: lab.get_text() for t, lab in zip(ax.get_xticks(), ax.get_xticklabels(), strict=False)}
    boxes = {t: lab.get_window_extent(renderer).padded(2)
             for t, lab in zip(ax.get_xticks(), ax.get_xticklabels(), strict=False) if lo <= t <= hi}
    rank = {float(p): i for i, p in enumerate(prefer)}
    kept = []
    for t in sorted(ticks, key=lambda t: (rank.get(round(t, 9), len(rank)), t)):
        if not any(boxes[t].overlaps(boxes[k]) for k in kept):
            kept.append(t)
    kept.sort()
    ax.set_xticks(kept, [text[t] for t in kept])
    return kept


def fit_title(text: str, ax_or_fig, size: float | None = None) -> str:
    """``text`` broken into lines no wider than the axes (or figure) it titles, at font ``size`` (default: the
    axes title size). A title that holds a parameter (06's office name) can be any length; unbroken, it made the
    saved figure wider than its content and the page scaled every label below 9 pt."""
    import matplotlib as mpl
    from matplotlib.figure import Figure

    if isinstance(ax_or_fig, Figure):
        width_in = ax_or_fig.get_figwidth()
    else:
        width_in = ax_or_fig.figure.get_figwidth() * ax_or_fig.get_position().width
    size = size or mpl.font_manager.FontProperties(size=mpl.rcParams["axes.titlesize"]).get_size_in_points()
    return _wrap(text.strip(), 0.96 * width_in * 72, size)


def _wrap(text: str, width_pt: float, size: float) -> str:
    """Break ``text`` into lines at most ``width_pt`` wide at font ``size`` (a full-width character is one em,
    others about 0.6 em). Written by hand: matplotlib's ``wrap=True`` does not wrap an annotation placed by a
    callable, so a long source note made the saved figure (``bbox_inches='tight'``) far wider than the figure
    and the page scaled every label down."""
    import unicodedata
    lines, line, used = [], "", 0.0
    for ch in text:
        w = size * (1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.6)
        if used + w > width_pt and line:
            lines.append(line)
            line, used = "", 0.0
        line += ch
        used += w
    return "\n".join([*lines, line])


def north_arrow(ax, x: float = 0.95, y: float = 0.93, size: float = 0.07) -> None:
    """The north arrow; its N on a white ground, above the data (on 船橋市's tight maps it sat on the boundary)."""
    ax.annotate("N", xy=(x, y), xytext=(x, y - size), xycoords="axes fraction",
                ha="center", va="center", fontsize=11, fontweight="bold", zorder=6, gid="north-arrow",
                bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85),
                arrowprops=dict(facecolor="black", width=3, headwidth=9, headlength=9))


def scale_bar(ax, length_m: float | None = None, loc=(0.05, 0.05)) -> None:
    """Scale bar for an axis in a metre-based CRS."""
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    if length_m is None:
        span = (x1 - x0) / 5
        length_m = next(v for v in (20000, 10000, 5000, 2000, 1000, 500, 200, 100,
                                    50) if v <= span) if span >= 50 else span
    bx = x0 + loc[0] * (x1 - x0)
    by = y0 + loc[1] * (y1 - y0)
    ax.plot([bx, bx + length_m], [by, by], color="black", linewidth=3, solid_capstyle="butt")
    label = f"{length_m / 1000:g} km" if length_m >= 1000 else f"{length_m:g} m"
    ax.text(bx + length_m / 2, by + 0.015 * (y1 - y0), label, ha="center", va="bottom", fontsize=9)


def layer(gdf, ax, **kwargs):
    """Draw a GeoDataFrame or GeoSeries on ``ax``: ``gdf.plot(ax=ax, **kwargs)``, without rendering the figure.

    geopandas ends every ``plot`` with ``canvas.draw_idle()``, which on the canvas a notebook's figures have (the
    inline backend's Agg, as for any canvas without a GUI loop) renders the whole figure there and then instead
    of once when idle: a map of four layers was rendered four times before it was shown, ~15 % of 02's kernel
    time. Every layer of our maps goes through here, so a figure is rendered only when it is shown or saved;
    the images are the same (checked byte for byte on every notebook's figures). A GUI canvas is unaffected
    but for that one refresh, which its next draw makes anyway."""
    canvas = ax.figure.canvas
    own = canvas.__dict__.get("draw_idle")     # the method, unless someone else shadowed it already
    canvas.draw_idle = _no_draw
    try:
        return gdf.plot(ax=ax, **kwargs)
    finally:
        if own is None:
            del canvas.draw_idle
        else:
            canvas.draw_idle = own


def _no_draw(*args, **kwargs) -> None:
    return None


def map_axes(ax) -> None:
    """Clean axes for a map: equal aspect, no ticks or grid."""
    ax.set_aspect("equal")
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for s in ax.spines.values():
        s.set_visible(False)


def finish_map(ax, title: str, source: str | None = None, synthetic: bool = False) -> None:
    """The furniture every map gets: clean axes, title, north arrow, scale bar, source note."""
    map_axes(ax)
    ax.set_title(title)
    north_arrow(ax)
    scale_bar(ax)
    if source:
        source_note(ax.figure, source, synthetic=synthetic)


def outline(ax, areas, label_col: str | None = "name", color: str = "#333333", linewidth: float = 0.9,
            fontsize: int = 10) -> None:
    """Draw area outlines (e.g. wards) with their names at a representative point, above the data points (02's
    facility map drew its points over 西区, 中央区 and 南区)."""
    layer(areas.boundary, ax, color=color, linewidth=linewidth)
    if label_col:
        for _, r in areas.iterrows():
            p = r.geometry.representative_point()
            ax.annotate(str(r[label_col]), (p.x, p.y), ha="center", va="center", fontsize=fontsize,
                        color="#111111", fontweight="bold", zorder=5,
                        bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.6))


def choropleth(gdf, column: str, *, ax=None, title: str, legend_title: str, scheme: str = "NaturalBreaks",
               k: int = 5, cmap: str = SEQ_CMAP, outlines=None, outline_label: str | None = "name",
               fmt: str = "{:.1f}", missing_label: str = "秘匿・データなし", source: str | None = None,
               synthetic: bool = False, label: str | None = None, label_title: str = "地域", unit: str = "",
               value_kind="other"):
    """Choropleth with legend, optional outlines, north arrow and scale bar: classed by mapclassify
    (``scheme``, ``k``) when there are more than ``max(k, 7)`` distinct values, else a colour bar.

    ``gdf`` must be in a metre-based CRS (e.g. EPSG:6670) for the scale bar.
    The figure records its data (:func:`figure_data`): each area's name (``label``, default the first of
    ``name``/``district_name``/``code`` present, headed ``label_title``) and ``column`` headed ``legend_title``
    (declared ``value_kind``: a value drawn as published, hidden cells empty), with the largest and smallest
    value (``unit``) as key numbers. Returns ``(fig, ax)``.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 7))
    else:
        fig = ax.figure
    values = gdf[column]
    n_valid = int(values.notna().sum())
    n_unique = int(values.nunique(dropna=True))
    missing_kwds = {"color": "#dddddd", "hatch": "///", "label": missing_label, "edgecolor": "white"}
    if n_valid and n_unique > max(k, 7):
        # Enough areas for classes (mapclassify): a legend of class intervals.
        legend_kwds = {"title": legend_title, "loc": "center left", "bbox_to_anchor": (1.0, 0.5), "fmt": fmt,
                       "frameon": False, "interval": True}
        layer(gdf, ax, column=column, scheme=scheme, k=k, cmap=cmap, legend=True, legend_kwds=legend_kwds,
                 edgecolor="white", linewidth=0.4, missing_kwds=missing_kwds)
    elif n_valid:
        # Few areas (e.g. five wards): classes would be one value each, so use a continuous colour bar.
        layer(gdf, ax, column=column, cmap=cmap, legend=True, edgecolor="white", linewidth=0.4,
                 legend_kwds={"label": legend_title, "shrink": 0.6}, missing_kwds=missing_kwds)
    if outlines is not None:
        outline(ax, outlines.to_crs(gdf.crs), label_col=outline_label)
    finish_map(ax, title, source, synthetic)
    label = label or next((c for c in ("name", "district_name", "code") if c in gdf.columns), None)
    if not unit and (m := re.search(r"（([^（）、]+)[^（）]*）$", legend_title)):
        unit = m.group(1)   # 「有病者率（%）」 → %
    if label is not None:
        import pandas as pd
        data = pd.DataFrame({label_title: gdf[label].astype(str).to_numpy(),
                             legend_title: pd.to_numeric(values, errors="coerce").astype(float).to_numpy()})
        figure_data(fig, data, caption=title, kinds={label_title: "label", legend_title: value_kind},
                    keys=extremes(data, label_title, legend_title, unit, fmt))
    return fig, ax
