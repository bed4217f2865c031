"""House style: Japanese glyphs render (no tofu), maps have legend, north arrow, scale bar, source."""

import warnings

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ebpm_analysis import geo, viz  # noqa: E402


def test_japanese_labels_without_missing_glyphs(tmp_path):
    viz.setup()
    fig, ax = plt.subplots()
    ax.set_title("熊本市 中央区の救急出動件数（件）")
    ax.bar(["中央区", "東区", "西区", "南区", "北区"], [5, 4, 3, 2, 1])
    viz.source_note(fig, "熊本市消防局", synthetic=True)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fig.savefig(tmp_path / "f.png")
    glyph = [str(x.message) for x in w if "Glyph" in str(x.message)]
    assert not glyph, glyph
    assert matplotlib.rcParams["font.family"] == ["IPAexGothic"]
    texts = [t.get_text() for t in fig.texts]
    assert any(t.startswith("出典：熊本市消防局") and viz.SYNTHETIC_NOTE in t for t in texts)
    plt.close(fig)


def test_choropleth_has_legend_arrow_scale_and_outlines(tmp_path):
    viz.setup()
    wards = geo.to_plane(geo.load_city("43100"), geo.plane_crs("43100"))
    districts = geo.partition_into_districts(geo.load_city("43100"), 20, seed=1, plane_crs=geo.plane_crs("43100"))
    districts["v"] = [float(i) for i in range(19)] + [None]
    fig, ax = viz.choropleth(districts, "v", title="試験図", legend_title="値（件）", k=3, outlines=wards,
                             source="試験")
    legend = ax.get_legend()
    assert legend is not None and legend.get_title().get_text() == "値（件）"
    labels = [t.get_text() for t in legend.get_texts()]
    assert "秘匿・データなし" in labels  # missing values are shown as such, not dropped
    annotations = [c.get_text() for c in ax.texts] + [getattr(c, "get_text", lambda: "")() for c in ax.get_children()]
    assert "N" in annotations and "中央区" in annotations
    assert any(t.endswith("km") for t in annotations)
    assert ax.get_title() == "試験図"
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        fig.savefig(tmp_path / "m.png")
    assert not [x for x in w if "Glyph" in str(x.message)]
    plt.close(fig)


def test_map_layers_leave_the_drawing_to_show_or_save():
    """geopandas renders the whole figure after each plot call (canvas.draw_idle on a canvas without a GUI loop);
    viz.layer draws the same layer without that, and the canvas keeps its own draw_idle."""
    wards = geo.to_plane(geo.load_city("43100"), geo.plane_crs("43100"))
    renders = []
    fig, (a, b) = plt.subplots(1, 2)
    fig.canvas.mpl_connect("draw_event", lambda event: renders.append(event))
    wards.plot(ax=a, color="#f4f4f0", edgecolor="none")
    assert len(renders) == 1                       # what viz.layer avoids
    viz.layer(wards, b, color="#f4f4f0", edgecolor="none")
    viz.layer(wards.boundary, b, color="black", linewidth=0.9)
    assert len(renders) == 1 and "draw_idle" not in vars(fig.canvas)
    (pa,), (pb, lb) = a.collections, b.collections
    assert (pa.get_facecolor() == pb.get_facecolor()).all() and len(pa.get_paths()) == len(pb.get_paths()) == 5
    assert len(lb.get_segments()) >= 5
    fig.canvas.draw_idle()
    assert len(renders) == 2
    plt.close(fig)


