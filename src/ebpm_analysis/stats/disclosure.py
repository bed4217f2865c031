"""Disclosure control (秘匿処理) for published tables.

Default threshold ``min_cell=10`` person counts (FACTS §7.1: NDB-style < 10 suppressed).
"""

from __future__ import annotations

import pandas as pd


def suppress_small(values: pd.Series | pd.DataFrame, min_cell: int = 10, *, keep_zero: bool = True):
    """Primary suppression: counts in 1..min_cell-1 become NA (zeros kept unless ``keep_zero`` is False)."""
    mask = (values < min_cell) & (values > 0 if keep_zero else True)
    return values.mask(mask).astype("Float64"), mask
