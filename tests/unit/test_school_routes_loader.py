"""Loader for children's position fixes and the school-route reference layers: both encodings,
Japanese headers, and every bad input named with file, column and rows."""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest
import shapely

from ebpm_analysis import geo
from ebpm_analysis.errors import InputFileError
from ebpm_analysis.io import school_fixes

# A few fixes around Kumamoto city hall (130.7417 E, 32.8031 N).
ROWS = [
    ("D001", "S01", "A小学校", "1", "2026-10-05 07:31:00", "32.803100", "130.741700", "8", "90"),
    ("D002", "S01", "A小学校", "3", "2026-10-05 07:31:30", "32.803300", "130.741900", "12", "75"),
    ("D001", "S01", "A小学校", "1", "2026-10-05 07:34:00", "32.804100", "130.741700", "9", "90"),
    ("D002", "S01", "A小学校", "3", "2026-10-05 07:34:30", "32.804300", "130.742900", "61", "75"),
]
HEADER = ["device_id", "school_id", "school_name", "grade", "timestamp", "lat", "lon", "accuracy", "battery"]
JP_HEADER = ["端末ID", "学校ID", "学校名", "学年", "測位日時", "緯度", "経度", "測位精度", "電池残量"]


def write(path, rows=ROWS, header=HEADER, encoding="cp932"):
    lines = [",".join(header)] + [",".join(r) for r in rows]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


@pytest.fixture(scope="module")
def city():
    return geo.load_city("43100")


@pytest.mark.parametrize("encoding", ["cp932", "utf-8", "utf-8-sig"])
def test_reads_each_encoding_with_auto_detection(tmp_path, encoding, city):
    df = school_fixes.read_fixes(write(tmp_path / "f.csv", encoding=encoding), city=city)
    assert len(df) == 4
    assert df["school_name"].iloc[0] == "A小学校"
    assert df["device_id"].tolist() == ["D001", "D002", "D001", "D002"]
    assert df["timestamp"].iloc[1] == pd.Timestamp("2026-10-05 07:31:30")
    assert df["lat"].iloc[0] == pytest.approx(32.8031)
    assert df["accuracy"].tolist() == [8.0, 12.0, 9.0, 61.0]


def test_japanese_headers_are_mapped(tmp_path):
    df = school_fixes.read_fixes(write(tmp_path / "f.csv", header=JP_HEADER), encoding="cp932")
    assert {"device_id", "school_id", "timestamp", "lat", "lon", "accuracy", "grade", "battery"} <= set(df.columns)
    assert df["grade"].tolist() == [1, 3, 1, 3]


def test_wrong_encoding_names_file(tmp_path):
    p = write(tmp_path / "sjis.csv", encoding="cp932")
    with pytest.raises(InputFileError) as e:
        school_fixes.read_fixes(p, encoding="utf-8")
    assert "sjis.csv" in str(e.value) and "cp932" in str(e.value)


@pytest.mark.parametrize("drop", ["device_id", "timestamp", "lat", "accuracy"])
def test_missing_column(tmp_path, drop):
    k = HEADER.index(drop)
    rows = [tuple(v for i, v in enumerate(r) if i != k) for r in ROWS]
    p = write(tmp_path / "m.csv", rows=rows, header=[h for h in HEADER if h != drop])
    with pytest.raises(InputFileError) as e:
        school_fixes.read_fixes(p)
    assert "m.csv" in str(e.value) and repr(drop) in str(e.value)


def test_outside_city_names_rows(tmp_path, city):
    rows = list(ROWS)
    rows[2] = rows[2][:5] + ("35.681200", "139.767100") + rows[2][7:]   # Tokyo station
    p = write(tmp_path / "out.csv", rows=rows)
    with pytest.raises(InputFileError) as e:
        school_fixes.read_fixes(p, city=city)
    msg = str(e.value)
    assert "out.csv" in msg and "outside the city" in msg and "rows 4" in msg and "lat/lon" in msg


def test_swapped_lat_lon_is_impossible(tmp_path):
    rows = [r[:5] + (r[6], r[5]) + r[7:] for r in ROWS]
    with pytest.raises(InputFileError) as e:
        school_fixes.read_fixes(write(tmp_path / "sw.csv", rows=rows))
    assert "column 'lat/lon'" in str(e.value) and "swapped" in str(e.value) and "rows 2, 3, 4, 5" in str(e.value)


