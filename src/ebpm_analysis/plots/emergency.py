"""Figures for case 4 (emergency dispatch demand). Each function returns ``fig`` in the house style:
Japanese title, labelled axes with units, a source note and the synthetic mark where relevant.
``city_name`` (the city of the run) starts every title."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from .. import viz
from ..stats import disclosure as D

#: Coverage colours of the placement map: blue and orange of the Okabe–Ito set (told apart with every common
#: colour-vision deficiency, unlike red/green); (colour, marker)
COVERED = ("#0072B2", "o")
NOT_COVERED = ("#E69F00", "o")


def rate_map(gdf, wards, *, source: str, synthetic: bool, title: str = "人口千人あたり救急出動件数（年平均）"):
    """Sendai view: districts above the city average coloured by how far above; others grey."""
    fig, ax = plt.subplots(figsize=(8, 7.5))
    below = gdf[~gdf["above"]]
    above = gdf[gdf["above"]]
    viz.layer(below, ax, color="#e5e7eb", edgecolor="white", linewidth=0.5)
    bins = [1.0, 1.1, 1.2, 1.35, np.inf]
    labels = ["平均の1.0〜1.1倍", "1.1〜1.2倍", "1.2〜1.35倍", "1.35倍以上"]
    colors = ["#fdd49e", "#fc8d59", "#d7301f", "#7f0000"]
    cls = np.digitize(above["ratio_to_city"].to_numpy(), bins[1:-1])
    for k in range(len(labels)):
        sel = above[cls == k]
        if len(sel):
            viz.layer(sel, ax, color=colors[k], edgecolor="white", linewidth=0.5)
    sig = gdf[gdf["sig_above"]]
    if len(sig):
        viz.layer(sig.boundary, ax, color="black", linewidth=1.6)
    viz.outline(ax, wards.to_crs(gdf.crs), label_col="name")
    handles = [Patch(color="#e5e7eb", label="平均以下")] + [Patch(color=c, label=lab) for c, lab in zip(colors,
                                                                                                     labels,
                                                                                                     strict=True)]
    handles.append(Line2D([], [], color="black", linewidth=1.6, label="95%区間でも平均超"))
    city = gdf["city_rate"].iloc[0]
    ax.legend(handles=handles, title=f"平均 {city:.1f} 件/千人・年", loc="lower right", frameon=True, framealpha=0.9,
              fontsize=9, title_fontsize=9)
    viz.finish_map(ax, title, source, synthetic)
    name = next((c for c in ("district_name", "name") if c in gdf.columns), "district_code")
    n = "出動件数（期間計、件）"
    data = pd.DataFrame({"地区": gdf[name].astype(str).to_numpy(),
                         **({n: gdf["dispatches"].to_numpy()} if "dispatches" in gdf.columns else {}),
                         "人口千人あたり出動件数（件/年）": gdf["rate_per_1000"].to_numpy(float),
                         "95%区間下限": gdf["rate_lo"].to_numpy(float), "95%区間上限": gdf["rate_hi"].to_numpy(float),
                         "平均との比": gdf["ratio_to_city"].to_numpy(float),
                         "95%区間でも平均超": np.where(gdf["sig_above"], "はい", "")})
    of = [n] if n in data.columns else []
    kinds = {"地区": D.LABEL, "95%区間でも平均超": D.LABEL, **({n: D.PERSONS} if of else {})}
    for c in ("人口千人あたり出動件数（件/年）", "平均との比"):
        kinds[c] = D.rate(of) if of else D.OTHER
    kinds |= dict.fromkeys(["95%区間下限", "95%区間上限"], D.interval(of) if of else D.OTHER)
    viz.figure_data(fig, data.sort_values("人口千人あたり出動件数（件/年）", ascending=False).reset_index(drop=True),
                    caption=title, kinds=kinds,
                    keys=[f"平均 {city:.1f}件/千人・年", f"平均を上回る地区 {int(gdf['above'].sum())}",
                          f"95%区間でも平均超 {int(gdf['sig_above'].sum())}地区"]
                    + viz.extremes(data, "地区", "人口千人あたり出動件数（件/年）", "件/千人・年")[:1])
    return fig


def profiles(hourly, weekday, share: dict, *, source: str, synthetic: bool, day_hours=(8, 20), city_name: str = ""):
    """Hour-of-day bars (the daytime window ``day_hours`` = [start, end) highlighted) and weekday index."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9.2, 4.5), gridspec_kw={"width_ratios": [2.2, 1]})
    h0, h1 = day_hours
    col = np.where((hourly["hour"] >= h0) & (hourly["hour"] < h1), viz.PALETTE[1], viz.PALETTE[0])
    a1.bar(hourly["hour"], hourly["share"] * 100, color=col)
    a1.set_xlabel("覚知時刻（時）")
    a1.set_ylabel("全出動に占める割合（%）")
    a1.set_xticks(range(0, 24, 2))
    a1.set_title(f"時間帯別：{h0}〜{h1}時に {share['share'] * 100:.1f}%")
    a1.legend(handles=[Patch(color=viz.PALETTE[1], label=f"{h0}〜{h1}時"), Patch(color=viz.PALETTE[0], label="その他")],
              loc="upper left")
    # Bars start at zero: the difference from the all-day mean in %, not an index on an axis cut at 0.85.
    diff = (weekday["index_vs_mean"].to_numpy(dtype=float) - 1) * 100
    a2.bar(weekday["day"], diff, color=np.where(diff >= 0, viz.PALETTE[2], "#9aa5b1"))  # above / below the mean
    a2.axhline(0, color="#555555", linewidth=0.8)
    lim = max(5.0, float(np.nanmax(np.abs(diff))) * 1.2) if len(diff) else 5.0
    a2.set_ylim(-lim, lim)
    a2.set_ylabel("1日平均件数の全日平均との差（%）")
    a2.set_xlabel("曜日")
    a2.set_title("曜日別")
    fig.suptitle(f"{city_name} 救急出動の時間帯・曜日パターン".strip(), fontweight="bold")
    fig.tight_layout()
    viz.source_note(fig, source, synthetic=synthetic)
    by_hour = pd.DataFrame({"覚知時刻（時）": hourly["hour"].to_numpy(),
                            "全出動に占める割合（%）": hourly["share"].to_numpy(dtype=float) * 100})
    by_day = pd.DataFrame({"曜日": weekday["day"].to_numpy(), "1日平均件数の全日平均との差（%）": diff})
    viz.figure_data(fig, by_hour, caption="時間帯別の割合", kinds={"覚知時刻（時）": D.LABEL,
                                                                   "全出動に占める割合（%）": D.OTHER},
                    keys=viz.extremes(by_hour.assign(時=by_hour["覚知時刻（時）"].astype(str) + "時台"), "時",
                                      "全出動に占める割合（%）", "%"))
    viz.figure_data(fig, by_day, caption="曜日別の差",
                    kinds={"曜日": D.LABEL, "1日平均件数の全日平均との差（%）": D.OTHER},
                    keys=viz.extremes(by_day, "曜日", "1日平均件数の全日平均との差（%）", "%", "{:+.1f}"))
    return fig


