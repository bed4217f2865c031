"""Figures for the data catalog report. Each returns ``fig``."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from .. import viz
from ..io.catalog import LEVEL_LABELS
from ..stats import disclosure as D

#: ok → error: green, blue, orange, red (distinguishable in the common colour-vision deficiencies by
#: lightness as well as hue)
STATUS_COLORS = {"ok": "#3a8f5c", "info": "#8aa4c8", "warning": "#d9822b", "error": "#b8433c"}
STATUS_LABELS = LEVEL_LABELS


def status_chart(by_dataset: pd.DataFrame, *, source: str, title: str = "データセット別の点検結果"):
    """Stacked horizontal bars: number of checks per dataset by level (ok, info, warning, error)."""
    counts = by_dataset.set_index("dataset")[list(STATUS_COLORS)]
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(counts) + 1.6))
    left = pd.Series(0, index=counts.index)
    for lv, color in STATUS_COLORS.items():
        ax.barh(counts.index, counts[lv], left=left, color=color, label=STATUS_LABELS[lv])
        left = left + counts[lv]
    ax.invert_yaxis()
    ax.set_xlabel("点検項目数（件）")
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.35 / len(counts) - 0.04), ncols=4, title=None)
    ax.margins(y=0.01)
    ax.grid(axis="y", visible=False)
    viz.source_note(fig, source)
    data = counts.rename(columns=STATUS_LABELS).reset_index().rename(columns={"dataset": "データセット"})
    totals = counts.sum()
    viz.figure_data(fig, data, caption=title, kinds=D.no_persons("checks per dataset", データセット=D.LABEL),
                    keys=[f"{STATUS_LABELS[lv]} {int(totals[lv]):,}件" for lv in STATUS_COLORS if totals[lv]])
    return fig
