"""Figure design rules that a reader depends on (issue 14): no cut bars, colour-blind-safe pairs, panels large
enough to read. Small inputs, no notebook run."""

import geopandas as gpd
import matplotlib
import numpy as np
import pandas as pd
from matplotlib.collections import PathCollection
from matplotlib.colors import to_hex
from shapely.geometry import box

from ebpm_analysis.plots import counter as pc
from ebpm_analysis.plots import emergency as pe

matplotlib.use("Agg")


def test_erlang_check_puts_every_finite_wait_on_the_axis_and_marks_the_unbounded_one():
    check = pd.DataFrame({"band": ["0%–50%", "50%–70%", "100%以上"], "observed_mean_wait": [0.4, 2.4, 24.1],
                          "session_mean_wait": [0.05, 2.9, 23.0], "erlang_mean_wait": [10.8, 289.0, np.inf]})
    fig = pc.erlang_check(check, source="テスト", synthetic=True)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log" and not ax.patches   # points on a log axis, no bars to cut
    lo, hi = ax.get_ylim()
    assert lo <= 0.1 and hi > 289.0                      # every finite wait inside the axis, none capped
    drawn = np.concatenate([line.get_ydata() for line in ax.get_lines() if len(line.get_ydata()) > 1])
    assert np.nanmax(drawn) == 289.0
    texts = [t.get_text() for t in ax.texts]
    assert "∞（上限なし）" in texts and "289" in texts and "0.1未満" in texts


def test_placement_map_uses_a_colour_blind_safe_pair_and_two_panels_a_row():
    cells = pd.DataFrame({"x": [0.0, 1000.0, 2000.0, 3000.0], "y": [0.0, 0.0, 1000.0, 1000.0],
                          "w": [50, 20, 12, 5]})
    wards = gpd.GeoDataFrame({"name": ["A"]}, geometry=[box(-500, -500, 3500, 1500)], crs="EPSG:6670")
    sites = np.array([[0.0, 0.0], [2000.0, 1000.0], [3000.0, 0.0]])
    sols = {name: {"covered": [True, False, True, False], "sites": [0, 2], "coverage": 0.5}
            for name in ("現状", "追加", "再配置")}
    fig = pe.placement_map(wards.to_crs("EPSG:6668"), cells, sites, 2, sols, radius=8, source="テスト",
                           synthetic=True, crs="EPSG:6670", city_name="テスト市", min_cell=10)
    maps = [ax for ax in fig.axes if ax.collections]
    assert len(maps) == 3
    rows = {round(ax.get_position().y0, 2) for ax in maps}
    assert len(rows) == 2                                # two a row, not three side by side
    colours = {to_hex(c) for ax in maps for coll in ax.collections for c in coll.get_facecolors()}
    assert {pe.COVERED[0].lower(), pe.NOT_COVERED[0].lower()} <= colours
    red_green = {"#1a9850", "#d73027", "#00ff00", "#ff0000"}
    assert not colours & red_green
    # the cell under min_cell (5 dispatches) is not drawn
    points = sum(len(coll.get_offsets()) for ax in maps[:1] for coll in ax.collections
                 if len(coll.get_facecolors())
                 and to_hex(coll.get_facecolors()[0]) in (pe.COVERED[0].lower(), pe.NOT_COVERED[0].lower()))
    assert points == 3


def test_funnel_plot_names_flagged_facilities_as_the_tables_do():
    from ebpm_analysis.plots import dental as pdn
    fa = pd.DataFrame({"facility_code": ["F01", "F02", "F03"], "facility_name": ["さくら保育園", "", "ひかり園"],
                       "examined": [120, 80, 60], "adj_rate": [0.30, 0.28, 0.10], "small": [False, False, False],
                       "signal": ["99.8%超", "99.8%超", "範囲内"]})
    n = np.array([10, 100, 1000])
    curves = pd.DataFrame({"n": n, "lo95": [0.0, 0.05, 0.08], "hi95": [0.3, 0.15, 0.12],
                           "lo99.8": [0.0, 0.03, 0.07], "hi99.8": [0.4, 0.2, 0.13]})
    fig = pdn.funnel_plot(fa, curves, {"levels": [0.95, 0.998], "p0": 0.1})
    labels = {t.get_text() for t in fig.axes[0].texts}
    assert {"さくら保育園", "F02"} <= labels and "F01" not in labels and "ひかり園" not in labels