def density_map(grid, wards, *, cell_m: float, source: str, synthetic: bool, k: int = 5, city_name: str = ""):
    """Binned density (quantile classes computed here, so mapclassify's slow import is not needed)."""
    fig, ax = plt.subplots(figsize=(8, 7))
    v = grid["per_km2_year"].to_numpy(dtype=float)
    ok = ~np.isnan(v)
    edges = np.unique(np.quantile(v[ok], np.linspace(0, 1, k + 1))) if ok.any() else np.array([0.0, 1.0])
    cmap = plt.get_cmap(viz.SEQ_CMAP, max(1, len(edges) - 1))
    cls = np.clip(np.searchsorted(edges, v, side="right") - 1, 0, len(edges) - 2)
    handles = []
    for i in range(len(edges) - 1):
        sel = grid[ok & (cls == i)]
        if len(sel):
            viz.layer(sel, ax, color=cmap(i), edgecolor="white", linewidth=0.2)
        handles.append(Patch(color=cmap(i), label=f"{edges[i]:,.0f}〜{edges[i + 1]:,.0f}"))
    if (~ok).any():
        viz.layer(grid[~ok], ax, color="#dddddd", edgecolor="white", linewidth=0.2, hatch="///")
        handles.append(Patch(facecolor="#dddddd", hatch="///", label="少数のため秘匿"))
    viz.outline(ax, wards.to_crs(grid.crs), label_col="name")
    ax.legend(handles=handles, title="件/km²・年", loc="lower right", frameon=True, framealpha=0.9, fontsize=9)
    title = f"{city_name} 救急出動の密度（{cell_m / 1000:g} km メッシュ集計）".strip()
    viz.finish_map(ax, title, source, synthetic)
    centre = grid.geometry.centroid.to_crs(4326) if grid.crs is not None else None
    data = pd.DataFrame({"中心の緯度": centre.y.round(5).to_numpy() if centre is not None else np.nan,
                         "中心の経度": centre.x.round(5).to_numpy() if centre is not None else np.nan,
                         "出動の密度（件/km²・年）": v})
    viz.figure_data(fig, data.sort_values("出動の密度（件/km²・年）", ascending=False, na_position="last")
                    .reset_index(drop=True), caption=title,
                    kinds=D.no_persons("densities of cells with at least min_cell dispatches (others empty)"),
                    keys=[f"最大 {np.nanmax(v):,.0f}件/km²・年"] * bool(ok.any())
                    + [f"秘匿メッシュ {int((~ok).sum())}"])
    return fig


