"""Daily log of a permit counter (窓口日報) and the permit register by expiry month.

Daily log: one row per day, as exported from the office's spreadsheet (cp932 or utf-8)::

    日付,曜日,受付件数,平均待ち時間(分),最大待ち時間(分),窓口職員数,備考
    2024/4/1,月,15,12,48,2,

Required: 日付 (YYYY/M/D or YYYY-MM-DD) and 受付件数. Optional: 平均待ち時間(分), 最大待ち時間(分),
窓口職員数, 曜日 (checked against the date when present), 備考 (ignored). English headers
``date, count, wait_mean_min, wait_max_min, staff`` are accepted too.

Checks (each an :class:`InputFileError` naming file, column and rows): wrong encoding, missing
column, unparseable or duplicate dates, non-numeric or negative counts/waits, a 曜日 that does not
match the date, and counts > 0 on a day the counter is closed (weekend, national holiday, 12/29–1/3).
Closed days with 0 or blank are dropped (some offices list every calendar day).
Open days absent from the log stay absent (unknown, never zero).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ..errors import InputFileError
from ..jpcalendar import WEEKDAY_JA, is_open
from ..provenance import record_input
from .common import AUTO, bad_rows, check_range, input_path, read_csv, require_rows, resolve_encoding

ALIASES = {
    "日付": "date", "年月日": "date", "date": "date",
    "受付件数": "count", "件数": "count", "count": "count",
    "平均待ち時間(分)": "wait_mean_min", "平均待ち時間（分）": "wait_mean_min", "wait_mean_min": "wait_mean_min",
    "最大待ち時間(分)": "wait_max_min", "最大待ち時間（分）": "wait_max_min", "wait_max_min": "wait_max_min",
    "窓口職員数": "staff", "職員数": "staff", "staff": "staff",
    "曜日": "weekday_label", "備考": "note",
}


def _source_name(df: pd.DataFrame, key: str) -> str | None:
    for c in df.columns:
        if ALIASES.get(c) == key:
            return c
    return None


def read_counter_log(path: str | os.PathLike, *, encoding: str = AUTO, nature: str = "real") -> pd.DataFrame:
    """Tidy log: ``date`` (datetime64), ``count`` (int), ``wait_mean_min``, ``wait_max_min`` (float,
    NaN when absent), ``staff`` (float, NaN when absent); one row per open day, sorted.
    ``encoding``: ``"auto"`` (cp932 or utf-8) or a codec name."""
    path = input_path(path, expected="the counter daily log CSV (check log_path)")
    df = read_csv(path, encoding=resolve_encoding(path, encoding), nature=nature, dataset="counter-log", record=False)
    date_col, count_col = _source_name(df, "date"), _source_name(df, "count")
    missing = [n for n, c in (("日付", date_col), ("受付件数", count_col)) if c is None]
    if missing:
        raise InputFileError(path, f"missing column(s) {', '.join(missing)}",
                             expected="columns 日付, 受付件数 "
                                      "(optional 平均待ち時間(分), 最大待ち時間(分), 窓口職員数); "
                                      f"found {', '.join(df.columns[:10])}")
    if df.empty:
        raise InputFileError(path, "no data rows", expected="one row per day")
    raw_dates = df[date_col].astype("string").str.strip()
    dates = pd.to_datetime(raw_dates.str.replace("-", "/", regex=False), format="%Y/%m/%d", errors="coerce")
    bad = dates.isna()
    if bad.any():
        raise InputFileError(path, f"unparseable dates {raw_dates[bad].unique()[:3].tolist()}", column=date_col,
                             rows=bad_rows(bad), expected="dates like 2024/4/1 or 2024-04-01")
    check_range(dates, path, dataset="counter-log", column="日付", label=date_col)
    dup = dates.duplicated(keep=False)
    if dup.any():
        raise InputFileError(path, f"duplicate dates {sorted(set(dates[dup].dt.strftime('%Y-%m-%d')))[:3]}",
                             column=date_col, rows=bad_rows(dup), expected="one row per day")
    out = pd.DataFrame({"date": dates.to_numpy()})
    for key, label in (("count", "受付件数"), ("wait_mean_min", "平均待ち時間(分)"),
                       ("wait_max_min", "最大待ち時間(分)"), ("staff", "窓口職員数")):
        col = _source_name(df, key)
        if col is None:
            out[key] = np.nan
            continue
        s = df[col].astype("string").str.strip().fillna("")
        num = pd.to_numeric(s.replace("", None), errors="coerce")
        bad = (s != "") & num.isna()
        if bad.any():
            raise InputFileError(path, f"non-numeric values {s[bad].unique()[:3].tolist()}", column=col,
                                 rows=bad_rows(bad),
                                 expected="whole numbers without units (blank for unknown)")
        neg = num < 0
        if neg.any():
            raise InputFileError(path, f"negative values {num[neg].unique()[:3].tolist()}", column=col,
                                 rows=bad_rows(neg), expected=f"{label} ≥ 0")
        if key in ("count", "staff"):
            frac = num.notna() & (num != np.floor(num))
            if frac.any():
                raise InputFileError(path, f"fractional values {num[frac].unique()[:3].tolist()}", column=col,
                                     rows=bad_rows(frac), expected=f"{label} as whole numbers")
        check_range(num, path, dataset="counter-log", column=label, label=col)
        out[key] = num.to_numpy(dtype=float)
    wd_col = _source_name(df, "weekday_label")
    if wd_col is not None:
        lab = df[wd_col].astype("string").str.strip().fillna("").str.replace("曜日", "").str.replace("曜", "")
        expect = pd.Series([WEEKDAY_JA[d.weekday()] for d in dates])
        wrong = (lab != "") & (lab.to_numpy() != expect.to_numpy())
        if wrong.any():
            i = int(np.flatnonzero(wrong)[0])
            raise InputFileError(path, f"曜日 '{lab.iloc[i]}' does not match date {dates.iloc[i]:%Y-%m-%d} "
                                 f"({expect.iloc[i]})", column=wd_col, rows=bad_rows(wrong),
                                 expected="the weekday of the date in 日付")
    is_closed = ~is_open(dates)
    busy_closed = is_closed & (out["count"].fillna(0).to_numpy() > 0)
    if busy_closed.any():
        shown = dates[busy_closed].dt.strftime("%Y-%m-%d").tolist()[:3]
        raise InputFileError(path, f"counts on days the counter is closed {shown}", column=count_col,
                             rows=bad_rows(busy_closed),
                             expected="no applications on weekends, national holidays or 12/29–1/3 "
                                      "(check the date, or the office's special opening)")
    nocount = ~is_closed & out["count"].isna().to_numpy()
    if nocount.any():
        raise InputFileError(path, "blank count on an open day", column=count_col,
                             rows=bad_rows(nocount),
                             expected="a count for every listed open day (0 if nobody came); drop the row if unknown")
    out = out.loc[~is_closed].sort_values("date").reset_index(drop=True)
    require_rows(out, path, what="at least one open day (weekday, not a holiday)",
                 why="every listed day is a closed day")
    out["count"] = out["count"].astype(int)
    record_input(path, nature=nature, dataset="counter-log")
    return out


def read_expiry_register(path: str | os.PathLike, *, encoding: str = AUTO, nature: str = "real") -> pd.DataFrame:
    """Permits by expiry month: ``month`` (1–12) and ``permits`` (int); every month exactly once."""
    path = input_path(path, expected="the permits-by-expiry-month CSV (check expiry_path)")
    df = read_csv(path, encoding=resolve_encoding(path, encoding), nature=nature, dataset="counter-expiry-register",
                  required=["有効期限月", "使用者証数"], numeric=["有効期限月", "使用者証数"], record=False)
    m = df["有効期限月"]
    bad = m.isna() | ~m.isin(range(1, 13))
    if bad.any():
        raise InputFileError(path, f"months outside 1–12 {df.loc[bad, '有効期限月'].tolist()[:3]}", column="有効期限月",
                             rows=bad_rows(bad), expected="month numbers 1..12")
    if m.duplicated().any() or len(m) != 12:
        raise InputFileError(path, "each month must appear exactly once", column="有効期限月",
                             rows=bad_rows(m.duplicated(keep=False)), expected="12 rows, months 1..12")
    p = df["使用者証数"]
    badp = p.isna() | (p < 0) | (p != np.floor(p))
    if badp.any():
        raise InputFileError(path, "permit counts must be whole numbers ≥ 0", column="使用者証数",
                             rows=bad_rows(badp), expected="whole numbers ≥ 0")
    check_range(p, path, dataset="counter-expiry-register", column="使用者証数")
    record_input(path, nature=nature, dataset="counter-expiry-register")
    return pd.DataFrame({"month": m.astype(int).to_numpy(), "permits": p.astype(int).to_numpy()}).sort_values(
        "month").reset_index(drop=True)
