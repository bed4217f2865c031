"""Counter daily log and expiry register loaders: formats, encodings and each bad input."""

import pandas as pd
import pytest

from ebpm_analysis.errors import InputFileError
from ebpm_analysis.io.counter_log import read_counter_log, read_expiry_register

HEADER = "日付,曜日,受付件数,平均待ち時間(分),最大待ち時間(分),窓口職員数,備考"
# 2024/4/26 Fri, 4/27 Sat, 4/29 Mon = 昭和の日, 4/30 Tue, 5/1 Wed.
GOOD = [
    "2024/4/26,金,12,15,48,2,",
    "2024/4/27,土,0,,,,閉庁",
    "2024/4/30,火,17,22,61,2,連休明け",
    "2024/5/1,水,9,,,2,",
]


def write(tmp_path, lines, encoding="cp932", name="log.csv", header=HEADER):
    p = tmp_path / name
    p.write_bytes(("\r\n".join([header] + lines) + "\r\n").encode(encoding))
    return p


@pytest.mark.parametrize("encoding", ["cp932", "utf-8"])
def test_reads_both_encodings(tmp_path, encoding):
    df = read_counter_log(write(tmp_path, GOOD, encoding), encoding=encoding)
    assert df["date"].dt.strftime("%Y-%m-%d").tolist() == ["2024-04-26", "2024-04-30", "2024-05-01"]  # Saturday dropped
    assert df["count"].tolist() == [12, 17, 9]
    assert df["count"].dtype.kind == "i"
    assert df["wait_mean_min"].tolist()[:2] == [15.0, 22.0] and pd.isna(df["wait_mean_min"].iloc[2])
    assert df["wait_max_min"].iloc[1] == 61.0
    assert df["staff"].tolist() == [2.0, 2.0, 2.0]


def test_minimal_columns_english_headers_and_iso_dates(tmp_path):
    p = write(tmp_path, ["2024-04-30,17", "2024-04-26,12"], "utf-8", header="date,count")
    df = read_counter_log(p, encoding="utf-8")
    assert df["count"].tolist() == [12, 17]  # sorted by date
    assert df["wait_mean_min"].isna().all() and df["staff"].isna().all()


def test_wrong_encoding_names_file(tmp_path):
    p = write(tmp_path, GOOD, "utf-8")
    with pytest.raises(InputFileError, match=r"log\.csv.*not valid cp932.*decodes as utf-8"):
        read_counter_log(p, encoding="cp932")


def test_missing_count_column(tmp_path):
    p = write(tmp_path, ["2024/4/26,金,"], header="日付,曜日,備考")
    with pytest.raises(InputFileError, match=r"log\.csv: missing column\(s\) 受付件数"):
        read_counter_log(p)


def test_duplicate_dates(tmp_path):
    p = write(tmp_path, GOOD + ["2024/4/30,火,3,,,,"])
    with pytest.raises(InputFileError, match=r"column '日付': duplicate dates \['2024-04-30'\] \(rows 4, 6\)"):
        read_counter_log(p)


def test_negative_count(tmp_path):
    p = write(tmp_path, ["2024/4/26,金,-2,,,,"])
    with pytest.raises(InputFileError, match=r"column '受付件数': negative values \[-2\] \(rows 2\)"):
        read_counter_log(p)


def test_negative_wait(tmp_path):
    p = write(tmp_path, ["2024/4/26,金,3,-5,,,"])
    with pytest.raises(InputFileError, match=r"column '平均待ち時間\(分\)': negative"):
        read_counter_log(p)


@pytest.mark.parametrize("value", ["12件", "約10", "x"])
def test_non_numeric_count(tmp_path, value):
    p = write(tmp_path, [f"2024/4/26,金,{value},,,,"])
    with pytest.raises(InputFileError, match=r"column '受付件数': non-numeric values .*\(rows 2\).*whole numbers"):
        read_counter_log(p)


def test_fractional_count(tmp_path):
    p = write(tmp_path, ["2024/4/26,金,2.5,,,,"])
    with pytest.raises(InputFileError, match=r"column '受付件数': fractional"):
        read_counter_log(p)


@pytest.mark.parametrize("line,day", [
    ("2024/4/27,土,5,,,,", "2024-04-27"),       # Saturday
    ("2024/4/29,月,5,,,,", "2024-04-29"),       # 昭和の日 (national holiday)
    ("2024/5/6,月,5,,,,", "2024-05-06"),        # 振替休日
    ("2024/12/30,月,5,,,,", "2024-12-30"),      # year-end closure
    ("2025/1/3,金,5,,,,", "2025-01-03"),        # new-year closure
])
def test_counts_on_closed_days(tmp_path, line, day):
    p = write(tmp_path, ["2024/4/26,金,12,,,,", line])
    with pytest.raises(InputFileError,
                       match=rf"column '受付件数': counts on days the counter is closed \['{day}'\] \(rows 3\)"):
        read_counter_log(p)


def test_closed_days_with_zero_are_dropped(tmp_path):
    df = read_counter_log(write(tmp_path, ["2024/12/27,金,30,,,,", "2024/12/30,月,0,,,,", "2025/1/6,月,25,,,,"]))
    assert df["date"].dt.strftime("%m-%d").tolist() == ["12-27", "01-06"]


def test_weekday_label_must_match_date(tmp_path):
    p = write(tmp_path, ["2024/4/26,木,12,,,,"])
    with pytest.raises(InputFileError, match=r"column '曜日': 曜日 '木' does not match date 2024-04-26 \(金\)"):
        read_counter_log(p)


def test_unparseable_date(tmp_path):
    p = write(tmp_path, ["令和6年4月26日,金,12,,,,"])
    with pytest.raises(InputFileError, match=r"column '日付': unparseable dates"):
        read_counter_log(p)


def test_blank_count_on_open_day(tmp_path):
    p = write(tmp_path, ["2024/4/26,金,,,,,"])
    with pytest.raises(InputFileError, match=r"blank count on an open day"):
        read_counter_log(p)


def test_file_not_found(tmp_path):
    with pytest.raises(InputFileError, match="file not found"):
        read_counter_log(tmp_path / "nope.csv")


REG_HEADER = "有効期限月,使用者証数"


def test_expiry_register_reads(tmp_path):
    lines = [f"{m},{100 * m}" for m in range(12, 0, -1)]
    df = read_expiry_register(write(tmp_path, lines, header=REG_HEADER, name="reg.csv"))
    assert df["month"].tolist() == list(range(1, 13))
    assert df["permits"].tolist() == [100 * m for m in range(1, 13)]


@pytest.mark.parametrize("lines,msg", [
    ([f"{m},10" for m in range(1, 12)] + ["13,10"], r"column '有効期限月': months outside 1–12 \[13"),
    ([f"{m},10" for m in range(1, 12)] + ["11,10"], r"column '有効期限月': each month must appear exactly once"),
    ([f"{m},10" for m in range(1, 12)], r"exactly once"),
    ([f"{m},10" for m in range(1, 12)] + ["12,-1"], r"column '使用者証数': permit counts must be whole numbers"),
    ([f"{m},10" for m in range(1, 12)] + ["12,多数"], r"column '使用者証数': non-numeric"),
])
def test_expiry_register_bad_inputs(tmp_path, lines, msg):
    with pytest.raises(InputFileError, match=msg):
        read_expiry_register(write(tmp_path, lines, header=REG_HEADER, name="reg.csv"))
