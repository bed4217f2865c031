"""05's maps (ebpm_analysis.plots.school_routes): names and ranks readable where schools and crossings crowd."""

from __future__ import annotations

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import shapely  # noqa: E402

from ebpm_analysis import viz  # noqa: E402
from ebpm_analysis.plots import school_routes as figs  # noqa: E402

CRS = "EPSG:6670"   # 平面直角座標系 第II系 (熊本県): metres


def _area():
    wards = gpd.GeoDataFrame({"name": ["中央区", "東区"]},
                             geometry=[shapely.box(-400, -400, 1200, 1900), shapely.box(1200, -400, 2800, 1900)],
                             crs=CRS)
    segments = gpd.GeoDataFrame({"segment_id": ["S01-R001", "S01-R002", "S02-R001", "S02-R002"],
                                 "suppressed": [False, False, False, True],
                                 "share": [0.12, 0.08, 0.25, 0.0], "share_lo": [0.05, 0.02, 0.1, 0.0],
                                 "share_hi": [0.2, 0.15, 0.4, 0.1]},
                                geometry=[shapely.LineString([(0, 0), (150, 0)]),
                                          shapely.LineString([(0, 0), (0, 150)]),
                                          shapely.LineString([(2000, 1500), (2100, 1500)]),
                                          shapely.LineString([(2000, 1500), (2000, 1400)])], crs=CRS)
    # A小学校 has crossings where its name used to go (upper right) and on its other sides
    schools = pd.DataFrame({"school_name": ["A小学校（合成）", "B小学校（合成）"], "x": [0.0, 2000.0],
                            "y": [0.0, 1500.0]})
    return wards, segments, schools


def _boxes(ax, gid):
    r = ax.figure.canvas.get_renderer()
    return [viz.label_box(t, r) for t in ax.texts if t.get_gid() == gid]


def _overlap(a, b):
    return min(a.x1, b.x1) - max(a.x0, b.x0) > 0.5 and min(a.y1, b.y1) - max(a.y0, b.y0) > 0.5


def test_crossings_map_names_cover_no_marker_and_ranks_no_rank():
    wards, segments, schools = _area()
    top = pd.DataFrame({"rank": [1, 2, 3, 4, 5], "crossing_id": ["X1", "X2", "X3", "X4", "X5"],
                        "x": [60.0, 90.0, -70.0, 40.0, 2050.0], "y": [40.0, 60.0, 30.0, -50.0, 1480.0],
                        "peak_mean": [37.6, 15.4, 13.8, 20.0, 9.0]})
    vol = {"morning": top.iloc[[0, 4]].assign(order=[1, 2]), "afternoon": top.iloc[[0]].assign(order=[1])}
    fig = figs.crossings_map(wards, segments, schools, top, vol, source="テスト", synthetic=True)
    ax = fig.axes[0]
    names, ranks = _boxes(ax, "school-name"), _boxes(ax, "crossing-rank")
    assert len(names) == 2 and len(ranks) == 5
    squares, crossings, *circles = [c for c in ax.collections if type(c).__name__ == "PathCollection"]
    assert len(squares.get_offsets()) == 2 and len(crossings.get_offsets()) == 5 and len(circles) == 2
    markers = viz.point_boxes(crossings) + [b for c in circles for b in viz.point_boxes(c)]
    square_boxes = viz.point_boxes(squares)
    for k, name in enumerate(names):
        assert not any(_overlap(name, b) for b in markers), f"school name {k} covers a crossing or a circle"
        assert not any(_overlap(name, b) for j, b in enumerate(square_boxes) if j != k)
        assert not any(_overlap(name, b) for b in ranks), f"school name {k} covers a rank"
    assert not _overlap(names[0], names[1])
    assert not any(_overlap(ranks[i], ranks[j]) for i in range(5) for j in range(i + 1, 5))
    frame = ax.get_window_extent(fig.canvas.get_renderer())
    assert all(frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1 for b in names)
    # a rank that left its crossing (they crowd here) has a leader line back to it; the others sit on theirs
    texts = {t.get_text(): t for t in ax.texts if t.get_gid() == "crossing-rank"}
    leaders = [t for t in ax.texts if t.get_text() == "" and t.arrow_patch is not None]
    assert len(leaders) == sum(t.xyann != (0, 0) for t in texts.values()) >= 1
    assert texts["5"].xyann == (0, 0)   # B小学校's lone crossing keeps its rank on it
    plt.close(fig)


def test_offroute_map_school_names_clear_of_the_ranks():
    wards, segments, schools = _area()
    fig = figs.offroute_map(wards, segments, schools, source="テスト", synthetic=True)
    ax = fig.axes[0]
    names, ranks = _boxes(ax, "school-name"), _boxes(ax, "segment-rank")
    assert len(names) == 2 and len(ranks) == 3
    squares = [c for c in ax.collections if type(c).__name__ == "PathCollection"][0]
    for name in names:
        assert not any(_overlap(name, b) for b in ranks + viz.point_boxes(squares))
    assert not any(_overlap(ranks[i], ranks[j]) for i in range(3) for j in range(i + 1, 3))
    plt.close(fig)