def response_trend_chart(rt, names: dict, *, top: int = 12, source: str, synthetic: bool, city_name: str = ""):
    """Excess lengthening a year (district minus city) with 95 % intervals; flagged districts in red."""
    d = rt.head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(8, 0.38 * len(d) + 1.6))
    y = np.arange(len(d))
    col = np.where(d["flagged"], viz.PALETTE[3], "#9ca3af")
    ax.errorbar(d["excess_min_per_year"], y, xerr=1.96 * d["se"], fmt="none", ecolor="#6b7280", capsize=3)
    ax.scatter(d["excess_min_per_year"], y, c=col, zorder=3, s=40)
    ax.axvline(0, color="#555555", linewidth=0.8)
    ax.set_yticks(y, [names.get(c, c) for c in d["district_code"]])
    ax.set_xlabel("現着所要時間の伸び（市全体との差、分/年）")
    ax.set_title(f"{city_name} 現着所要時間が全体より速く延びている地区".strip())
    ax.legend(handles=[Line2D([], [], marker="o", linestyle="", color=viz.PALETTE[3],
                              label="延伸と判定（多重検定補正後）"),
                       Line2D([], [], marker="o", linestyle="", color="#9ca3af", label="判定なし")], loc="lower right")
    viz.source_note(fig, source, synthetic=synthetic)
    shown = d.iloc[::-1]
    data = pd.DataFrame({"地区": [names.get(c, c) for c in shown["district_code"]],
                         "伸び（市全体との差、分/年）": shown["excess_min_per_year"].to_numpy(dtype=float),
                         "95%区間下限": (shown["excess_min_per_year"] - 1.96 * shown["se"]).to_numpy(dtype=float),
                         "95%区間上限": (shown["excess_min_per_year"] + 1.96 * shown["se"]).to_numpy(dtype=float),
                         "延伸と判定": np.where(shown["flagged"], "はい", "いいえ")})
    viz.figure_data(fig, data, caption="地区別の現着所要時間の伸び",
                    kinds={"地区": D.LABEL, "延伸と判定": D.LABEL} | dict.fromkeys(list(data.columns[1:4]), D.OTHER),
                    keys=[f"延伸と判定 {int(shown['flagged'].sum())}地区"]
                    + viz.extremes(data, "地区", "伸び（市全体との差、分/年）", "分/年", "{:+.2f}")[:1])
    return fig


