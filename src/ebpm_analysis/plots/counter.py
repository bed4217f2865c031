"""Figures for case 6 (counter congestion). Each returns a matplotlib figure in the house style;
``office`` (the counter of the run, e.g. 「滋賀県の窓口」) starts the title."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .. import viz
from ..cases.counter import FISCAL_MONTHS, OPEN_WEEKDAYS_JA
from ..stats import disclosure as D


def heatmap(mean: pd.DataFrame, n: pd.DataFrame, *, source: str, synthetic: bool, min_days: int = 3, office: str = ""):
    """Month × weekday heat map of mean applications per open day (cells with < min_days days greyed)."""
    fig, ax = plt.subplots(figsize=(7.2, 6.4))
    vals = mean.where(n >= min_days)
    im = ax.imshow(vals.to_numpy(dtype=float), cmap=viz.SEQ_CMAP, aspect="auto")
    ax.set_xticks(range(len(vals.columns)), [f"{c}曜" for c in vals.columns])
    ax.set_yticks(range(len(vals.index)), vals.index)
    ax.grid(False)
    hi = np.nanmax(vals.to_numpy(dtype=float))
    for i in range(vals.shape[0]):
        for j in range(vals.shape[1]):
            v = vals.iat[i, j]
            txt = "—" if pd.isna(v) else f"{v:.1f}"
            ax.text(j, i, txt, ha="center", va="center", fontsize=9,
                    color="white" if (not pd.isna(v) and v > 0.6 * hi) else "#222222")
    cb = fig.colorbar(im, ax=ax, shrink=0.8)
    cb.set_label("1開庁日あたり受付件数（件/日）")
    ax.set_xlabel("曜日")
    ax.set_ylabel("月（年度順）")
    ax.set_title(viz.fit_title(f"{office} 月×曜日別の平均受付件数", ax))
    viz.source_note(fig, source, synthetic=synthetic)
    per_day = "1開庁日あたり受付件数（件/日）"
    data = (vals.rename_axis(index="月", columns="曜日").stack(future_stack=True).rename(per_day).reset_index()
            .merge(n.rename_axis(index="月", columns="曜日").stack(future_stack=True)
                   .rename("開庁日数（日）").reset_index(), on=["月", "曜日"]))
    data["曜日"] = data["曜日"].astype(str) + "曜"
    data = data.assign(月=data["月"].astype(str), セル=data["月"].astype(str) + data["曜日"])
    viz.figure_data(fig, data.drop(columns="セル"), caption="月×曜日別の平均受付件数",
                    kinds={"月": D.LABEL, "曜日": D.LABEL, per_day: D.OTHER, "開庁日数（日）": D.COUNT},
                    keys=viz.extremes(data, "セル", per_day, "件/日"))
    return fig


def effects(eff: pd.DataFrame, *, source: str, synthetic: bool, truth: dict | None = None, office: str = ""):
    """Forest plot of rate ratios (95 % CI): day effects (left) and month effects (right)."""
    day = eff[eff["group"] != "月"].reset_index(drop=True)
    mon = eff[eff["group"] == "月"].reset_index(drop=True)
    fig, axes = plt.subplots(1, 2, figsize=(9.2, 5.2), gridspec_kw={"width_ratios": [1, 1]})
    for ax, df, title in ((axes[0], day, "曜日・天候・祝日前後・年末の効果"), (axes[1], mon, "月の効果")):
        y = np.arange(len(df))[::-1]
        ax.errorbar(df["rate_ratio"], y, xerr=[df["rate_ratio"] - df["lo"], df["hi"] - df["rate_ratio"]],
                    fmt="o", color=viz.PALETTE[0], ecolor=viz.PALETTE[0], capsize=3, label="推定値と95%信頼区間")
        if truth is not None:
            tv = [truth.get(t) for t in df["term"]]
            if any(v is not None for v in tv):
                ty = [yy for yy, v in zip(y, tv, strict=True) if v is not None]
                ax.scatter([v for v in tv if v is not None], ty, marker="x", color=viz.PALETTE[3], zorder=3,
                           label="合成データの設定値（真値）")
        ax.axvline(1.0, color="#555555", linewidth=1)
        ax.set_yticks(y, df["label"])
        ax.set_xscale("log")
        ticks = [t for t in (0.5, 0.75, 1, 1.25, 1.5, 2, 3, 4, 6) if df["lo"].min() * 0.9 <= t <= df["hi"].max() * 1.1]
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.set_xlabel("件数の倍率（1 = 基準と同じ、対数目盛）")
        ax.set_title(title)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.suptitle(viz.fit_title(f"{office} 受付件数を左右する要因（負の二項回帰）", fig, 13),
                 fontsize=13, fontweight="bold")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9, bbox_to_anchor=(0.5, 0.0))
    for ax in axes:
        viz.thin_tick_labels(ax)
    viz.source_note(fig, source, synthetic=synthetic)
    data = pd.DataFrame({"区分": eff["group"].astype(str).to_numpy(), "要因": eff["label"].astype(str).to_numpy(),
                         "件数の倍率": eff["rate_ratio"].to_numpy(dtype=float),
                         "95%信頼区間下限": eff["lo"].to_numpy(dtype=float),
                         "95%信頼区間上限": eff["hi"].to_numpy(dtype=float)})
    viz.figure_data(fig, data, caption="受付件数を左右する要因（件数の倍率）",
                    kinds=D.no_persons("model estimates", 区分=D.LABEL, 要因=D.LABEL),
                    keys=viz.extremes(data, "要因", "件数の倍率", "倍", "{:.2f}"))
    return fig


def staffing(by_type: pd.DataFrame, *, target_wait_min: float, quantile: float, source: str, synthetic: bool,
             office: str = ""):
    """Windows needed per weekday × weather, one panel per month label; bars = opening-hours simulation,
    markers = steady-state Erlang C."""
    labels = list(dict.fromkeys(by_type["month_label"]))
    fig, axes = plt.subplots(1, len(labels), figsize=(min(9.2, 4.6 * len(labels)), 4.8),
                             sharey=True, squeeze=False)
    x = np.arange(len(OPEN_WEEKDAYS_JA))
    for ax, lab in zip(axes[0], labels, strict=True):
        d = by_type[by_type["month_label"] == lab]
        for k, (wl, col) in enumerate((("晴・曇", viz.PALETTE[0]), ("雨", viz.PALETTE[1]))):
            s = d[d["weather"] == wl].set_index("weekday_ja").reindex(OPEN_WEEKDAYS_JA)
            ax.bar(x + (k - 0.5) * 0.38, s["staff_session"], width=0.36, color=col,
                   label=f"{wl}の日：開庁時間シミュレーション")
            ax.scatter(x + (k - 0.5) * 0.38, s["staff_erlang"], marker="_", s=260, color="#222222", linewidths=2,
                       label="アーランC（定常近似）" if k == 0 else None, zorder=3)
            for xi, v in zip(x + (k - 0.5) * 0.38, s["staff_session"], strict=True):
                ax.text(xi, v + 0.1, f"{int(v)}", ha="center", va="bottom", fontsize=9)
        m = int(d["month"].iloc[0])
        ax.set_title(f"{lab}（{m}月）")
        ax.set_xticks(x, [f"{w}曜" for w in OPEN_WEEKDAYS_JA])
        ax.set_xlabel("曜日")
        ax.grid(axis="x", visible=False)
    axes[0][0].set_ylabel("必要な窓口数（人）")
    handles, labels = axes[0][0].get_legend_handles_labels()
    title = f"{office} 日の種類別の必要窓口数（平均待ち{target_wait_min:g}分以内、同種の日の{quantile:.0%}をカバー）"
    fig.suptitle(viz.fit_title(title, fig, 12), fontsize=12, fontweight="bold")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9, bbox_to_anchor=(0.5, 0.0))
    viz.source_note(fig, source, synthetic=synthetic)
    data = pd.DataFrame({"月": by_type["month_label"].astype(str).to_numpy(),
                         "曜日": by_type["weekday_ja"].astype(str).to_numpy(),
                         "天候": by_type["weather"].astype(str).to_numpy(),
                         "必要な窓口数（開庁時間シミュレーション）": by_type["staff_session"].to_numpy(),
                         "必要な窓口数（アーランC）": by_type["staff_erlang"].to_numpy()})
    viz.figure_data(fig, data, caption="日の種類別の必要窓口数",
                    kinds=D.no_persons("staffing plan", 月=D.LABEL, 曜日=D.LABEL, 天候=D.LABEL),
                    keys=[f"最大 {by_type['staff_session'].max():.0f}窓口"] if len(data) else [])
    return fig


def scenario(before_reg: pd.DataFrame, after_reg: pd.DataFrame, sc: pd.DataFrame, staff: pd.DataFrame, *,
             source: str, synthetic: bool, office: str = ""):
    """(left) permits by expiry month before/after; (right) applications per open day by month before/after,
    with the windows needed on a busy dry day of the month written above the bars."""
    fig, axes = plt.subplots(1, 2, figsize=(9.2, 5))
    order = FISCAL_MONTHS
    x = np.arange(12)
    b = before_reg.set_index("month")["permits"].reindex(order)
    a = after_reg.set_index("month")["permits"].reindex(order)
    axes[0].bar(x - 0.2, b, width=0.4, color="#9aa5b1", label="現状")
    axes[0].bar(x + 0.2, a, width=0.4, color=viz.PALETTE[2], label="見直し後")
    axes[0].set_title(viz.fit_title(f"{office} 使用者証の有効期限月の分布", axes[0]))
    axes[0].set_ylabel("使用者証数（件）")
    s = sc.set_index("month").reindex(order)
    axes[1].bar(x - 0.2, s["per_day_before"], width=0.4, color="#9aa5b1", label="現状")
    axes[1].bar(x + 0.2, s["per_day_after"], width=0.4, color=viz.PALETTE[2], label="見直し後")
    st = staff.set_index("month").reindex(order)
    for xi, (vb, va, sb, sa) in enumerate(zip(s["per_day_before"], s["per_day_after"], st["before"], st["after"],
                                              strict=True)):
        axes[1].text(xi - 0.2, vb + 0.3, f"{int(sb)}", ha="center", va="bottom", fontsize=9, color="#555555")
        axes[1].text(xi + 0.2, va + 0.3, f"{int(sa)}", ha="center", va="bottom", fontsize=9, color=viz.PALETTE[2])
    axes[1].set_title("月別の1開庁日あたり見込み件数\n（数字＝晴れの最繁忙日の必要窓口数）")
    axes[1].set_ylabel("見込み件数（件/開庁日）")
    for ax in axes:
        ax.set_xticks(x, [str(m) for m in order], fontsize=9)   # "10月" ×12 crowd a panel half the page wide
        ax.set_xlabel("月（年度順）" if ax is axes[1] else "有効期限月（年度順）")
        ax.grid(axis="x", visible=False)
        ax.legend(loc="upper left")
    fig.tight_layout()
    viz.source_note(fig, source, synthetic=synthetic)
    data = pd.DataFrame({"月": [f"{m}月" for m in order],
                         "期限を迎える使用者証：現状（件）": b.to_numpy(),
                         "期限を迎える使用者証：見直し後（件）": a.to_numpy(),
                         "見込み件数：現状（件/開庁日）": s["per_day_before"].to_numpy(float),
                         "見込み件数：見直し後（件/開庁日）": s["per_day_after"].to_numpy(float),
                         "必要窓口数：現状": st["before"].to_numpy(), "必要窓口数：見直し後": st["after"].to_numpy()})
    kinds = D.no_persons("forecasts and windows", 月=D.LABEL,
                         **dict.fromkeys(["期限を迎える使用者証：現状（件）", "期限を迎える使用者証：見直し後（件）"],
                                         D.PERSONS))
    keys = [f"最繁忙月の見込み 現状 {s['per_day_before'].max():.1f}件/開庁日 → "
            f"見直し後 {s['per_day_after'].max():.1f}件/開庁日",
            f"必要窓口数の最大 現状 {st['before'].max():.0f} → 見直し後 {st['after'].max():.0f}"]
    viz.figure_data(fig, data, caption="有効期限月の見直しの見込み", kinds=kinds, keys=keys)
    return fig


def erlang_check(check: pd.DataFrame, *, source: str, synthetic: bool, office: str = ""):
    """Observed mean wait vs the two queue models, by busiest-hour occupancy band.

    Points on a logarithmic axis, not bars: Erlang C grows without bound as occupancy nears 100 %, so bars on
    a linear axis would have to be cut (and a cut bar misleads). An unbounded wait (occupancy ≥ 100 %) is drawn
    as an upward triangle at the top with 「∞」; waits under 0.1 min are drawn at 0.1 and labelled with their value.
    """
    fig, ax = plt.subplots(figsize=(8, 4.6))
    x = np.arange(len(check))
    vals = check[["observed_mean_wait", "session_mean_wait", "erlang_mean_wait"]].to_numpy(dtype=float)
    finite = vals[np.isfinite(vals) & (vals > 0)]
    high = max(finite.max() if finite.size else 1.0, 1.0)
    floor = 0.1
    series = [("observed_mean_wait", "日報の実測", "#444444", "o", -0.12, "left"),
              ("session_mean_wait", "開庁時間シミュレーション", viz.PALETTE[0], "s", 0.0, "right"),
              ("erlang_mean_wait", "アーランC（定常近似）", viz.PALETTE[1], "D", 0.12, "right")]
    top = matplotlib.transforms.blended_transform_factory(ax.transData, ax.transAxes)
    for col, label, color, marker, dx, side in series:
        v = check[col].to_numpy(dtype=float)
        shown = np.where(np.isfinite(v), np.clip(v, floor, None), np.nan)
        ax.plot(x + dx, shown, marker=marker, color=color, label=label, linewidth=1.2, markersize=7)
        for xi, yi in zip(x + dx, v, strict=True):
            if np.isnan(yi):
                continue
            if not np.isfinite(yi):   # above the value axis, at the top edge: not a value on the scale
                ax.plot([xi], [0.95], marker="^", color=color, markersize=9, linestyle="", transform=top)
                ax.text(xi + 0.08, 0.95, "∞（上限なし）", transform=top, va="center", fontsize=9, color=color)
            else:
                text = f"{floor:g}未満" if yi < floor else f"{yi:.1f}" if yi < 10 else f"{yi:.0f}"
                ax.annotate(text, (xi, max(yi, floor)), textcoords="offset points",
                            xytext=(-9 if side == "left" else 9, -3), ha="right" if side == "left" else "left",
                            fontsize=9, color=color)
    ax.set_yscale("log")
    ax.set_ylim(floor * 0.8, high * 8)
    ax.yaxis.set_major_locator(matplotlib.ticker.FixedLocator(
        [t for t in 10.0 ** np.arange(-1, 7) if t <= high * 2]))
    ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda y, _: f"{y:g}"))
    ax.set_xticks(x, check["band"])
    ax.set_xlim(-0.5, len(check) - 0.5)
    ax.set_xlabel("最繁忙時間帯の窓口稼働率（見込み負荷 ÷ 配置窓口数）")
    ax.set_ylabel("平均待ち時間（分、対数目盛）")
    ax.set_title(viz.fit_title(f"{office} 待ち時間モデルの検証：日報の実測との比較", ax))
    ax.legend(loc="upper left", fontsize=9)
    ax.grid(axis="x", visible=False)
    viz.source_note(fig, source, synthetic=synthetic)
    waits = {"日報の実測（分）": "observed_mean_wait", "開庁時間シミュレーション（分）": "session_mean_wait",
             "アーランC（分、空欄は上限なし）": "erlang_mean_wait"}
    data = pd.DataFrame({"最繁忙時間帯の窓口稼働率": check["band"].astype(str).to_numpy()}
                        | {k: check[c].to_numpy(dtype=float) for k, c in waits.items()})
    data = data.replace([np.inf, -np.inf], np.nan)
    def wait(v):
        return "上限なし" if not np.isfinite(v) else f"{v:.1f}分"
    busiest = check.dropna(subset=["observed_mean_wait"]).tail(1)   # the busiest band with a measured wait
    keys = [f"稼働率 {r['band']}：実測 {wait(r['observed_mean_wait'])}、"
            f"シミュレーション {wait(r['session_mean_wait'])}、アーランC {wait(r['erlang_mean_wait'])}"
            for _, r in busiest.iterrows()]
    viz.figure_data(fig, data, caption="待ち時間モデルの検証（平均待ち時間）",
                    kinds=D.no_persons("mean waits", 最繁忙時間帯の窓口稼働率=D.LABEL), keys=keys)
    return fig