def _funnel_inputs():
    fa = pd.DataFrame({"facility_code": ["F01", "F02", "F03"],
                       "facility_name": ["北区・幼稚園026", "西区・保育所1", "ひかり園"],
                       "examined": [1000, 300, 60], "adj_rate": [0.30, 0.28, 0.10], "small": [False, False, False],
                       "signal": ["99.8%超", "99.8%超", "範囲内"]})
    n = np.array([10, 100, 1000])
    curves = pd.DataFrame({"n": n, "lo95": [0.0, 0.05, 0.08], "hi95": [0.3, 0.15, 0.12],
                           "lo99.8": [0.0, 0.03, 0.07], "hi99.8": [0.4, 0.2, 0.13]})
    return fa, curves


def test_funnel_names_stay_inside_the_plot():
    """02's funnel drew the name of the largest flagged facility past the plot's right edge."""
    from ebpm_analysis.plots import dental as pdn
    fa, curves = _funnel_inputs()
    fig = pdn.funnel_plot(fa, curves, {"levels": [0.95, 0.998], "p0": 0.1})
    ax = fig.axes[0]
    r = fig.canvas.get_renderer()
    frame = ax.get_window_extent(r)
    names = [t for t in ax.texts if t.get_text() in ("北区・幼稚園026", "西区・保育所1")]
    assert len(names) == 2
    for t in names:
        box = t.get_window_extent(r)
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1, t.get_text()


def test_facility_map_note_on_hidden_facilities_is_not_under_the_legend():
    """02's facility map wrote 'う蝕のある子が10人未満の27施設は秘匿…' at its lower right, under the legend 記号."""
    from ebpm_analysis.plots import dental as pdn
    wards = gpd.GeoDataFrame({"name": ["北区"]}, geometry=[box(0, 0, 8000, 9000)], crs="EPSG:6670")
    pts = gpd.GeoDataFrame({"facility_name": ["a", "b", "c"], "eb_pct": [15.0, 20.0, 25.0],
                            "examined": [30, 60, 120], "signal": ["範囲内", "範囲内", "99.8%超"]},
                           geometry=gpd.points_from_xy([1000, 4000, 7000], [1000, 5000, 8000]), crs="EPSG:6670")
    fig = pdn.facility_map(pts, wards, omitted=27, min_cell=10, source="テスト", synthetic=True)
    ax = fig.axes[0]
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    (note,) = [t for t in ax.texts if "秘匿のため描いていません" in t.get_text()]
    assert not note.get_window_extent(r).overlaps(ax.get_legend().get_window_extent(r))
    src = [t for t in fig.texts if t.get_text().startswith("出典")][0]
    assert not note.get_window_extent(r).overlaps(src.get_window_extent(r))   # the source note goes below it


def test_odds_ratio_axis_marks_the_values_it_spans():
    from ebpm_analysis.plots import dental as pdn
    tab = pd.DataFrame({"要因": ["a", "b"], "オッズ比": [0.78, 3.05], "95%CI下限": [0.71, 2.74],
                        "95%CI上限": [0.84, 3.39]})
    fig = pdn.odds_ratio_plot(tab)
    ax = fig.axes[0]
    fig.canvas.draw()
    lo, hi = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
    assert {1.0, 2.0, 3.0} <= set(np.round(ticks, 6)) and len(ticks) >= 4


def test_scenario_labels_sit_above_their_bars_and_counts_have_separators():
    """04's ageing scenario drew each label's second line on its bar's top and the axis as 40000."""
    sc = pd.DataFrame({"year": [2024, 2030, 2040], "dispatches": [44135.0, 44683.0, 44649.0],
                       "share65": [0.27, 0.29, 0.33]})
    fig = pe.scenario_chart(sc, source="テスト", synthetic=True)
    ax = fig.axes[0]
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    labels = [t for t in ax.texts if "件" in t.get_text()]
    assert len(labels) == 3
    for t, bar in zip(labels, ax.patches, strict=True):
        assert t.get_window_extent(r).y0 > bar.get_window_extent(r).y1 + 1   # a gap, not touching
        assert t.get_window_extent(r).y1 <= ax.get_window_extent(r).y1   # inside the plot
    assert "40,000" in [t.get_text() for t in ax.get_yticklabels()]


