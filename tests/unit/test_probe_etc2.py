"""ETC2.0 delivery loader: both column maps, both encodings, ingest to Parquet, bad input."""

from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd
import pytest

from ebpm_analysis.cases import probe as cp
from ebpm_analysis.errors import InputFileError, ParameterError
from ebpm_analysis.io import etc2
from ebpm_analysis.synth import probe as sp


def _positions(n_trips=3, per_trip=5, start=20251006073000):
    rows = []
    for t in range(n_trips):
        for k in range(per_trip):
            rows.append({"run_date": 20251006, "opid": f"{t // 2:012d}", "gps_time": start + t * 100 + k * 10,
                         "trip_no": t % 2 + 1, "lon": 130.70 + 0.001 * k, "lat": 32.80 + 0.0005 * t,
                         "speed_kmh": 30 + k})
    return pd.DataFrame(rows)


def _events(n=4):
    return pd.DataFrame({"opid": [f"{i:012d}" for i in range(n)], "trip_no": [1] * n,
                         "event_time": [20251006080000 + i for i in range(n)], "lon": [130.71] * n,
                         "lat": [32.79] * n, "heading": [3] * n, "speed_kmh": [40] * n,
                         "accel_long_g": [-0.35, -0.26, -0.5, -0.05][:n], "accel_lat_g": [0.0, 0.0, 0.01, 0.4][:n],
                         "trigger": ["前後", "前後", "前後", "左右"][:n]})


@pytest.fixture(scope="module")
def delivery_pair(tmp_path_factory):
    """The same synthetic trips written with the default and the alternative column map."""
    base = tmp_path_factory.mktemp("etc2")
    out = {}
    for cmap in ("default", "alternative"):
        sp.generate(base / cmap, seed=11, n_rows=20_000, column_map=cmap)
        out[cmap] = base / cmap
    return out


def test_default_and_alternative_maps_read_the_same_values(delivery_pair):
    a = etc2.read_positions(delivery_pair["default"] / "positions", column_map="default")
    b = etc2.read_positions(delivery_pair["alternative"] / "positions", column_map="alternative")
    assert len(a) == len(b) >= 20_000
    key = ["opid", "gps_time", "lat"]
    a, b = a.sort_values(key).reset_index(drop=True), b.sort_values(key).reset_index(drop=True)
    for col in ("opid", "gps_time", "lon", "lat", "speed_kmh"):
        assert (a[col].to_numpy() == b[col].to_numpy()).all(), col
    assert "trip_no" in a and "trip_no" not in b
    assert a["time"].dt.month.eq(10).all()
    assert a["lat"].between(32.6, 33.0).all() and a["lon"].between(130.5, 130.9).all()


def test_events_both_maps(delivery_pair):
    a = etc2.read_events(delivery_pair["default"] / "events")
    b = etc2.read_events(delivery_pair["alternative"] / "events", column_map="alternative")
    assert len(a) == len(b) > 0
    assert set(a["trigger"]) <= {"前後", "左右"}
    assert np.isclose(np.sort(a["accel_long_g"]), np.sort(b["accel_long_g"])).all()
    assert (a["accel_long_g"] <= -0.25).mean() > 0.8  # recorded from −0.25 G, lateral events aside


def test_wrong_map_is_an_error_naming_the_column(delivery_pair):
    zips = sorted((delivery_pair["alternative"] / "positions").glob("*.zip"))
    with pytest.raises(InputFileError,
                       match=r"OUT1-2_\d{6}_\d{8}\.zip::data\.csv, column '(lat|lon|speed_kmh|gps_time) \(column \d+"):
        etc2.read_positions(zips[0], column_map="default")


