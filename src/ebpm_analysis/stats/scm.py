"""Synthetic control for one treated area, with placebo-in-space inference (pysyncon).

The outcome series of every unit is put on an index (its pre-period mean = 100), so areas of different
size can be compared; the synthetic control is the convex combination of donor areas (weights ≥ 0,
summing to 1) that best matches the treated area's pre-period months (pysyncon ``Synth`` with every
pre-period month as a predictor, equally weighted). The effect is the post-period average of observed ÷
synthetic − 1.

Inference (Abadie, Diamond & Hainmueller 2010): the same fit for every donor as if it were treated; the
statistic is the ratio of post- to pre-period RMSPE; the p-value is the treated area's rank among all
areas divided by their number (the smallest attainable p-value is 1 / number of areas).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def index_series(Y: pd.DataFrame, n_pre: int) -> pd.DataFrame:
    """Each column divided by its mean over the first ``n_pre`` rows, × 100."""
    base = Y.iloc[:n_pre].mean(axis=0)
    if (base <= 0).any():
        bad = list(base.index[base <= 0][:3])
        raise ValueError(f"units {bad} have no counts before the start; leave them out of the donor pool")
    return Y / base * 100.0


def fit(Y: pd.DataFrame, treated, n_pre: int) -> dict:
    """Synthetic control of column ``treated`` from the other columns of ``Y`` (rows = periods)."""
    from pysyncon import Synth

    donors = [c for c in Y.columns if c != treated]
    Z0, Z1 = Y[donors], Y[treated]
    X0, X1 = Z0.iloc[:n_pre], Z1.iloc[:n_pre]
    model = Synth()
    model.fit(X0=X0, X1=X1, Z0=Z0.iloc[:n_pre], Z1=Z1.iloc[:n_pre], custom_V=np.ones(n_pre))
    w = pd.Series(model.W, index=donors)
    synthetic = Z0 @ w
    gap = Z1 - synthetic
    pre, post = gap.iloc[:n_pre], gap.iloc[n_pre:]
    return {"weights": w, "synthetic": synthetic, "observed": Z1, "gap": gap,
            "pre_rmspe": float(np.sqrt((pre ** 2).mean())), "post_rmspe": float(np.sqrt((post ** 2).mean())),
            "effect": float(Z1.iloc[n_pre:].sum() / synthetic.iloc[n_pre:].sum() - 1.0)}


def placebo_in_space(Y: pd.DataFrame, treated, n_pre: int) -> dict:
    """The fit for the treated column and for every donor as if treated; p-value from the RMSPE ratio."""
    rows, gaps = [], {}
    for unit in Y.columns:
        r = fit(Y, unit, n_pre)
        gaps[unit] = r["gap"]
        rows.append({"unit": unit, "treated": unit == treated, "pre_rmspe": r["pre_rmspe"],
                     "post_rmspe": r["post_rmspe"], "effect": r["effect"]})
        if unit == treated:
            main = r
    table = pd.DataFrame(rows)
    table["ratio"] = table["post_rmspe"] / table["pre_rmspe"]
    table = table.sort_values("ratio", ascending=False).reset_index(drop=True)
    rank = int(table.index[table["treated"]][0]) + 1
    main.update({"placebos": table, "gaps": pd.DataFrame(gaps), "rank": rank, "n_units": len(table),
                 "p": rank / len(table)})
    return main