def test_rate_ratio_tick_labels_do_not_overlap():
    """06's month panel printed '1.251.5': ticks 1.25 and 1.5 side by side on a log axis spanning 0.75-4 (the
    default report's estimates)."""
    rows = [("月", f"{m}月（4月比）", rr, lo, hi) for m, rr, lo, hi in (
        (1, 1.046, 0.937, 1.169), (2, 3.748, 3.411, 4.119), (3, 1.084, 0.974, 1.206), (5, 0.945, 0.845, 1.057),
        (6, 0.927, 0.831, 1.035), (7, 0.972, 0.871, 1.084), (8, 1.899, 1.721, 2.094), (9, 1.042, 0.935, 1.162),
        (10, 1.016, 0.912, 1.132), (11, 1.076, 0.964, 1.200), (12, 0.976, 0.863, 1.104))]
    rows += [("曜日", "月曜（水曜比）", 1.317, 1.233, 1.406), ("曜日", "火曜（水曜比）", 1.044, 0.977, 1.116),
             ("曜日", "木曜（水曜比）", 1.003, 0.938, 1.072), ("曜日", "金曜（水曜比）", 1.163, 1.089, 1.241),
             ("天候", "雨の日（降水量が閾値以上）", 1.236, 1.181, 1.294),
             ("祝日前後", "祝日・年末年始休みの前後の日", 1.191, 1.101, 1.287),
             ("年末", "年末（12/20–12/28）", 1.524, 1.308, 1.776)]
    eff = pd.DataFrame(rows, columns=["group", "label", "rate_ratio", "lo", "hi"])
    eff["term"] = [f"t{i}" for i in range(len(eff))]
    from ebpm_analysis import viz
    with matplotlib.rc_context(viz._STYLE):   # the reports' house style (font, sizes)
        fig = pc.effects(eff, source="テスト", synthetic=True, office="熊本市の窓口")
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        for ax in fig.axes:
            boxes = [t.get_window_extent(r).padded(2) for t in ax.get_xticklabels() if t.get_text()]   # 4 px apart
            assert len(boxes) >= 2
            assert not any(boxes[i].overlaps(boxes[j]) for i in range(len(boxes)) for j in range(i + 1, len(boxes)))
        assert "1" in [t.get_text() for t in fig.axes[1].get_xticklabels()]


def test_event_study_states_a_tiny_pretrend_p_as_below_0001():
    """07's figure 5 said '事前トレンド検定 p = 0.00' for p = 1.9e-05."""
    from ebpm_analysis import viz
    from ebpm_analysis.plots import evaluation as pv
    es = pd.DataFrame({"phase": ["pre", "post"], "from_month": [-6, 0], "to_month": [-4, 2],
                       "ratio": [2.1, 0.85], "lo": [1.6, 0.8], "hi": [2.9, 0.9]})
    fig = pv.event_study_chart(es, pretrend_p=1.9e-05, source="x", synthetic=True)
    texts = [t.get_text() for t in fig.legends[0].get_texts()] if fig.legends else \
        [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
    assert any("事前トレンド検定 p < 0.001" in t for t in texts), texts
    assert viz.figure_payload(fig)["keys"][0] == "事前トレンド検定 p < 0.001"


def test_accident_hours_leave_room_above_the_tallest_bar_and_the_legend_covers_no_bar():
    """03's figure 5 (the default report's counts) drew the 8時 bar up to the frame and its legend over the
    17-18時 bars."""
    from ebpm_analysis import viz
    from ebpm_analysis.plots import probe as pp
    day = [0, 0, 0, 0, 0, 7, 87, 366, 445, 313, 272, 304, 282, 294, 283, 268, 342, 310, 160, 27, 0, 0, 0, 0]
    night = [46, 41, 23, 25, 23, 49, 49, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 110, 271, 275, 163, 109, 68, 47]
    with matplotlib.rc_context(viz._STYLE):
        fig = pp.accident_hour_chart(pd.DataFrame({"hour": range(24), "昼": day, "夜": night}), source="テスト")
        ax = fig.axes[0]
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        assert ax.get_ylim()[1] >= 1.05 * 445
        legend = ax.get_legend().get_window_extent(r)
        assert not any(legend.overlaps(b.get_window_extent(r)) for b in ax.patches if b.get_height() > 0)


def test_cluster_legend_covers_no_facility():
    """02's figure 6 drew its legend over facilities at the top of the scatter."""
    from ebpm_analysis import viz
    from ebpm_analysis.plots import dental as pdn
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.uniform(20, 38, 80), rng.uniform(35, 58, 44), rng.uniform(25, 48, 36)])
    y = np.concatenate([rng.uniform(13, 21, 80), rng.uniform(13, 22, 44), rng.uniform(20, 30, 36)])
    labels = np.array([1] * 80 + [2] * 44 + [3] * 36)
    feats = pd.DataFrame({"anterior_share": x, "prevalence": y})
    sil = pd.DataFrame({"k": [2, 3, 4], "silhouette": [0.26, 0.28, 0.24]})
    names = {1: "平均的有病・臼歯型", 2: "平均的有病・前歯型", 3: "高有病"}
    with matplotlib.rc_context(viz._STYLE):
        fig = pdn.cluster_plot(feats, labels, sil, names)
        ax = fig.axes[0]
        fig.canvas.draw()
        box = ax.get_legend().get_window_extent(fig.canvas.get_renderer())
        pts = ax.transData.transform(np.column_stack([x, y]))
        assert not any(box.contains(px, py) for px, py in pts)