@pytest.mark.parametrize("encoding", ["utf-8", "cp932"])
def test_both_encodings(tmp_path, encoding):
    z = etc2.write_delivery(_events(), tmp_path / "OUT1-4_493015_20251001.zip", "1-4", encoding=encoding)
    raw = zipfile.ZipFile(z).read("data.csv")
    assert "前後".encode(encoding) in raw and b"\r\n" in raw
    df = etc2.read_events(z, encoding=encoding)
    assert df["trigger"].tolist() == ["前後", "前後", "前後", "左右"]
    other = "utf-8" if encoding == "cp932" else "cp932"
    with pytest.raises(InputFileError,
                       match=rf"OUT1-4_493015_20251001\.zip::data\.csv: not valid {other}.*decodes as {encoding}"):
        etc2.read_events(z, encoding=other)


def test_cp932_generator_output_reads(tmp_path):
    sp.generate(tmp_path / "d", seed=3, n_rows=5_000, encoding="cp932")
    ev = etc2.read_events(tmp_path / "d" / "events", encoding="cp932")
    assert set(ev["trigger"]) <= {"前後", "左右"} and len(ev) > 0


def test_ingest_equals_pandas_reader(delivery_pair, tmp_path):
    res = etc2.ingest(delivery_pair["default"] / "positions", tmp_path / "pq", "1-2")
    df = etc2.read_positions(delivery_pair["default"] / "positions")
    assert res.rows == len(df)
    con = cp.connect()
    rel = etc2.open_parquet(con, res.parquet)
    got = con.execute(f"select count(*), sum(speed_kmh), count(distinct opid) from ({rel.sql_query()})").fetchall()[0]
    assert got == (len(df), df["speed_kmh"].sum(), df["opid"].nunique())


def test_twelve_digit_time_accepted(tmp_path):
    df = _positions()
    df["gps_time"] = df["gps_time"] // 100  # YYYYMMDDHHMM
    z = etc2.write_delivery(df, tmp_path / "OUT1-2_493015_20251001.zip")
    out = etc2.read_positions(z)
    assert out["gps_time"].min() == 20251006073000 - 30 or out["gps_time"].astype(str).str.len().eq(14).all()
    assert out["time"].dt.second.eq(0).all()


@pytest.mark.parametrize("field,value,message", [
    ("lat", 130.7, r"column 'lat \(column 16, index 15\)': value out of range.*rows 3.*lat/lon may be swapped"),
    ("lon", 32.8, r"column 'lon \(column 15, index 14\)': value out of range"),
    ("speed_kmh", -5, r"column 'speed_kmh \(column 19, index 18\)': value out of range.*0.0–200.0 km/h"),
    ("speed_kmh", 260, r"speed_kmh.*out of range"),
    ("gps_time", 20251306073000, r"column 'gps_time \(column 7, index 6\)': not a time"),
])
def test_bad_values_named(tmp_path, field, value, message):
    df = _positions()
    df.loc[2, field] = value
    z = etc2.write_delivery(df, tmp_path / "OUT1-2_493015_20251001.zip")
    with pytest.raises(InputFileError, match=message):
        etc2.read_positions(z)


def test_time_going_backwards_within_trip(tmp_path):
    df = _positions()
    df.loc[3, "gps_time"] = df.loc[1, "gps_time"] - 5
    z = etc2.write_delivery(df, tmp_path / "OUT1-2_493015_20251001.zip")
    with pytest.raises(InputFileError, match=r"gps_time.*time goes backwards within a trip \(rows 4\)"):
        etc2.read_positions(z)
    # a new trip may start earlier than the previous trip ended
    df = _positions()
    df.loc[5:, "gps_time"] -= 10_000
    assert len(etc2.read_positions(etc2.write_delivery(df, tmp_path / "ok.zip"))) == len(df)


def test_missing_value_and_unparseable(tmp_path):
    df = _positions().astype({"speed_kmh": object})
    df.loc[1, "speed_kmh"] = None
    z = etc2.write_delivery(df, tmp_path / "missing.zip")
    with pytest.raises(InputFileError, match=r"speed_kmh.*missing value.*rows 2"):
        etc2.read_positions(z)
    df = _positions()
    df["lat"] = df["lat"].astype(str)
    df.loc[1, "lat"] = "N32.8"
    z = etc2.write_delivery(df, tmp_path / "text.zip")
    with pytest.raises(InputFileError, match=r"text\.zip::data\.csv.*cannot parse"):
        etc2.read_positions(z)