def test_time_going_backwards_per_device(tmp_path):
    rows = list(ROWS)
    rows[2] = rows[2][:4] + ("2026-10-05 07:30:00",) + rows[2][5:]   # D001 goes back before 07:31
    with pytest.raises(InputFileError) as e:
        school_fixes.read_fixes(write(tmp_path / "back.csv", rows=rows))
    msg = str(e.value)
    assert "back.csv" in msg and "backwards" in msg and "column 'timestamp'" in msg and "rows 4" in msg


def test_other_devices_may_interleave_in_time(tmp_path):
    # D002 at 07:31:30 comes before D001's 07:34 — fine, only per-device order matters.
    rows = [ROWS[0], ROWS[2], ROWS[1], ROWS[3]]
    assert len(school_fixes.read_fixes(write(tmp_path / "ok.csv", rows=rows))) == 4


def test_duplicate_fixes(tmp_path):
    rows = ROWS + [ROWS[3]]
    with pytest.raises(InputFileError) as e:
        school_fixes.read_fixes(write(tmp_path / "dup.csv", rows=rows))
    assert "duplicate fixes" in str(e.value) and "rows 6" in str(e.value)


@pytest.mark.parametrize("col,value,needle", [
    ("timestamp", "2026/10/05 7:31", "unreadable timestamps"),
    ("lat", "北緯32.8", "non-numeric"),
    ("lon", "", "non-numeric"),
    ("accuracy", "-5", "implausible value"),
    ("device_id", "", "blank identifiers"),
])
def test_bad_values_name_column_and_row(tmp_path, col, value, needle):
    rows = list(ROWS)
    k = HEADER.index(col)
    rows[1] = rows[1][:k] + (value,) + rows[1][k + 1:]
    with pytest.raises(InputFileError) as e:
        school_fixes.read_fixes(write(tmp_path / "bad.csv", rows=rows))
    msg = str(e.value)
    assert needle in msg and f"column '{col}'" in msg and "rows 3" in msg


def test_header_only_file(tmp_path):
    with pytest.raises(InputFileError, match="no data rows"):
        school_fixes.read_fixes(write(tmp_path / "empty.csv", rows=[]))


def test_missing_file():
    with pytest.raises(InputFileError, match="file not found"):
        school_fixes.read_fixes("/nonexistent/fixes.csv")


def test_schools_and_crossings(tmp_path):
    (tmp_path / "s.csv").write_bytes("学校ID,学校名,緯度,経度\r\nS01,A小学校,32.80,130.74\r\n".encode("cp932"))
    s = school_fixes.read_schools(tmp_path / "s.csv")
    assert s.loc[0, "school_name"] == "A小学校" and s.loc[0, "lat"] == 32.8
    (tmp_path / "c.csv").write_text("crossing_id,lat,lon\nX1,32.80,130.74\nX1,32.81,130.74\n", encoding="utf-8")
    with pytest.raises(InputFileError) as e:
        school_fixes.read_crossings(tmp_path / "c.csv")
    assert "duplicate crossing ids" in str(e.value) and "rows 3" in str(e.value)
    (tmp_path / "c2.csv").write_text("crossing_id,lat,lon\nX1,32.80,\n", encoding="utf-8")
    with pytest.raises(InputFileError) as e:
        school_fixes.read_crossings(tmp_path / "c2.csv")
    assert "column 'lon'" in str(e.value)


def test_designated_routes(tmp_path):
    line = shapely.LineString([(130.74, 32.80), (130.741, 32.80)])
    gdf = gpd.GeoDataFrame({"segment_id": ["S01-R001"], "school_id": ["S01"]}, geometry=[line], crs=4326)
    gdf.to_file(tmp_path / "r.geojson", driver="GeoJSON")
    r = school_fixes.read_designated_routes(tmp_path / "r.geojson")
    assert r.crs.to_epsg() == 6668 and r.loc[0, "segment_id"] == "S01-R001"
    pts = gpd.GeoDataFrame({"segment_id": ["a"], "school_id": ["S01"]}, geometry=[shapely.Point(130.74, 32.8)],
                           crs=4326)
    pts.to_file(tmp_path / "p.geojson", driver="GeoJSON")
    with pytest.raises(InputFileError) as e:
        school_fixes.read_designated_routes(tmp_path / "p.geojson")
    assert "p.geojson" in str(e.value) and "LineString" in str(e.value)
    (tmp_path / "n.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"school_id": "S01"},
         "geometry": {"type": "LineString", "coordinates": [[130.74, 32.8], [130.75, 32.8]]}}]}), encoding="utf-8")
    with pytest.raises(InputFileError, match="segment_id"):
        school_fixes.read_designated_routes(tmp_path / "n.geojson")