def test_funnel_legend_covers_no_curve_point_or_axis_text():
    """02's funnel drew its legend at the upper left, over the control limits' curves (which rise there at small
    numbers examined) and points; now it sits under the axis label."""
    from ebpm_analysis import viz
    from ebpm_analysis.plots import dental as pdn
    fa = pd.DataFrame({"facility_code": ["F01", "F02", "F03", "F04"], "facility_name": ["a", "b", "c", "d"],
                       "examined": [40, 300, 60, 25], "adj_rate": [0.35, 0.30, 0.15, 0.05],
                       "small": [False] * 4, "signal": ["範囲内", "99.8%超", "範囲内", "範囲内"]})
    n = np.geomspace(10, 1000, 30)   # normal limits around 20 %, as the default report's (the upper ones leave the
    se = np.sqrt(0.2 * 0.8 / n)      # plot at its top left at small numbers examined)
    curves = pd.DataFrame({"n": n, "lo95": np.clip(0.2 - 1.96 * se, 0, 1), "hi95": 0.2 + 1.96 * se,
                           "lo99.8": np.clip(0.2 - 3.09 * se, 0, 1), "hi99.8": 0.2 + 3.09 * se})
    with matplotlib.rc_context(viz._STYLE):
        fig = pdn.funnel_plot(fa, curves, {"levels": [0.95, 0.998], "p0": 0.2}, source="テスト", synthetic=True)
        ax = fig.axes[0]
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        legend = ax.get_legend().get_window_extent(r)
        frame = ax.get_window_extent(r)
        assert len(ax.lines) == 5
        for line in ax.lines:   # the curves and the overall rate, as drawn: straight segments between display points
            v = line.get_transform().transform(np.asarray(line.get_xydata(), dtype=float))
            t = np.linspace(0, 1, 50)[:, None]
            pts = np.concatenate([a + t * (b - a) for a, b in zip(v[:-1], v[1:], strict=True)])
            inside = pts[(pts[:, 1] >= frame.y0) & (pts[:, 1] <= frame.y1)]
            assert not any(legend.contains(px, py) for px, py in inside), line
        for coll in ax.collections:
            for b in viz.point_boxes(coll) if hasattr(coll, "get_sizes") and len(coll.get_sizes()) else []:
                assert not legend.overlaps(b)
        assert not legend.overlaps(ax.xaxis.get_tightbbox(r))            # tick labels and the axis label
        src = next(t for t in fig.texts if t.get_text().startswith("出典"))
        assert not legend.overlaps(src.get_window_extent(r))
        assert fig.get_figwidth() <= 9.4 and all(t.get_fontsize() >= 9 for t in ax.get_legend().get_texts())


def test_funnel_names_cover_no_other_name_or_point():
    """02's funnel nudged names down one after another: 西区・幼稚園020 and 028 (flagged facilities close together)
    sat on each other and on a point."""
    from ebpm_analysis import viz
    from ebpm_analysis.plots import dental as pdn
    fa = pd.DataFrame({"facility_code": [f"F{i}" for i in range(6)],
                       "facility_name": ["東区・保育所022", "北区・幼稚園026", "西区・幼稚園020", "西区・幼稚園028",
                                         "北区・保育所032", "中央区・保育所1"],
                       "examined": [180, 350, 250, 230, 130, 240], "adj_rate": [0.36, 0.305, 0.30, 0.29, 0.315, 0.29],
                       "small": [False] * 6, "signal": ["99.8%超"] * 5 + ["95%超"]})
    n = np.geomspace(10, 400, 30)
    se = np.sqrt(0.19 * 0.81 / n)
    curves = pd.DataFrame({"n": n, "lo95": np.clip(0.19 - 1.96 * se, 0, 1), "hi95": 0.19 + 1.96 * se,
                           "lo99.8": np.clip(0.19 - 3.09 * se, 0, 1), "hi99.8": 0.19 + 3.09 * se})
    with matplotlib.rc_context(viz._STYLE):
        fig = pdn.funnel_plot(fa, curves, {"levels": [0.95, 0.998], "p0": 0.19}, source="テスト")
        ax = fig.axes[0]
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        names = [t for t in ax.texts if t.get_text() in set(fa["facility_name"])]
        boxes = [viz.label_box(t, r) for t in names]
        assert len(names) == 5
        for i, b in enumerate(boxes):
            assert not any(b.overlaps(o) for o in boxes[i + 1:]), names[i].get_text()
        frame = ax.get_window_extent(r)
        points = [p for c in ax.collections if isinstance(c, PathCollection) for p in viz.point_boxes(c)]
        for t, b in zip(names, boxes, strict=True):
            assert frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1, t.get_text()
            assert not any(b.overlaps(p) for p in points), t.get_text()
