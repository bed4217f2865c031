"""jpcalendar: national holidays, weekday names, office days (開庁日) and day types on known dates."""

import datetime as dt

import jpholiday
import numpy as np
import pandas as pd

from ebpm_analysis import jpcalendar as cal


def test_weekday_names_follow_python_weekday():
    assert cal.WEEKDAY_JA == ("月", "火", "水", "木", "金", "土", "日")
    assert cal.WEEKDAY_JA[dt.date(2025, 1, 6).weekday()] == "月"           # a Monday
    assert list(cal.weekday_ja(["2025-01-06", "2025-01-11", "2025-01-12"])) == ["月", "土", "日"]


def test_national_holidays():
    days = {"2025-01-01": True,    # 元日
            "2025-01-13": True,    # 成人の日 (2nd Monday)
            "2025-05-06": True,    # 振替休日 (5/4 fell on a Sunday)
            "2019-05-01": True,    # 天皇の即位の日 (one-off)
            "2026-09-22": True,    # 国民の休日 (between 敬老の日 and 秋分の日)
            "2025-01-02": False,   # office closure, not a national holiday
            "2025-01-04": False,   # a Saturday is not a holiday
            "2025-11-04": False}
    np.testing.assert_array_equal(cal.is_holiday(list(days)), list(days.values()))
    assert cal.holidays("2025-05-01", "2025-05-31") == {dt.date(2025, 5, d) for d in (3, 4, 5, 6)}
    # times of day and empty input
    assert cal.is_holiday([pd.Timestamp("2025-11-03 13:45")]).tolist() == [True]
    assert cal.is_holiday([]).shape == (0,)


def test_holidays_agree_with_jpholiday_day_by_day():
    days = pd.date_range("2016-01-01", "2030-12-31", freq="D")
    expect = np.array([bool(jpholiday.is_holiday(d.date())) for d in days])
    np.testing.assert_array_equal(cal.is_holiday(days), expect)
    assert expect.sum() > 15 * 15


def test_office_days_and_year_end_closure():
    d = ["2024-12-27", "2024-12-28", "2024-12-29", "2025-01-03", "2025-01-04", "2025-01-06", "2025-01-13",
         "2025-01-14"]
    assert cal.is_year_end_closure(d).tolist() == [False, False, True, True, False, False, False, False]
    #                         Fri   Sat    Sun    Fri(閉庁) Sat    Mon   成人の日 Tue
    assert cal.is_open(d).tolist() == [True, False, False, False, False, True, False, True]
    assert cal.closed_weekdays("2024-12-25", "2025-01-15") == {
        dt.date(2024, 12, 30), dt.date(2024, 12, 31), dt.date(2025, 1, 1), dt.date(2025, 1, 2),
        dt.date(2025, 1, 3), dt.date(2025, 1, 13)}
    oc = cal.office_calendar("2024-12-20", "2025-01-15").set_index("date")
    assert oc["open"].sum() == 13          # 12/20; 12/23–27; 1/6–10; 1/14–15
    assert oc.loc["2024-12-27", "holiday_adjacent"] == False  # noqa: E712 — next day is a Saturday
    assert oc.loc["2025-01-14", "holiday_adjacent"] and oc.loc["2024-12-27", "year_end"]
    assert not oc.loc["2025-01-13", "open"] and oc.loc["2025-01-13", "weekday"] == 0


def test_day_type_weekend_or_national_holiday():
    d = pd.to_datetime(["20251013", "20251014", "20251103", "20251101", "20251231"], format="%Y%m%d")
    assert list(cal.day_type(d)) == ["holiday", "weekday", "holiday", "holiday", "weekday"]
    assert cal.DAY_TYPE_JA == {"weekday": "平日", "holiday": "土日祝"}


def test_school_days_skip_weekends_holidays_and_long_vacations():
    days = {"2026-10-05": True,    # a Monday in term
            "2026-10-10": False,   # Saturday
            "2026-10-12": False,   # スポーツの日 (2nd Monday of October)
            "2026-07-20": False,   # 海の日
            "2026-07-17": True,    # Friday before the summer vacation
            "2026-07-21": False,   # summer vacation starts
            "2026-08-31": False,   # … and ends
            "2026-09-01": True,
            "2026-12-24": True, "2026-12-25": False, "2027-01-07": False, "2027-01-08": True,
            "2027-03-24": True, "2027-03-25": False, "2027-04-05": False, "2027-04-06": True}
    np.testing.assert_array_equal(cal.is_school_day(list(days)), list(days.values()))
    # a custom calendar: no vacations at all
    assert cal.is_school_day(["2026-08-03"], vacations=()).tolist() == [True]
    assert cal.is_school_day([pd.Timestamp("2026-10-05 07:40")]).tolist() == [True]
