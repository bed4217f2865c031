"""The one JMA daily-CSV loader (cases 4 and 6) and the synthetic weather written in that layout."""

import numpy as np
import pytest

from ebpm_analysis.errors import InputFileError
from ebpm_analysis.io.jma import read_jma_daily, read_jma_normals
from ebpm_analysis.synth.weather import generate_daily_weather, write_jma_daily_csv

HEADER = ("ダウンロードした時刻：2024/05/01 10:00:00\r\n\r\n"
          ",熊本,熊本,熊本,熊本,熊本,熊本,熊本\r\n"
          "年月日,平均気温(℃),平均気温(℃),平均気温(℃),降水量の合計(mm),降水量の合計(mm),降水量の合計(mm),降水量の合計(mm)\r\n"
          ",,,,,現象なし情報,,\r\n"
          ",,品質情報,均質番号,,現象なし情報,品質情報,均質番号\r\n")


def write(tmp_path, rows, enc="cp932"):
    p = tmp_path / "data.csv"
    p.write_bytes((HEADER + "".join(r + "\r\n" for r in rows)).encode(enc))
    return p


def test_quality_and_no_phenomenon(tmp_path):
    p = write(tmp_path, ["2023/1/1,6.5,8,1,0.0,1,8,1",
                         "2023/1/2,7.0,1,1,12.5,0,8,1",   # 欠測 temperature → missing, not zero
                         "2023/1/3,8.1,5,1,--,1,8,1"])    # 準正常 kept; 現象なし → 0 mm
    df = read_jma_daily(p)
    assert df["date"].dt.strftime("%Y-%m-%d").tolist() == ["2023-01-01", "2023-01-02", "2023-01-03"]
    assert df["temp_mean"].iloc[0] == 6.5 and np.isnan(df["temp_mean"].iloc[1]) and df["temp_mean"].iloc[2] == 8.1
    assert df["precip_mm"].tolist() == [0.0, 12.5, 0.0]
    assert df["temp_mean_flag"].tolist() == ["8", "1", "5"]


def test_utf8_file_refused_as_cp932(tmp_path):
    p = write(tmp_path, ["2023/1/1,6.5,8,1,0.0,1,8,1"], enc="utf-8")
    with pytest.raises(InputFileError, match="not valid cp932.*decodes as utf-8"):
        read_jma_daily(p)
    assert read_jma_daily(p, encoding="utf-8")["temp_mean"].iloc[0] == 6.5


def test_bad_layouts(tmp_path):
    p = tmp_path / "x.csv"
    p.write_bytes("date,temp\n2023-01-01,5\n".encode("cp932"))
    with pytest.raises(InputFileError, match="no header row starting with '年月日'"):
        read_jma_daily(p)
    p = write(tmp_path, ["2023/1/1,6.5,8,1,0.0,1,8,1", "2023/1/1,6.6,8,1,0.0,1,8,1"])
    with pytest.raises(InputFileError, match="duplicate dates"):
        read_jma_daily(p)
    p = write(tmp_path, ["2023/1/1,暖か,8,1,0.0,1,8,1"])
    with pytest.raises(InputFileError, match="column '平均気温"):
        read_jma_daily(p)


def test_synthetic_weather_roundtrip_and_climate(tmp_path):
    df = generate_daily_weather("2020-01-01", "2022-12-31", seed=7)
    p = write_jma_daily_csv(df, tmp_path / "w.csv")
    back = read_jma_daily(p)
    assert len(back) == 1096
    assert np.allclose(back["temp_mean"], df["temp_mean"]) and np.allclose(back["precip_mm"], df["precip_mm"])
    normals = read_jma_normals()
    by_month = back.groupby(back["date"].dt.month)["temp_mean"].mean()
    # Seasonal cycle follows Kumamoto's normals (Jan 6.0 °C, Aug 28.6 °C) within 1.5 °C.
    assert abs(by_month[1] - normals.set_index("month").loc[1, "temperature"]) < 1.5
    assert abs(by_month[8] - normals.set_index("month").loc[8, "temperature"]) < 1.5
    # June (rainy season) is the wettest month, as in the normals.
    assert back.groupby(back["date"].dt.month)["precip_mm"].sum().idxmax() in (6, 7)
    again = generate_daily_weather("2020-01-01", "2022-12-31", seed=7)
    assert again.equals(df)


def test_normals_strip_quality_marks():
    n = read_jma_normals()
    assert n["month"].tolist() == list(range(1, 13))
    assert n.loc[n.month == 1, "cloud_cover"].item() == 6.3  # "6.3 @" in the file
    assert np.isnan(n.loc[n.month == 3, "snow_fall"].item())  # "---" → missing
