"""Case 7 generator: planted measures in the real police records (本票 CSV + measure register + truth),
read back through the real loaders; the measure-register reader's checks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ebpm_analysis import lookups
from ebpm_analysis.cases import evaluation as ce
from ebpm_analysis.errors import InputFileError, ParameterError
from ebpm_analysis.io import measures
from ebpm_analysis.io import npa_accidents as na
from ebpm_analysis.provenance import recorded_inputs
from ebpm_analysis.synth import evaluation as se
from ebpm_analysis.synth import read_truth

CITY = "43100"


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    out = tmp_path_factory.mktemp("planted")
    folder = se.ensure_evaluation(7, city_code=CITY, out_dir=out, end="2021-10")
    police = lookups.police_area(CITY)
    acc = na.read_honhyo_csv(folder / se.FILES["accidents"], pref_code=police.pref_code, nature="synthetic")
    reg = measures.read_measures(folder / se.FILES["measures"], nature="synthetic")
    real = na.load_accidents(na.GPKG_FILE, pref_code=police.pref_code)
    return {"folder": folder, "acc": acc, "reg": reg, "real": real, "codes": list(police.municipality_codes),
            "truth": read_truth(folder)}


def test_files_and_truth(planted):
    f = planted["folder"]
    assert {p.name for p in f.iterdir()} >= {se.FILES["accidents"], se.FILES["measures"], "truth.json",
                                             "truth_meshes.csv"}
    meta = json.loads((f / "truth.json").read_text(encoding="utf-8"))
    assert meta["did"]["ratio"] == 0.8 and meta["city"]["ratio"] == 0.8
    assert meta["did"]["n_treated"] == 40
    assert meta["did"]["cohorts"] == {"2020-07": 14, "2021-01": 13, "2021-07": 13}
    assert meta["n_written"] == len(planted["acc"]) == len(planted["real"]) - meta["n_removed"]
    assert (f / se.FILES["accidents"]).read_bytes()[:4] == "資料".encode("cp932")   # published cp932 header


def test_the_loader_records_the_planted_file_as_synthetic(planted):
    natures = {e["path"].rsplit("/", 1)[-1]: e["nature"] for e in recorded_inputs()}
    assert natures[se.FILES["accidents"]] == "synthetic"
    assert natures[se.FILES["measures"]] == "synthetic"


def test_only_city_records_are_removed_and_the_rest_is_unchanged(planted):
    real, acc = planted["real"], planted["acc"]
    key = ["police_code", "report_no", "occurred_at"]
    assert not acc.duplicated(key).any()
    merged = real.merge(acc[key].assign(kept=True), on=key, how="left")
    removed = merged[merged["kept"].isna()]
    city = planted["codes"]
    assert removed["municipality_code"].isin(city).all()
    assert len(acc[~acc["municipality_code"].isin(city)]) == len(real[~real["municipality_code"].isin(city)])
    # nothing before the first planted start is removed
    assert removed["occurred_at"].min() >= pd.Timestamp("2020-07-01")


def test_removal_rates_match_the_planted_effects(planted):
    """Treated meshes after their start keep 0.8 × (0.8 after the city-wide start) of their records;
    the other city records keep 0.8 after the city-wide start."""
    real, reg = planted["real"], planted["reg"]
    city = real[real["municipality_code"].isin(planted["codes"])].copy()
    kept = city.merge(planted["acc"][["police_code", "report_no", "occurred_at"]].assign(k=1),
                      on=["police_code", "report_no", "occurred_at"], how="left")["k"].notna().to_numpy()
    city["mesh"] = ce.mesh_code(city["lat"], city["lon"], 4).astype(str)
    start = city["mesh"].map(reg.loc[reg["implemented"] & (reg["area_type"] == "mesh500")]
                             .set_index("area_code")["start"])
    month = city["occurred_at"].dt.to_period("M").astype(str)
    in_period = month <= "2021-10"
    after_mesh = (start.notna() & (month >= start.fillna("9999"))).to_numpy() & in_period.to_numpy()
    after_city = ((month >= "2020-10") & in_period).to_numpy()
    for mask, p in ((after_mesh & after_city, 0.64), (after_mesh & ~after_city, 0.8),
                    (~after_mesh & after_city, 0.8), (~after_mesh & ~after_city, 1.0)):
        n = int(mask.sum())
        assert n >= 10
        share = kept[mask].mean()
        assert abs(share - p) <= 4 * np.sqrt(p * (1 - p) / n) + 1e-12, (p, share, n)


def test_register_lists_treated_and_candidate_meshes_and_the_city_measure(planted):
    reg, truth = planted["reg"], planted["truth"]
    meshes = reg[reg["area_type"] == "mesh500"]
    assert meshes["implemented"].sum() == 40
    assert len(meshes) == truth.meta["did"]["n_candidates"]
    assert set(meshes.loc[meshes["implemented"], "start"]) == {"2020-07", "2021-01", "2021-07"}
    city = reg[reg["area_type"] == "municipality"]
    assert list(city["area_code"]) == [CITY] and list(city["start"]) == ["2020-10"]
    tm = truth.tables["meshes"]
    assert tm["mesh_code"].str.fullmatch(r"\d{9}").all()
    assert set(tm.loc[tm["start"].notna(), "mesh_code"]) == set(meshes.loc[meshes["implemented"], "area_code"])


def test_same_seed_same_plant_other_seed_other_plant(planted):
    real = planted["real"]
    rows = real["municipality_code"].isin(planted["codes"]).to_numpy()
    d = se.PlantDesign(end="2021-10")
    a, b, c = (se.plant(real, rows, d, s) for s in (7, 7, 8))
    assert np.array_equal(a["keep"], b["keep"]) and a["register"].equals(b["register"])
    assert not np.array_equal(a["keep"], c["keep"])
    assert int((~a["keep"]).sum()) == planted["truth"].meta["n_removed"]


def test_keep_probability_shapes():
    g = np.array([-1, 10, 20])
    p = se.keep_probability(g, 30, effect=-0.2)
    assert (p[0] == 1).all() and (p[1, :10] == 1).all() and np.allclose(p[1, 10:], 0.8)
    s = se.keep_probability(g, 30, effect=-0.2, violation="selection", violation_size=1.0)
    assert np.allclose(s[2, 14:20], 1.0) and np.allclose(s[2, :14], 0.5) and np.allclose(s[2, 20:], 0.4)
    t = se.keep_probability(g, 30, effect=0.0, violation="trend", violation_size=-0.25)
    assert t.max() <= 1 and t[1, 0] == 1 and t[1, 12] == pytest.approx(0.75)   # −25 % a year
    assert (t[0] == 1).all()


@pytest.mark.parametrize("kw,name", [({"effect": 0.1}, "effect"), ({"violation": "drift"}, "violation"),
                                     ({"n_treated": 1}, "n_treated"), ({"city_effect": -1.0}, "city_effect")])
def test_bad_designs_are_refused(kw, name):
    with pytest.raises(ParameterError, match=name):
        se.PlantDesign(**kw).check()


# ----------------------------------------------------------------------------------- register reader
GOOD = ("施策ID,施策名,区域種別,区域コード,状態,開始年月\n"
        "Z-1,ゾーン30,500mメッシュ,493015134,実施,2020-07\n"
        "Z-2,ゾーン30,500mメッシュ,493015241,候補（未実施）,\n"
        "C-1,市全域,市区町村,43100,実施,2020-10\n")


def test_register_reader_reads_a_good_file(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text(GOOD, encoding="cp932")
    r = measures.read_measures(p)
    assert list(r["area_type"]) == ["mesh500", "mesh500", "municipality"]
    assert list(r["implemented"]) == [True, False, True]
    assert list(r["start"]) == ["2020-07", "", "2020-10"]
    assert r["area_code"].iloc[0] == "493015134"


@pytest.mark.parametrize("old,new,column,row", [
    ("500mメッシュ,493015241", "1kmメッシュ,493015241", "区域種別", 3),
    ("493015134", "49301513", "区域コード", 2),
    (",43100,", ",4310,", "区域コード", 4),
    ("候補（未実施）,", "未定,", "状態", 3),
    ("実施,2020-07", "実施,2020/07", "開始年月", 2),
    ("候補（未実施）,", "候補（未実施）,2020-01", "開始年月", 3),
    ("493015241", "493015134", "区域コード", 3),
])
def test_register_reader_names_column_and_row_of_bad_input(tmp_path, old, new, column, row):
    p = tmp_path / "m.csv"
    p.write_text(GOOD.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(InputFileError) as e:
        measures.read_measures(p)
    assert e.value.column == column and row in e.value.rows
