"""Case 1 analysis functions on hand-made counts: rates, intervals, cross-tabs, targets."""

import numpy as np
import pandas as pd

from ebpm_analysis.cases import census as cc
from ebpm_analysis.stats import wilson_ci


def make_cells():
    # city C with districts d1, d2 (no wards); counts per workplace for status 0 and E
    rows = []
    data = {
        "d1": {"0": [1000, 100, 600, 0, 200, 20, 80], "E": [800, 10, 500, 0, 200, 20, 70]},
        "d2": {"0": [500, 50, 150, 0, 250, 10, 40], "E": [400, 5, 130, 0, 230, 10, 25]},
    }
    wp = ["0", "1", "2", "3", "4", "5", "9"]
    for a, by in data.items():
        for s, vals in by.items():
            rows += [(a, s, w, float(v)) for w, v in zip(wp, vals, strict=True)]
    cells = pd.DataFrame(rows, columns=["area", "status", "workplace", "value"])
    city = cells.groupby(["status", "workplace"], as_index=False)["value"].sum().assign(area="C")
    cells = pd.concat([cells, city], ignore_index=True)
    cells["published"] = cells["value"].astype("Float64")
    cells["disclosure"] = "published"
    return cells


def test_rate_excludes_unknown_and_counts_home_and_other_wards():
    r = cc.rate_table(make_cells(), ["d1", "d2", "C"]).set_index("area")
    # d1: (100 + 600 + 0) / (1000 - 80)
    assert r.loc["d1", "known"] == 920 and r.loc["d1", "incity"] == 700
    assert np.isclose(r.loc["d1", "rate"], 700 / 920)
    assert np.isclose(r.loc["C", "rate"], (700 + 200) / (920 + 460))
    lo, hi = wilson_ci([700], [920])
    assert np.isclose(r.loc["d1", "lower"], lo[0]) and np.isclose(r.loc["d1", "upper"], hi[0])
    e = cc.rate_table(make_cells(), ["d1"], "E").set_index("area")
    assert np.isclose(e.loc["d1", "rate"], 510 / 730)


def test_hidden_count_blocks_the_rate():
    cells = make_cells()
    cells.loc[(cells["area"] == "d2") & (cells["status"] == "0") & (cells["workplace"] == "1"),
              "disclosure"] = "primary"
    r = cc.rate_table(cells, ["d1", "d2"])
    assert r["publishable"].tolist() == [True, False]
    assert cc.publish_rates(r)["rate"].isna().tolist() == [False, True]


def test_classify_and_targets_reason_from_numbers():
    cells = make_cells()
    r = cc.rate_table(cells, ["d1", "d2"])
    re = cc.rate_table(cells, ["d1", "d2"], "E")
    city = float(cc.rate_table(cells, ["C"])["rate"][0])
    assert cc.classify(r, city).tolist() == ["高い", "低い"]
    t = cc.target_districts(r, re, {"d1": "第一地区", "d2": "第二地区"}, city, n=5)
    assert t["district"].tolist() == ["d1"]
    reason = t["reason"].iloc[0]
    assert f"{700 / 920:.1%}" in reason and "920人" in reason and "700人" in reason and f"{city:.1%}" in reason
    assert f"{(700 / 920 - city) * 100:.1f}ポイント" in reason


def test_crosstab_counts_and_shares():
    ct = cc.crosstab(make_cells(), ["d1"])
    row = ct[ct["status"] == "0"].iloc[0]
    assert row["n_0"] == 1000 and row["n_2"] == 600
    assert row["pct_2"] == 60.0 and row["pct_9"] == 8.0
    assert ct["status_label"].tolist() == ["総数", "雇用者"]


def test_area_tree_for_designated_and_ordinary_city():
    areas = pd.DataFrame({"district_code": ["431010001", "431010002", "431020001"], "ward_code": ["43101", "43101",
                                                                                                  "43102"]})
    assert cc.area_tree(areas, "43100") == {"43100": ["43101", "43102"], "43101": ["431010001", "431010002"],
                                            "43102": ["431020001"]}
    one = pd.DataFrame({"district_code": ["432020001", "432020002"], "ward_code": ["43202", "43202"]})
    assert cc.area_tree(one, "43202") == {"43202": ["432020001", "432020002"]}
