"""05's real-data section: pedestrian accidents (人対車両) on school days in the commuting windows, by mesh,
from the bundled 本票 of Toyama Prefecture selected for 富山市 by the codes lookups derives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from jismesh import utils as ju

from ebpm_analysis import jpcalendar, lookups
from ebpm_analysis.cases import school_routes as sr
from ebpm_analysis.errors import ParameterError
from ebpm_analysis.io import npa_accidents as na


@pytest.fixture(scope="module")
def toyama():
    police = lookups.police_area("16201")
    path = na.police_file("auto", police.pref_code)
    assert path is not None and path.name == "npa_accidents_2019-2021_pref50_toyama.gpkg"
    acc = na.load_accidents(path, pref_code=police.pref_code, municipality_codes=list(police.municipality_codes))
    return {"acc": acc, "res": sr.pedestrian_accidents(acc, level=4), "path": path}


def rows(res, source_rows):
    return res.records.set_index("source_row").reindex(source_rows)


def test_known_rows_in_and_out(toyama):
    r = rows(toyama["res"], [222101, 222106, 221992, 222005, 222013])
    # 2021-09-07 (Tue) 07:40 人対車両: in the morning window
    assert r.loc[222101, "period"] == "morning"
    # 2019-04-15 (Mon) 14:00: the afternoon window starts at 14:00 inclusive
    assert r.loc[222106, "period"] == "afternoon"
    # 2021-08-31 (Tue) 07:40: summer vacation; 2019-11-30 is a Saturday; 2021-04-05 19:05 is after the window
    assert r.loc[[221992, 222005, 222013], "period"].isna().all()
    # the mesh is JIS X 0410's (jismesh) for the record's own coordinates
    rec = toyama["res"].records.set_index("source_row").loc[222101]
    assert rec["mesh"] == str(int(ju.to_meshcode(rec["lat"], rec["lon"], 4)))


def test_selection_agrees_with_the_honhyo_own_weekday_and_holiday_columns(toyama):
    """Recount from the raw 本票 columns (曜日 1=日 … 7=土, 祝日 1=当日, 事故類型 01) instead of jpcalendar's
    weekdays and holidays; only the assumed vacations come from jpcalendar."""
    raw = na.read_gpkg_raw(toyama["path"])
    raw = raw[(raw["都道府県コード"] == "50") & (raw["市区町村コード"] == "201")]
    t = pd.DataFrame({k: pd.to_numeric(raw[c]) for k, c in (("y", na.YEAR), ("m", na.MONTH), ("d", na.DAY),
                                                             ("h", na.HOUR), ("mi", na.MINUTE))})
    date = pd.to_datetime(pd.DataFrame({"year": t["y"], "month": t["m"], "day": t["d"]}))
    md = t["m"] * 100 + t["d"]
    vacation = np.zeros(len(t), bool)
    for (m0, d0), (m1, d1) in jpcalendar.SCHOOL_VACATIONS:
        vacation |= ((md >= m0 * 100 + d0) & (md <= m1 * 100 + d1)).to_numpy()
    minute = t["h"] * 60 + t["mi"]
    window = ((minute >= 420) & (minute < 510)) | ((minute >= 840) & (minute < 1020))
    keep = (t["y"].between(2019, 2021) & (raw["事故類型"] == "01") & ~raw["曜日(発生年月日)"].isin(["1", "7"])
            & (raw["祝日(発生年月日)"] != "1") & ~vacation & window)
    res = toyama["res"]
    assert int(keep.sum()) == res.n == 54
    assert set(res.records["occurred_at"].dt.normalize()) <= set(date[keep])
    assert res.steps["n"].tolist() == [2900, 335, 218, 54]


def test_by_mesh_adds_up(toyama):
    res = toyama["res"]
    m = res.by_mesh
    assert m["n_accidents"].sum() == res.n
    assert (m["n_morning"] + m["n_afternoon"] == m["n_accidents"]).all()
    assert m["mesh"].is_unique and (np.diff(m["n_accidents"].to_numpy()) <= 0).all()
    # the two busiest 500 m meshes hold two accidents each: 富山中央 and 富山北 stations
    assert m.head(2)[["n_accidents", "police"]].values.tolist() == [[2, "富山中央"], [2, "富山北"]]
    coarse = sr.pedestrian_accidents(toyama["acc"], level=3)
    assert coarse.n == res.n and len(coarse.by_mesh) < len(m)
    assert list(res.export_tables()) == ["pedestrian_accidents_by_mesh.csv"]


def test_windows_end_exclusive_and_bad_level(toyama):
    acc = toyama["acc"]
    one = acc[acc["source_row"] == 222101].copy()
    one["hour"], one["minute"] = 8, 30
    assert sr.pedestrian_accidents(one).n == 0                      # 08:30 is past 07:00–08:30
    one["minute"] = 29
    assert sr.pedestrian_accidents(one).n == 1
    empty = sr.pedestrian_accidents(one.iloc[:0])
    assert empty.n == 0 and empty.by_mesh.empty and list(empty.by_mesh.columns)[:2] == ["mesh", "n_accidents"]
    with pytest.raises(ParameterError, match="accident_mesh_level"):
        sr.pedestrian_accidents(acc, level=7)


def test_age_bands_cannot_single_out_children():
    bands = na.age_bands()
    assert bands[0] == "0～24歳" and bands[-1] == "75歳以上" and len(bands) == 7
