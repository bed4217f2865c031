"""The Japanese calendar every case uses: national holidays, weekday names, office days, day types.

- :data:`WEEKDAY_JA` — 月 火 水 木 金 土 日, indexed by ``weekday()`` (0 = Monday);
  :func:`weekday_ja` labels dates.
- :func:`holidays`, :func:`is_holiday` — national holidays (国民の祝日, 振替休日, 国民の休日) from
  ``jpholiday``, looked up once per calendar year.
- :func:`is_year_end_closure` — 12/29–1/3, the year-end/new-year closure of government offices.
- Office days (開庁日, 行政機関の休日に関する法律 第1条): closed on Saturdays, Sundays, national holidays
  and 12/29–1/3. :func:`closed_weekdays`, :func:`office_calendar` (one row per day, with days next to a
  closure), :func:`is_open`.
- :func:`day_type` — ``"weekday"`` or ``"holiday"`` (土日祝: Saturday, Sunday or a national holiday),
  the split used for traffic; labels in :data:`DAY_TYPE_JA`.
- :func:`is_school_day` — days a public primary school is in session under an assumed calendar
  (no school on Saturdays, Sundays, national holidays and the long vacations in :data:`SCHOOL_VACATIONS`;
  docs/sources.md#school-calendar).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import jpholiday
import numpy as np
import pandas as pd

#: Weekday names, index = ``date.weekday()`` (0 = Monday).
WEEKDAY_JA = ("月", "火", "水", "木", "金", "土", "日")
#: Label of a national holiday where it is shown beside weekday names.
HOLIDAY_JA = "祝日"
DAY_TYPE_JA = {"weekday": "平日", "holiday": "土日祝"}


def _dates(dates) -> pd.DatetimeIndex:
    """Dates (anything ``pd.to_datetime`` reads, one value or many) as a midnight DatetimeIndex."""
    if not isinstance(dates, pd.DatetimeIndex):
        dates = pd.to_datetime(pd.Series(dates))
    return pd.DatetimeIndex(dates).normalize()


@lru_cache(maxsize=None)
def _year_holidays(year: int) -> frozenset:
    return frozenset(d for d, _ in jpholiday.year_holidays(year))


def holidays(start, end) -> set[dt.date]:
    """National holidays between ``start`` and ``end`` (inclusive)."""
    start, end = pd.Timestamp(start).date(), pd.Timestamp(end).date()
    return {d for y in range(start.year, end.year + 1) for d in _year_holidays(y) if start <= d <= end}


def is_holiday(dates) -> np.ndarray:
    """True for each of ``dates`` that is a national holiday (weekends are not holidays here)."""
    d = _dates(dates)
    if len(d) == 0:
        return np.zeros(0, dtype=bool)
    hol = set().union(*(_year_holidays(int(y)) for y in pd.unique(d.year)))
    return np.asarray(d.isin(pd.DatetimeIndex(sorted(hol))))


def is_year_end_closure(dates) -> np.ndarray:
    """True for 12/29–1/3 (年末年始)."""
    d = _dates(dates)
    return np.asarray(((d.month == 12) & (d.day >= 29)) | ((d.month == 1) & (d.day <= 3)))


def weekday_ja(dates) -> np.ndarray:
    """月 … 日 for each of ``dates``."""
    return np.array(WEEKDAY_JA, dtype=object)[_dates(dates).day_of_week]


def day_type(dates) -> np.ndarray:
    """``"holiday"`` for Saturdays, Sundays and national holidays (土日祝), else ``"weekday"``."""
    d = _dates(dates)
    return np.where((d.day_of_week >= 5) | is_holiday(d), "holiday", "weekday")


def closed_weekdays(start, end) -> set[dt.date]:
    """Weekday closures between ``start`` and ``end``: national holidays and 12/29–1/3."""
    days = pd.date_range(pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize(), freq="D")
    shut = is_holiday(days) | is_year_end_closure(days)
    return {x.date() for x, s in zip(days, shut, strict=True) if s and x.day_of_week < 5}


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
    """Boolean array: is the office open on each of ``dates`` (開庁日)."""
    d = _dates(dates)
    return (d.day_of_week < 5) & ~is_holiday(d) & ~is_year_end_closure(d)


#: The long vacations assumed for a public primary school, as (first, last) month-day pairs, both
#: inclusive: summer 7/21–8/31, winter 12/25–1/7, spring 3/25–4/5. Each board of education sets its
#: own dates (北海道 and 東北 have a shorter summer and a longer winter break): an assumption, not a
#: published national calendar (docs/sources.md#school-calendar).
SCHOOL_VACATIONS = (((7, 21), (8, 31)), ((12, 25), (12, 31)), ((1, 1), (1, 7)), ((3, 25), (4, 5)))


def is_school_day(dates, vacations=SCHOOL_VACATIONS) -> np.ndarray:
    """True for each of ``dates`` on which a public primary school is assumed in session: a weekday
    (Monday–Friday) that is not a national holiday and lies outside the long ``vacations``
    (:data:`SCHOOL_VACATIONS`; docs/sources.md#school-calendar). Event days, school-specific closures
    and the 2020 nationwide closure are not modelled."""
    d = _dates(dates)
    md = d.month * 100 + d.day
    in_vacation = np.zeros(len(d), dtype=bool)
    for (m0, d0), (m1, d1) in vacations:
        in_vacation |= (md >= m0 * 100 + d0) & (md <= m1 * 100 + d1)
    return (d.day_of_week < 5) & ~is_holiday(d) & ~in_vacation