def forecast_chart(daily, fc, *, history_days: int = 730, source: str, synthetic: bool, city_name: str = ""):
    h = daily.tail(history_days)
    fig, ax = plt.subplots(figsize=(9.4, 4.8))
    ax.plot(h["date"], h["count"], color="#9ca3af", linewidth=0.5, label="実績（日別）")
    ax.plot(h["date"], h["count"].rolling(28, center=True).mean(), color=viz.PALETTE[0], linewidth=1.8,
            label="実績（28日移動平均）")
    ax.fill_between(fc["date"], fc["lo"], fc["hi"], color=viz.PALETTE[1], alpha=0.2, label="予測の95%区間（日別）")
    ax.plot(fc["date"], fc["forecast"], color=viz.PALETTE[1], linewidth=0.6, alpha=0.8, label="予測（日別期待値）")
    ax.plot(fc["date"], fc["forecast"].rolling(28, center=True, min_periods=14).mean(), color=viz.PALETTE[3],
            linewidth=1.8, label="予測（28日移動平均）")
    ax.set_ylabel("救急出動件数（件/日）")
    ax.set_xlabel("日付")
    ax.set_title(f"{city_name} 日別救急出動件数の実績と今後12か月の予測".strip())
    ax.legend(loc="upper left", ncol=2, fontsize=9)
    viz.source_note(fig, source, synthetic=synthetic)
    data = pd.DataFrame({"日付": pd.to_datetime(fc["date"]).dt.strftime("%Y-%m-%d"),
                         "予測（件/日）": fc["forecast"].to_numpy(dtype=float),
                         "95%区間下限（件/日）": fc["lo"].to_numpy(dtype=float),
                         "95%区間上限（件/日）": fc["hi"].to_numpy(dtype=float)})
    keys = [f"直近1年の実績 平均 {h['count'].tail(365).mean():,.1f}件/日",
            f"予測 平均 {data['予測（件/日）'].mean():,.1f}件/日"] if len(h) and len(data) else []
    viz.figure_data(fig, data, caption="日別の予測（期待値と95%区間）",
                    kinds={"日付": D.LABEL} | dict.fromkeys(list(data.columns[1:]), D.OTHER), keys=keys)
    return fig


