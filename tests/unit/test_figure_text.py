"""Issue 14: figure labels are at least 9 pt as the report shows them (the page's main column scales a wide
figure down); the build refuses a figure whose text would be smaller."""

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402

from ebpm_analysis import viz  # noqa: E402
from ebpm_analysis.mime import FIGURE_MIME  # noqa: E402
from ebpm_analysis.pipeline import render  # noqa: E402


def test_content_width_comes_from_the_report_css():
    # a 1280-px window less a 17-px scroll bar; .ebpm-layout max-width 1280px, padding 1.5rem 2rem (32 px a side),
    # gap 2rem, .ebpm-toc flex 0 0 230px, .ebpm-main max-width 980px: 1263 - 64 - 230 - 32 = 937 px
    assert render.content_width_px() == 937
    assert render.content_width_px(1000) == 1000 - 17 - 64 - 230 - 32
    assert render.content_width_px(1600) == 1280 - 64 - 230 - 32   # the layout stops at 1280 px


def test_shown_size_scales_with_the_image_width_and_dpi():
    # 100 dpi: 9 pt is 12.5 image px, shown unscaled at 12.5 CSS px = 9.375 pt
    assert render.shown_text_pt(9, 100, 800, 954) == pytest.approx(9.375)
    # a 14-in figure (1400 px) is scaled to 937 px: 9 pt → 6.27 pt
    assert render.shown_text_pt(9, 100, 1400, 937) == pytest.approx(9 * 100 / 96 * 937 / 1400)


def _figure_notebook(width_in: float, size: float) -> nbformat.NotebookNode:
    fig, ax = plt.subplots(figsize=(width_in, 3))
    ax.plot([0, 1], [0, 1])
    ax.set_title("題名", fontsize=13)
    ax.tick_params(labelsize=10)
    ax.text(0.5, 0.5, "小さな注記", fontsize=size)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi, bbox_inches="tight")
    payload = viz.figure_payload(fig)
    plt.close(fig)
    out = nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(buf.getvalue()).decode(),
                                                       FIGURE_MIME: payload})
    cell = nbformat.v4.new_code_cell("fig = plot()", outputs=[out])
    return nbformat.v4.new_notebook(cells=[cell])


def test_payload_lists_every_text_size_smallest_first():
    nb = _figure_notebook(6, 9)
    sizes = nb.cells[0].outputs[0].data[FIGURE_MIME]["text_sizes"]
    assert [s for s, _ in sizes] == [9.0, 10.0, 13.0]
    assert sizes[0][1] == "小さな注記"
    assert nb.cells[0].outputs[0].data[FIGURE_MIME]["dpi"] == 100


def test_check_passes_nine_pt_in_a_narrow_figure_and_refuses_it_in_a_wide_one():
    render.check_text_sizes(_figure_notebook(8, 9))
    wide = _figure_notebook(14, 9)
    assert len(render.small_texts(wide)) == 1
    with pytest.raises(render.SmallFigureText, match="'小さな注記' at 9 pt → [0-8][.][0-9] pt"):
        render.check_text_sizes(wide)


def test_eight_pt_fails_at_any_width():
    small = render.small_texts(_figure_notebook(4, 8))
    assert small and "must be ≥ 8.64 pt" in small[0]
