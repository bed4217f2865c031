"""Issue 14: every figure records the data it draws (its download) and its key numbers (its alt text); a figure
never records more than it shows (hidden cells stay empty, person counts are declared so that a public
download suppresses them)."""

import matplotlib

matplotlib.use("Agg")
import geopandas as gpd  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import shapely  # noqa: E402

from ebpm_analysis import viz  # noqa: E402
from ebpm_analysis.plots import dental as pdn  # noqa: E402
from ebpm_analysis.plots import school_routes as psr  # noqa: E402
from ebpm_analysis.stats import disclosure as D  # noqa: E402


def _table(fig, i=0) -> pd.DataFrame:
    t = viz.figure_payload(fig)["tables"][i]
    return pd.DataFrame(t["rows"], columns=t["columns"])


def test_choropleth_records_each_area_and_its_extremes():
    boxes = [shapely.box(i * 1000, 0, (i + 1) * 1000, 1000) for i in range(3)]
    g = gpd.GeoDataFrame({"name": ["中央区", "東区", "西区"], "v": [12.5, np.nan, 30.25]}, geometry=boxes,
                         crs=6670)
    fig, _ = viz.choropleth(g, "v", title="区別の率", legend_title="有病者率（%）", source="テスト")
    pay = viz.figure_payload(fig)
    plt.close(fig)
    t = _table(fig)
    assert list(t.columns) == ["地域", "有病者率（%）"] and t["地域"].tolist() == ["中央区", "東区", "西区"]
    assert t["有病者率（%）"].tolist()[0] == 12.5 and t["有病者率（%）"].tolist()[2] == 30.25
    assert pd.isna(t["有病者率（%）"].tolist()[1])   # hidden on the map, empty in the data
    assert pay["keys"] == ["最大 西区 30.2%", "最小 中央区 12.5%"]   # the unit from the legend title
    assert pay["tables"][0]["kinds"]["地域"]["kind"] == D.LABEL


def test_school_route_heat_map_records_hidden_cells_empty():
    bins = [420, 425, 840]   # 07:00, 07:05 (morning), 14:00 (afternoon)
    values = pd.DataFrame([[3.5, 12.0, 4.0], [2.0, 6.5, 1.5]], index=["X1", "X2"], columns=bins)
    mask = pd.DataFrame([[False, False, True], [True, False, False]], index=values.index, columns=bins)
    fig = psr.heatmap(values, mask, ["1. 交差点A", "2. 交差点B"], {"morning": (420, 430), "afternoon": (840, 845)},
                      source="テスト", synthetic=True)
    pay = viz.figure_payload(fig)
    plt.close(fig)
    t = _table(fig).set_index(["交差点", "時刻"])["見守り対象の児童数（人／5分、平日平均）"]
    assert t[("1. 交差点A", "07:05")] == 12.0 and t[("2. 交差点B", "07:05")] == 6.5
    assert pd.isna(t[("1. 交差点A", "14:00")]) and pd.isna(t[("2. 交差点B", "07:00")])   # suppressed cells
    assert pay["keys"] == ["最も多い5分間 1. 交差点A 朝07:05 12.0人", "秘匿セル 2"]


def test_funnel_records_the_drawn_facilities_with_their_counts_declared():
    fa = pd.DataFrame({"facility_code": ["F1", "F2", "F3"], "facility_name": ["保育所A", "保育所B", "幼稚園C"],
                       "examined": [40, 120, 8], "with_caries": [12, 30, 3], "adj_rate": [0.3, 0.25, 0.375],
                       "signal": ["99.8%超", "範囲内", "範囲内"], "small": [False, False, True]})
    n = np.array([5, 50, 200])
    curves = pd.DataFrame({"n": n, "lo95": [0.0, .1, .15], "hi95": [.6, .3, .25], "lo99.8": [0.0, .05, .12],
                           "hi99.8": [.7, .35, .28]})
    fig = pdn.funnel_plot(fa, curves, {"levels": (0.95, 0.998), "p0": 0.2}, source="テスト")
    pay = viz.figure_payload(fig)
    plt.close(fig)
    t = _table(fig)
    assert t["施設名"].tolist() == ["保育所A", "保育所B"]   # the small facility is not drawn, nor recorded
    assert t["年齢調整う蝕有病者率（%）"].tolist() == [30.0, 25.0]
    kinds = pay["tables"][0]["kinds"]
    assert kinds["う蝕有病者数（人）"]["kind"] == D.PERSONS and kinds["受診児数（人）"]["kind"] == D.PERSONS
    assert kinds["年齢調整う蝕有病者率（%）"] == {"kind": D.RATE, "of": ["受診児数（人）", "う蝕有病者数（人）"]}
    assert pay["keys"] == ["全体 20.0%", "99.8%超 1施設"]