def placement_map(wards, demand, sites, existing_n: int, solutions: dict, *, radius: float, source: str,
                  synthetic: bool, crs, city_name: str = "", min_cell: int = 10):
    """Panels per solution: demand cells (size = dispatches), open sites, coverage share in the title.
    ``crs``: the plane CRS of ``demand`` and ``sites`` (``PlacementPlan.travel["crs"]``).
    Cells with 1 … ``min_cell`` − 1 dispatches are not drawn (the plan still counts them)."""
    n = len(solutions)
    # two panels a row (three in one row left each map ~400 px wide on a 1280 px page); a spare panel holds
    # the legend
    ncols = min(n, 2)
    nrows = -(-(n + (1 if n > 2 else 0)) // ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=(4.8 * ncols, 4.7 * nrows), squeeze=False)
    grid = grid.ravel()
    axes, spare = grid[:n], grid[n:]
    for ax in spare:
        ax.set_axis_off()
    shown = demand["w"].to_numpy() >= min_cell
    demand = demand[shown]
    w = demand["w"].to_numpy()
    size = 4 + 80 * w / max(w.max(), 1) if len(w) else w
    wp = wards.to_crs(crs)
    for ax, (title, sol) in zip(axes, solutions.items(), strict=True):
        viz.layer(wp.boundary, ax, color="#555555", linewidth=0.7)
        covered = np.asarray(sol["covered"])[shown].astype(bool)
        for ok, (color, marker) in ((True, COVERED), (False, NOT_COVERED)):
            sel = covered == ok
            ax.scatter(demand["x"][sel], demand["y"][sel], s=size[sel] * 1.6, c=color, marker=marker, alpha=0.7,
                       linewidths=0)
        open_ = np.asarray(sol["sites"])
        ex = open_[open_ < existing_n]
        new = open_[open_ >= existing_n]
        ax.scatter(sites[ex, 0], sites[ex, 1], marker="^", s=60, c="#1f2937", label="既存署所")
        if len(new):
            ax.scatter(sites[new, 0], sites[new, 1], marker="*", s=320, c=viz.PALETTE[4], edgecolors="black",
                       linewidths=0.8, zorder=5, label="候補地（選定）")
        viz.map_axes(ax)
        ax.set_title(f"{title}\n{radius:g}分以内カバー率 {sol['coverage'] * 100:.1f}%", fontsize=11)
    handles = [Line2D([], [], marker="^", linestyle="", color="#1f2937", label="既存署所"),
               Line2D([], [], marker="*", linestyle="", color=viz.PALETTE[4], markersize=12, label="候補地（選定）"),
               Line2D([], [], marker=COVERED[1], linestyle="", color=COVERED[0],
                      label=f"{radius:g}分以内に到着できるメッシュ"),
               Line2D([], [], marker=NOT_COVERED[1], linestyle="", color=NOT_COVERED[0],
                      label=f"{radius:g}分を超えるメッシュ")]
    (spare[0] if len(spare) else axes[0]).legend(handles=handles, loc="center" if len(spare) else "lower left",
                                                 fontsize=11 if len(spare) else 8, frameon=True)
    viz.north_arrow(axes[-1])
    viz.scale_bar(axes[-1])
    fig.suptitle(f"{city_name} 救急隊の配置と到着時間の目安".strip()
                 + f"\n需要メッシュ（円の大きさ＝出動件数、{min_cell}件未満のメッシュは表示せず）", fontweight="bold")
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    viz.source_note(fig, source, synthetic=synthetic)
    sols = list(solutions.values())
    plans = pd.DataFrame({"配置案": list(solutions),
                          f"{radius:g}分以内カバー率（%）": [100 * float(sol["coverage"]) for sol in sols],
                          "署所数": [len(np.asarray(sol["sites"])) for sol in solutions.values()],
                          "うち候補地（選定）": [int((np.asarray(sol["sites"]) >= existing_n).sum())
                                            for sol in solutions.values()]})
    viz.figure_data(fig, plans, caption="配置案のカバー率", kinds=D.no_persons("plans", 配置案=D.LABEL),
                    keys=[f"{t} {r:.1f}%" for t, r in zip(plans["配置案"], plans.iloc[:, 1], strict=True)])
    import geopandas as gpd
    pts = gpd.GeoSeries(gpd.points_from_xy(demand["x"], demand["y"]), crs=crs).to_crs(4326)
    cells = pd.DataFrame({"中心の緯度": pts.y.round(5).to_numpy(), "中心の経度": pts.x.round(5).to_numpy(),
                          "出動件数（件）": demand["w"].to_numpy()})
    for t, sol in solutions.items():
        cells[f"到着できる：{t}"] = np.where(np.asarray(sol["covered"])[shown].astype(bool), "はい", "いいえ")
    viz.figure_data(fig, cells, caption="需要メッシュ（表示したもの）",
                    kinds={"出動件数（件）": D.PERSONS} | {c: D.LABEL for c in cells.columns if c.startswith("到着")}
                    | {"中心の緯度": D.OTHER, "中心の経度": D.OTHER})
    return fig


def scenario_chart(sc, *, source: str, synthetic: bool, city_name: str = ""):
    fig, ax = plt.subplots(figsize=(7, 4.2))
    col = [viz.PALETTE[0]] + [viz.PALETTE[1]] * (len(sc) - 1)
    bars = ax.bar(sc["year"].astype(str), sc["dispatches"], color=col)
    for b, v, s in zip(bars, sc["dispatches"], sc["share65"], strict=True):
        ax.annotate(f"{v:,.0f}件\n（65歳以上 {s * 100:.0f}%）", (b.get_x() + b.get_width() / 2, v), xytext=(0, 3),
                    textcoords="offset points", ha="center", va="bottom", fontsize=9)   # clear of the bar's top
    ax.set_ylim(0, sc["dispatches"].max() * 1.25)
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:,.0f}"))   # 40,000 (was 40000)
    ax.set_ylabel("救急出動件数（件/年）")
    ax.set_xlabel("年")
    ax.set_title(f"{city_name} 高齢化シナリオ：年齢別出動率を据え置いた場合の件数".strip())
    viz.source_note(fig, source, synthetic=synthetic)
    data = pd.DataFrame({"年": sc["year"].astype(str).to_numpy(),
                         "救急出動件数（件/年）": sc["dispatches"].to_numpy(dtype=float),
                         "65歳以上の割合（%）": sc["share65"].to_numpy(dtype=float) * 100})
    viz.figure_data(fig, data, caption="高齢化シナリオの件数", kinds={"年": D.LABEL, "救急出動件数（件/年）": D.OTHER,
                                                                   "65歳以上の割合（%）": D.OTHER},
                    keys=[f"{y}年 {v:,.0f}件" for y, v in zip(data["年"], data["救急出動件数（件/年）"], strict=True)])
    return fig
