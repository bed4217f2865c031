"""Loaders of case 4: dispatch log (command-system export), Yokohama-style hourly counts, stations,
district population — both encodings, every code list, and each bad input named with file/column/rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ebpm_analysis import geo
from ebpm_analysis.errors import InputFileError
from ebpm_analysis.io import dispatch_log as DL
from ebpm_analysis.io import jma
from ebpm_analysis.io import stations as ST

HEADER = ["事案番号", "覚知日時", "出場日時", "現着日時", "病院着日時", "出場隊", "出場署所", "事故種別", "傷病程度",
          "年齢区分", "緯度", "経度", "町丁コード"]
# Near Kumamoto city hall (130.7417 E, 32.8031 N) and in 南区.
ROWS = [
    ["R2024-000001", "2024/07/01 10:00:00", "2024/07/01 10:01:30", "2024/07/01 10:09:30", "2024/07/01 10:40:00",
     "中央救急1", "S01", "急病", "中等症", "高齢者", "32.803100", "130.741700", "43101-D01"],
    ["R2024-000002", "2024/07/01 23:59:00", "2024/07/02 00:00:30", "2024/07/02 00:06:00", "",
     "南救急1", "S04", "一般負傷", "", "成人", "32.734000", "130.713000", "43104-D02"],
    ["R2024-000003", "2024-07-02 08:15:00", "2024-07-02 08:16:00", "2024-07-02 08:30:00", "2024-07-02 09:02:00",
     "中央救急2", "S01", "交通事故", "軽症", "少年", "", "", "43101-D02"],
]


def write(path, rows=ROWS, header=HEADER, encoding="cp932"):
    lines = [",".join(header)] + [",".join(r) for r in rows]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def rows_with(i, col, value):
    rows = [list(r) for r in ROWS]
    rows[i][HEADER.index(col)] = value
    return rows


@pytest.fixture(scope="module")
def city():
    return geo.load_city("43100")


@pytest.mark.parametrize("encoding", ["cp932", "utf-8", "utf-8-sig"])
def test_dispatch_log_reads_each_encoding(tmp_path, encoding, city):
    log = DL.read_dispatch_log(write(tmp_path / "log.csv", encoding=encoding), city=city,
                               known_areas=["43101-D01", "43101-D02", "43104-D02"], known_stations=["S01", "S04"])
    assert len(log) == 3
    assert log["response_min"].round(2).tolist() == [9.5, 7.0, 15.0]
    assert log["travel_min"].round(2).tolist() == [8.0, 5.5, 14.0]
    assert log["transported"].tolist() == [True, False, True]
    assert log["to_hospital_min"].iloc[0] == pytest.approx(40.0)
    assert np.isnan(log["to_hospital_min"].iloc[1])
    assert log["area_code"].tolist() == ["43101-D01", "43104-D02", "43101-D02"]   # codes stay strings
    assert np.isnan(log["lat"].iloc[2])                                          # town code only


def test_every_code_in_the_code_lists_is_accepted(tmp_path):
    rows = []
    for i, (acc, sev, age) in enumerate(zip(DL.ACCIDENT_TYPES, list(DL.SEVERITIES) * 3, list(DL.AGE_GROUPS) * 3,
                                            strict=False)):
        r = list(ROWS[0])
        r[0], r[7], r[8], r[9] = f"X{i}", acc, sev, age
        rows.append(r)
    log = DL.read_dispatch_log(write(tmp_path / "codes.csv", rows))
    assert set(log["accident_type"]) == set(DL.ACCIDENT_TYPES)
    assert set(log["severity"]) == set(DL.SEVERITIES)
    assert set(log["age_group"]) == set(DL.AGE_GROUPS)


@pytest.mark.parametrize("col,earlier", [("出場日時", "2024/07/01 09:59:00"), ("現着日時", "2024/07/01 10:01:00"),
                                         ("病院着日時", "2024/07/01 10:05:00")])
def test_time_order_is_checked(tmp_path, col, earlier):
    p = write(tmp_path / "order.csv", rows_with(0, col, earlier))
    with pytest.raises(InputFileError) as e:
        DL.read_dispatch_log(p)
    msg = str(e.value)
    assert "order.csv" in msg and f"'{col}'" in msg and "rows 2" in msg and "覚知 ≤ 出場 ≤ 現着 ≤ 病院着" in msg


@pytest.mark.parametrize("col,value", [("事故種別", "急病人"), ("傷病程度", "重篤"), ("年齢区分", "高齢")])
def test_unknown_codes_are_named(tmp_path, col, value):
    p = write(tmp_path / "codes.csv", rows_with(1, col, value))
    with pytest.raises(InputFileError) as e:
        DL.read_dispatch_log(p)
    msg = str(e.value)
    assert f"'{col}'" in msg and value in msg and "rows 3" in msg


def test_optional_sex_column_is_checked_and_kept(tmp_path):
    """性別 is optional: a log without it reads as before (no ``sex``); with it, 男/女/不明 are kept as ``sex``
    and any other value is named with its column and row."""
    assert "sex" not in DL.read_dispatch_log(write(tmp_path / "plain.csv")).columns
    header = HEADER[:10] + ["性別"] + HEADER[10:]
    rows = [r[:10] + [sx] + r[10:] for r, sx in zip(ROWS, ["男", "女", "不明"], strict=True)]
    log = DL.read_dispatch_log(write(tmp_path / "sex.csv", rows, header))
    assert log["sex"].tolist() == ["男", "女", "不明"]       # sorted by 覚知日時, the file's order here
    rows[2][10] = "F"
    with pytest.raises(InputFileError) as e:
        DL.read_dispatch_log(write(tmp_path / "bad.csv", rows, header))
    msg = str(e.value)
    assert "'性別'" in msg and "'F'" in msg and "rows 4" in msg and "男 / 女 / 不明" in msg


def test_synthetic_sex_comes_from_its_own_stream(monkeypatch):
    """The generator's 性別 column is drawn from a stream of its own: replacing it changes no other value of the
    log (so adding it kept the 04 baseline), and it holds the codes of the format."""
    from ebpm_analysis.synth import emergency as E
    kw = dict(city_code="43100", start="2024-01-01", end="2024-12-31", n_districts=8, population_total=20000)
    log = E.generate_emergency(7, **kw)["log"]
    assert list(log.columns) == HEADER[:10] + ["性別"] + HEADER[10:]
    assert set(log["性別"]) <= set(DL.SEXES) and {"男", "女"} <= set(log["性別"])
    monkeypatch.setattr(E, "_patient_sex", lambda seed, n: np.full(n, "女"))
    other = E.generate_emergency(7, **kw)["log"]
    pd.testing.assert_frame_equal(log.drop(columns="性別"), other.drop(columns="性別"))
    assert (other["性別"] == "女").all() and not (log["性別"] == "女").all()


def test_blank_severity_is_not_transported_but_blank_accident_type_is_an_error(tmp_path):
    with pytest.raises(InputFileError, match="事故種別"):
        DL.read_dispatch_log(write(tmp_path / "a.csv", rows_with(0, "事故種別", "")))


def test_unknown_station_and_area_codes(tmp_path):
    p = write(tmp_path / "codes.csv")
    with pytest.raises(InputFileError, match="'出場署所'.*S04"):
        DL.read_dispatch_log(p, known_stations=["S01"])
    with pytest.raises(InputFileError, match="'町丁コード'.*43104-D02"):
        DL.read_dispatch_log(p, known_areas=["43101-D01", "43101-D02"])


def test_swapped_or_null_island_coordinates_are_refused_even_without_a_city(tmp_path):
    for lat, lon, what in (("130.741700", "32.803100", "latitude and longitude swapped"),
                           ("0", "0", "null-island")):
        rows = rows_with(0, "緯度", lat)
        rows[0][HEADER.index("経度")] = lon
        p = write(tmp_path / "out.csv", rows)
        with pytest.raises(InputFileError, match=rf"'緯度/経度': 1 .*{what}.*\(rows 2\)"):
            DL.read_dispatch_log(p)


@pytest.mark.parametrize("lat,lon", [("35.681200", "139.767100"),   # Tokyo station
                                     ("32.620000", "130.620000")])  # 宇土市 side, south of the city
def test_coordinates_outside_the_city(tmp_path, city, lat, lon):
    rows = rows_with(0, "緯度", lat)
    rows[0][HEADER.index("経度")] = lon
    p = write(tmp_path / "out.csv", rows)
    with pytest.raises(InputFileError) as e:
        DL.read_dispatch_log(p, city=city)
    assert "outside the city" in str(e.value) and "'緯度/経度'" in str(e.value) and "rows 2" in str(e.value)
    DL.read_dispatch_log(p)   # without a city the coordinates are not checked


def test_missing_location_and_half_coordinates(tmp_path):
    with pytest.raises(InputFileError, match="no location"):
        DL.read_dispatch_log(write(tmp_path / "a.csv", rows_with(2, "町丁コード", "")))
    with pytest.raises(InputFileError, match="latitude without longitude"):
        DL.read_dispatch_log(write(tmp_path / "b.csv", rows_with(0, "経度", "")))


def test_bad_time_missing_column_and_wrong_encoding(tmp_path):
    with pytest.raises(InputFileError, match="'覚知日時'.*YYYY/MM/DD"):
        DL.read_dispatch_log(write(tmp_path / "t.csv", rows_with(0, "覚知日時", "7月1日 10時")))
    with pytest.raises(InputFileError, match="'現着日時'"):
        DL.read_dispatch_log(write(tmp_path / "t2.csv", rows_with(0, "現着日時", "")))
    with pytest.raises(InputFileError, match="missing column.*'病院着日時'"):
        DL.read_dispatch_log(write(tmp_path / "m.csv", [r[:4] + r[5:] for r in ROWS],
                                   [h for h in HEADER if h != "病院着日時"]))
    p = write(tmp_path / "enc.csv", encoding="cp932")
    with pytest.raises(InputFileError, match="not valid utf-8.*cp932"):
        DL.read_dispatch_log(p, encoding="utf-8")


# ------------------------------------------------------------ hourly counts (Yokohama layout)

def write_hourly(path, rows, count_col="件数", encoding="cp932"):
    lines = [f"覚知年,覚知月,覚知日,覚知時,{count_col}"] + [",".join(map(str, r)) for r in rows]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


@pytest.mark.parametrize("count_col", ["件数", "傷病者数"])
def test_hourly_counts(tmp_path, count_col):
    rows = [(2016, 1, 1, h, 10 + h) for h in range(24)] + [(2016, 1, 2, 0, 7)]
    df = DL.read_hourly_counts(write_hourly(tmp_path / "h.csv", rows, count_col, "utf-8"))
    assert len(df) == 25 and df["count"].sum() == sum(10 + h for h in range(24)) + 7
    assert df["time"].iloc[-1] == pd.Timestamp("2016-01-02 00:00")


@pytest.mark.parametrize("row,col", [((2016, 1, 1, 24, 3), "覚知時"), ((2016, 2, 30, 1, 3), "覚知月/覚知日"),
                                     ((2016, 1, 1, 1, -1), "件数"), ((2016, 1, 1, 1, "1.5"), "件数")])
def test_hourly_counts_bad_values(tmp_path, row, col):
    p = write_hourly(tmp_path / "bad.csv", [(2016, 1, 1, 0, 3), row])
    with pytest.raises(InputFileError) as e:
        DL.read_hourly_counts(p)
    assert f"'{col}'" in str(e.value) and "rows 3" in str(e.value)


def test_hourly_counts_duplicates(tmp_path):
    with pytest.raises(InputFileError, match="duplicate"):
        DL.read_hourly_counts(write_hourly(tmp_path / "d.csv", [(2016, 1, 1, 0, 3), (2016, 1, 1, 0, 4)]))


# ------------------------------------------------------------ stations, population

ST_HEADER = "署所コード,署所名,区分,救急隊数_24時間,救急隊数_日勤,緯度,経度"


def write_stations(path, rows, encoding="cp932"):
    path.write_bytes(("\r\n".join([ST_HEADER] + rows) + "\r\n").encode(encoding))
    return path


def test_stations_and_crews(tmp_path, city):
    p = write_stations(tmp_path / "st.csv", ["S01,中央消防署,消防署,2,1,32.8031,130.7417",
                                             "B01,一号出張所,分署,1,0,32.7340,130.7130",
                                             "S06,益城西原消防署,消防署,2,0,32.7920,130.8160"])   # in 益城町, close by
    st = ST.read_stations(p, city=city)
    assert st["kind"].tolist() == ["消防署", "出張所", "消防署"]
    crews = ST.crews_table(st)
    assert len(crews) == 6 and (crews["shift"] == "day").sum() == 1
    assert crews.loc[crews["shift"] == "day", "crew_id"].item() == "S01-D1"


@pytest.mark.parametrize("row,col", [("S01,中央,本部,2,0,32.8,130.74", "区分"),
                                     ("S01,中央,消防署,-1,0,32.8,130.74", "救急隊数_24時間"),
                                     ("S01,中央,消防署,1,0.5,32.8,130.74", "救急隊数_日勤"),
                                     ("S01,中央,消防署,1,0,130.74,32.8", "緯度/経度")])
def test_station_errors(tmp_path, row, col):
    with pytest.raises(InputFileError) as e:
        ST.read_stations(write_stations(tmp_path / "st.csv", [row]))
    assert f"'{col}'" in str(e.value) and "st.csv" in str(e.value)


def test_station_far_outside_the_city(tmp_path, city):
    p = write_stations(tmp_path / "far.csv", ["S01,中央,消防署,1,0,32.5070,130.6017"])   # 八代市
    with pytest.raises(InputFileError, match="outside the city"):
        ST.read_stations(p, city=city)


def test_district_population(tmp_path):
    p = tmp_path / "pop.csv"
    p.write_text("地区コード,地区名,区コード,人口,65歳以上人口\n43101-D01,中央区01,43101,12000,3000\n",
                 encoding="cp932")
    df = DL.read_district_population(p)
    assert df["district_code"].item() == "43101-D01" and df["pop65"].item() == 3000
    p.write_text("地区コード,地区名,区コード,人口,65歳以上人口\n43101-D01,中央区01,43101,1000,3000\n", encoding="cp932")
    with pytest.raises(InputFileError, match="'65歳以上人口'"):
        DL.read_district_population(p)


def test_weather_of_the_synthetic_set_parses_with_the_shared_jma_loader(tmp_path):
    """Case-specific JMA check: the heat/cold covariates the forecast needs come out as floats."""
    from ebpm_analysis.synth.weather import generate_daily_weather, write_jma_daily_csv
    p = write_jma_daily_csv(generate_daily_weather("2024-07-01", "2024-08-31", 3), tmp_path / "w.csv")
    wx = jma.read_jma_daily(p, nature="synthetic")
    assert len(wx) == 62 and wx["temp_max"].notna().all() and (wx["temp_max"] >= wx["temp_mean"]).all()
    assert wx["temp_max"].mean() > 28   # Kumamoto midsummer (normal daily max ≈ 32–33 °C)


def test_the_projection_is_named_by_its_source_not_its_path():
    """04 named the bundled projection by its repository path (data/raw/ipss-projection-…/….csv) in its prose and
    a figure's source note; readers get its title and attribution, a file of their own by its name."""
    from ebpm_analysis.io import dispatch_log as dl
    from ebpm_analysis.pipeline.wording import references_in
    bundled = dl.projection_source(dl.projection_path_for("43100"))
    assert bundled.startswith("熊本市 人口の推移と将来推計") and "国立社会保障・人口問題研究所" in bundled
    assert "data/" not in bundled and ".csv" not in bundled and not references_in(bundled)
    mine = dl.projection_source("/somewhere/toyama_projection.csv")
    assert mine == "指定された将来人口推計（ファイル toyama_projection.csv）"
