"""Japanese administrative calendar (行政機関の休日): which weekdays an office is closed.

Closed: Saturdays, Sundays, national holidays (祝日・振替休日・国民の休日, via ``jpholiday``) and the
year-end/new-year closure 12/29–1/3 (行政機関の休日に関する法律 第1条).
"""

from __future__ import annotations

import datetime as dt

import jpholiday
import numpy as np
import pandas as pd


def closed_weekdays(start, end) -> set[dt.date]:
    """Weekday closures between ``start`` and ``end``: national holidays and 12/29–1/3."""
    start, end = pd.Timestamp(start).date(), pd.Timestamp(end).date()
    out = {d for d, _ in jpholiday.between(start, end)}
    for y in range(start.year - 1, end.year + 1):
        for d in pd.date_range(f"{y}-12-29", f"{y + 1}-01-03").date:
            if start <= d <= end:
                out.add(d)
    return {d for d in out if d.weekday() < 5}


def office_calendar(start, end) -> pd.DataFrame:
    """One row per calendar day: ``date``, ``weekday`` (0=Mon), ``open`` (開庁日),
    ``holiday_adjacent`` (an open day right before or after a closed weekday),
    ``year_end`` (open days 12/20–12/28)."""
    dates = pd.date_range(start, end, freq="D")
    closed = closed_weekdays(dates[0] - pd.Timedelta(days=1), dates[-1] + pd.Timedelta(days=1))
    wd = dates.day_of_week.to_numpy()
    d = dates.date
    open_ = (wd < 5) & np.array([x not in closed for x in d])
    one = dt.timedelta(days=1)
    prev_closed = np.array([(x - one) in closed for x in d])
    next_closed = np.array([(x + one) in closed for x in d])
    adj = open_ & (prev_closed | next_closed)
    year_end = open_ & (dates.month == 12) & (dates.day >= 20)
    return pd.DataFrame({"date": dates, "weekday": wd, "open": open_, "holiday_adjacent": adj,
                         "year_end": year_end})


def is_open(dates) -> np.ndarray:
    """Boolean array: is the office open on each of ``dates``."""
    dates = pd.to_datetime(pd.Series(dates))
    if dates.empty:
        return np.zeros(0, dtype=bool)
    closed = closed_weekdays(dates.min(), dates.max())
    return ((dates.dt.day_of_week < 5).to_numpy()
            & np.array([x.date() not in closed for x in dates]))