def test_structural_errors(tmp_path):
    bad = tmp_path / "notzip.zip"
    bad.write_bytes(b"PK not really")
    with pytest.raises(InputFileError, match="not a ZIP"):
        etc2.read_positions(bad)
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("data.csv", "")
    with pytest.raises(InputFileError, match="empty"):
        etc2.read_positions(empty)
    nocsv = tmp_path / "nocsv.zip"
    with zipfile.ZipFile(nocsv, "w") as zf:
        zf.writestr("readme.txt", "x")
    with pytest.raises(InputFileError, match="no CSV inside"):
        etc2.read_positions(nocsv)
    short = tmp_path / "short.zip"
    with zipfile.ZipFile(short, "w") as zf:
        zf.writestr("data.csv", "1,2,3\r\n4,5,6\r\n")
    with pytest.raises(InputFileError, match=r"only 3 columns"):
        etc2.read_positions(short)
    with pytest.raises(InputFileError, match="file not found"):
        etc2.read_positions(tmp_path / "missing.zip")


def test_header_row_rejected(tmp_path):
    z = tmp_path / "hdr.zip"
    header = ",".join(["運行日" if i == 2 else "運行ID" if i == 3 else f"項目{i}" for i in range(25)])
    body = etc2.delivery_table(_positions(), "1-2").to_pandas().fillna("").astype(str)
    text = header + "\r\n" + "\r\n".join(",".join(r) for r in body.to_numpy()) + "\r\n"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("data.csv", text.encode("utf-8"))
    with pytest.raises(InputFileError, match="header"):
        etc2.read_positions(z)


def test_column_map_parameter_checks():
    with pytest.raises(ParameterError, match="column_map"):
        etc2.resolve_map("nonexistent", "1-2")
    with pytest.raises(ParameterError, match=r"missing field\(s\) \['lat'\]"):
        etc2.resolve_map({"opid": 0, "gps_time": 1, "lon": 2, "speed_kmh": 3}, "1-2")
    with pytest.raises(ParameterError, match="share one column"):
        etc2.resolve_map({"opid": 0, "gps_time": 1, "lon": 2, "lat": 2, "speed_kmh": 3}, "1-2")
    with pytest.raises(ParameterError, match="encoding"):
        etc2.read_positions("x.zip", encoding="latin-1")
    custom = etc2.resolve_map({"opid": 0, "gps_time": 1, "lon": 2, "lat": 3, "speed_kmh": 4}, "1-2")
    assert custom["lat"] == 3


def test_custom_map_roundtrip(tmp_path):
    cmap = {"opid": 0, "gps_time": 1, "lon": 2, "lat": 3, "speed_kmh": 4}
    z = etc2.write_delivery(_positions(), tmp_path / "c.zip", column_map=cmap, width=6)
    df = etc2.read_positions(z, column_map=cmap)
    assert len(df) == 15 and df["trip_key"].str.endswith("#20251006").all()


def test_provenance_nature(delivery_pair, tmp_path):
    from ebpm_analysis import provenance

    n_before = len(provenance.recorded_inputs())
    provenance._RECORDED.clear()
    etc2.read_positions(delivery_pair["default"] / "positions")
    recs = provenance.recorded_inputs()
    assert n_before >= 0 and recs and all(r["nature"] == "synthetic" and "OUT1-2" in r["path"] for r in recs)
    z = etc2.write_delivery(_positions(), tmp_path / "real" / "OUT1-2_999999_20251001.zip")
    etc2.read_positions(z)
    assert provenance.recorded_inputs()[-1]["nature"] == "real"