def test_every_geopandas_layer_goes_through_viz_layer():
    """A layer drawn with gdf.plot(ax=…) renders the whole figure (see viz.layer): the package and the notebooks
    draw theirs with viz.layer. A plot call given ax= or column= is a geopandas (or pandas) one; Axes.plot takes
    neither."""
    import inspect
    import json
    import re
    from pathlib import Path
    root = Path(__file__).parents[2]
    call = re.compile(r"\.plot\(\s*(?:ax|column)\s*=")
    lines, first = inspect.getsourcelines(viz.layer)
    own = {(Path(viz.__file__).resolve(), i) for i in range(first, first + len(lines))}
    found = [f"{f.relative_to(root)}:{i}" for f in sorted((root / "src" / "ebpm_analysis").rglob("*.py"))
             for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1)
             if call.search(line) and (f.resolve(), i) not in own]
    for nb in sorted((root / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        found += [f"{nb.name} cell {i}" for i, c in enumerate(cells) if call.search("".join(c["source"]))]
    assert not found, found


_ONE_CELL = """
import json, os
os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
from IPython.core.interactiveshell import InteractiveShell
from matplotlib.backends.backend_agg import FigureCanvasAgg
shell = InteractiveShell.instance()
shown, renders = [], []
shell.display_pub.publish = lambda data, metadata=None, **kw: shown.append(sorted(data))
draw = FigureCanvasAgg.draw
FigureCanvasAgg.draw = lambda self, *a, **k: (renders.append(1), draw(self, *a, **k))[1]
assert shell.run_cell("import matplotlib.pyplot as plt; from ebpm_analysis import viz; viz.setup()").success
assert shell.run_cell("fig, ax = plt.subplots(); ax.plot([1, 2]); viz.source_note(fig, 'x')").success
import matplotlib.pyplot as plt
print(json.dumps({"renders": len(renders), "shown": shown, "open": plt.get_fignums()}))
"""


def test_a_figure_left_open_by_a_cell_is_rendered_once_when_shown():
    """In a notebook (inline backend), a figure cell without plt.show() is shown by the backend after the cell;
    pyplot's own after-cell hook rendered it once more before that, for nothing: 3 renderings, now 2 (the tight
    bounding box and the PNG; viz.render_open_figures_once). In a shell of its own: it sets the backend."""
    import json
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", _ONE_CELL], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == {
        "renders": 2, "shown": [["application/vnd.ebpm.figure+json", "image/png", "text/plain"]], "open": []}


def test_few_areas_get_a_colour_bar():
    viz.setup()
    wards = geo.to_plane(geo.load_city("43100"), geo.plane_crs("43100"))
    wards["v"] = [1.0, 2.0, 3.0, 4.0, 5.0]
    fig, ax = viz.choropleth(wards, "v", title="区", legend_title="率（%）", outlines=wards)
    cbar_axes = [a for a in fig.axes if a is not ax]
    assert len(cbar_axes) == 1 and cbar_axes[0].get_ylabel() == "率（%）"
    plt.close(fig)


def test_source_note_of_a_wide_figure_grows_with_it():
    """A 14-inch figure is shown scaled to the report's width: its note is drawn larger in proportion."""
    viz.setup()
    sizes = {}
    for width in (8, 14):
        fig = plt.figure(figsize=(width, 4))
        fig.add_subplot().plot([0, 1], [0, 1])
        viz.source_note(fig, "試験")
        sizes[width] = fig.texts[-1].get_fontsize()
        plt.close(fig)
    # 9 pt up to 9.4 in (shown unscaled in the report's 954-px column), then in proportion to the width
    assert sizes[8] == 9 and abs(sizes[14] - 9 * 14 / 9.4) < 1e-9


def test_a_long_source_note_is_wrapped_within_the_figure():
    """An unwrapped note (matplotlib does not wrap an annotation placed by a callable) made the saved figure far
    wider than the figure, and the page then scaled every label of it down."""
    import io

    from PIL import Image
    viz.setup()
    fig = plt.figure(figsize=(8, 4))
    fig.add_subplot().plot([0, 1], [0, 1])
    viz.source_note(fig, "合成データ（熊本市の境界と消防白書の全国値に合わせた発生率から生成した救急出動記録）。"
                    "境界：国土数値情報（行政区域データ）を加工して作成", synthetic=True)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    assert "\n" in fig.texts[-1].get_text()
    assert Image.open(buf).size[0] <= (8 + 2 * 0.1) * fig.dpi   # the figure and the saved image's padding
    plt.close(fig)


def test_a_source_note_naming_a_module_is_refused():
    """The note is inside the image, where the report's wording check cannot read it (02 once showed
    '合成データ、ebpm_analysis.synth.dental' under its figures)."""
    fig, _ = plt.subplots()
    with pytest.raises(ValueError, match=r"ebpm_analysis\.synth\.dental.*a module of the package"):
        viz.source_note(fig, "園児歯科健診票（合成データ、ebpm_analysis.synth.dental）")
    with pytest.raises(ValueError, match="a document of the repository"):
        viz.source_note(fig, "docs/sources.md による")
    viz.source_note(fig, "園児歯科健診票（合成データ）")   # words only: accepted
    plt.close(fig)


def test_a_long_title_is_broken_to_the_axes_width():
    """06 puts the office name (a parameter of any length) in its titles: unbroken, a long one widened the saved
    figure and the page showed its labels under 9 pt."""
    fig, ax = plt.subplots(figsize=(6, 3))
    long = "<script>alert(1)</script><img src=x onerror=alert(2)>[x](javascript:alert(3)) 月×曜日別の平均受付件数"
    ax.set_title(viz.fit_title(long, ax))
    fig.suptitle(viz.fit_title(long, fig, 13), fontsize=13)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert "\n" in ax.get_title()
    assert ax.title.get_window_extent(renderer).width <= fig.bbox.width
    assert fig.get_tightbbox(renderer).width <= fig.get_figwidth() + 1e-6
    assert viz.fit_title(" 短い題 ", ax) == "短い題"        # a short title stays one line
    plt.close(fig)


def test_place_labels_keeps_names_off_markers_and_each_other():
    """05's crossings map drew school names at a fixed offset, under the markers of nearby crossings; a name
    goes where it covers no marker, no other label and stays in the axes; a free label keeps its place."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    squares = ax.scatter([5, 5.3], [5, 5], marker="s", s=120)
    crowd = ax.scatter([5.7, 5.2, 4.6], [5.4, 5.6, 5.5], s=300)    # where an upper-right name would sit
    far = ax.scatter([9.0], [1.0], s=100)
    anns = [ax.annotate(t, (x, y), xytext=(6, 6), textcoords="offset points", fontsize=9)
            for t, x, y in (("A小学校（合成）", 5, 5), ("B小学校（合成）", 5.3, 5))]
    lone = ax.annotate("9", (9.0, 1.0), xytext=(0, 0), textcoords="offset points", fontsize=9)
    r = fig.canvas.get_renderer()
    markers = viz.point_boxes(squares) + viz.point_boxes(crowd) + viz.point_boxes(far)
    assert any(anns[0].get_window_extent(r).overlaps(b) for b in viz.point_boxes(crowd))   # as first drawn
    viz.place_labels(ax, anns, avoid=markers, own=viz.point_boxes(squares), on_point=False)
    assert viz.place_labels(ax, [lone], avoid=markers[:-1], own=[markers[-1]]) == [False]
    assert lone.xyann == (0, 0)                            # a label that covers nothing stays on its point
    boxes = [viz.label_box(a, r) for a in anns]
    assert not boxes[0].overlaps(boxes[1])
    for box in boxes:
        assert not any(box.overlaps(b) for b in markers), box
        assert ax.get_window_extent(r).contains(box.x0, box.y0) and ax.get_window_extent(r).contains(box.x1, box.y1)
    plt.close(fig)


def test_point_boxes_are_the_marker_size_around_the_point():
    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    sc = ax.scatter([0.5], [0.5], s=144, linewidths=0)    # 12 pt across = 16.7 px at 100 dpi
    (box,) = viz.point_boxes(sc)
    cx, cy = ax.transData.transform((0.5, 0.5))
    assert box.width == pytest.approx(12 * 100 / 72) and box.height == pytest.approx(12 * 100 / 72)
    assert (box.x0 + box.x1) / 2 == pytest.approx(cx) and (box.y0 + box.y1) / 2 == pytest.approx(cy)
    plt.close(fig)


def test_north_arrow_letter_sits_on_a_white_ground_above_the_map():
    from matplotlib.colors import to_hex
    fig, ax = plt.subplots()
    viz.north_arrow(ax)
    (n,) = [t for t in ax.texts if t.get_gid() == "north-arrow"]
    assert n.get_text() == "N" and to_hex(n.get_bbox_patch().get_facecolor()) == "#ffffff" and n.get_zorder() > 5
    plt.close(fig)
