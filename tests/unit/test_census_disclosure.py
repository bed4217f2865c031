"""Complementary suppression: no suppressed cell can be recomputed from the published table."""

import pandas as pd
import pytest

from ebpm_analysis.cases import census as cc
from ebpm_analysis.stats import disclosure as dc
from ebpm_analysis.synth import census as synth


def small_table():
    # 3 areas × 3 categories with one small cell; margins are built by the hierarchy
    leaves = pd.DataFrame({
        "area": ["a", "a", "a", "b", "b", "b", "c", "c", "c"],
        "cat": ["x", "y", "z"] * 3,
        "count": [50, 4, 30, 40, 25, 35, 60, 20, 15],
    })
    trees = {"area": {"T": ["a", "b", "c"]}, "cat": {"T": ["x", "y", "z"]}}
    return dc.hierarchical_table(leaves, trees)


def test_suppress_small_unchanged():
    v, mask = dc.suppress_small(pd.Series([0, 3, 9, 10, 25]), 10)
    assert mask.tolist() == [False, True, True, False, False]
    assert v.isna().tolist() == [False, True, True, False, False]


def test_hierarchical_table_margins():
    t = small_table()
    c = t.cells.set_index(["area", "cat"])["value"]
    assert c[("T", "T")] == 279 and c[("a", "T")] == 84 and c[("T", "y")] == 49
    assert len(t.constraints) == 8   # 4 rows (a,b,c,T) + 4 columns (x,y,z,T)


def test_primary_only_is_recomputable_and_checker_detects_it():
    t = small_table()
    hidden = ((t.values > 0) & (t.values < 10))
    rec = dc.recomputable(t, hidden)
    assert rec["recomputable"].all()              # the lone small cell follows from its row total
    lp = dc.recomputable(t, hidden, method="lp")
    assert lp["recomputable"].all() and (lp["lower"] == 4).all()


def test_complementary_protects_small_table():
    t = small_table()
    out = dc.complementary_suppression(t, 10)
    hidden = (out["disclosure"] != "published").to_numpy()
    assert (out["disclosure"] == "primary").sum() == 1 and (out["disclosure"] == "complementary").sum() >= 3
    lp = dc.recomputable(t, hidden, method="lp")
    assert not lp["recomputable"].any()
    assert (lp["upper"] - lp["lower"] >= 1).all()
    # each constraint line has zero or at least two hidden cells
    for c in t.constraints:
        assert hidden[c].sum() != 1


def test_published_values_are_untouched_and_no_small_cell_shown():
    t = small_table()
    out = dc.complementary_suppression(t, 10)
    shown = out[out["disclosure"] == "published"]
    assert (shown["published"].astype(float) == shown["value"]).all()
    assert not ((shown["value"] > 0) & (shown["value"] < 10)).any()


def test_interval_suppression_hand_worked():
    # (a,y) = 4 is small. Raising it by 10 at the least cost (value + 1 per unit of change of a published cell)
    # goes round the rectangle (a,y)+ (a,z)− (c,z)+ (c,y)−: 5 + 31 + 16 + 21 per unit, cheaper than any other
    # rectangle or a way through the totals. With t = (a,y): (a,z) = 34 − t, (c,y) = 24 − t, (c,z) = 11 + t,
    # all ≥ 0 → t ∈ [0, 24]: every hidden cell is 24 wide (at least 10).
    t = small_table()
    out = dc.interval_suppression(t, 10)
    hidden = out.loc[out["disclosure"] != "published", ["area", "cat", "disclosure"]]
    assert sorted(map(tuple, hidden.to_numpy())) == [("a", "y", "primary"), ("a", "z", "complementary"),
                                                      ("c", "y", "complementary"), ("c", "z", "complementary")]
    iv = dc.lp_intervals(t, (out["disclosure"] != "published").to_numpy())
    assert iv[["lower", "upper"]].to_numpy().tolist() == [[0, 24], [10, 34], [0, 24], [11, 35]]
    assert out.attrs["narrow"] == 0 and out.attrs["recomputable"] == 0


def two_by_three():
    # r1 = (8, 1, 30), r2 = (20, 12, 30); the four cells of c1, c2 hidden: r1c1 + r1c2 = 9 → r1c1, r1c2 ∈ [0, 9]
    leaves = pd.DataFrame([("r1", "c1", 8), ("r1", "c2", 1), ("r1", "c3", 30), ("r2", "c1", 20), ("r2", "c2", 12),
                           ("r2", "c3", 30)], columns=["row", "col", "count"])
    t = dc.hierarchical_table(leaves, {"row": {"T": ["r1", "r2"]}, "col": {"T": ["c1", "c2", "c3"]}})
    return t, (t.cells["row"].isin(["r1", "r2"]) & t.cells["col"].isin(["c1", "c2"])).to_numpy()


def test_lp_intervals_with_min_width_decides_narrow_cells_exactly():
    t, hidden = two_by_three()
    exact = dc.lp_intervals(t, hidden)
    assert exact["exact"].all() and (exact["width"] == 9).all()
    for width, narrow in ((10, [True] * 4), (9, [False] * 4), (5, [False] * 4)):
        quick = dc.lp_intervals(t, hidden, min_width=width)
        assert (quick["width"] < width).tolist() == narrow
        # narrow cells get their exact bounds; the others a range inside the true interval, at least width wide
        assert quick.loc[quick["width"] < width, "exact"].all()
        inside = (quick["lower"] >= exact["lower"]) & (quick["upper"] <= exact["upper"])
        assert inside.all() and quick.attrs["solves"] <= exact.attrs["solves"]
        assert (quick["exact"] | (quick["width"] >= width)).all()
    assert dc.lp_intervals(t, hidden, min_width=5).attrs["solves"] < exact.attrs["solves"]
    # interval protection widens them: one more cell of the r1 row (r1c3 = 30) → r1c1, r1c2 ∈ [0, 39]
    out = dc.interval_suppression(t, 10)
    assert out.attrs["narrow"] == 0
    more = (out["disclosure"] != "published").to_numpy()
    assert (dc.lp_intervals(t, more)["width"] >= 10).all()


@pytest.fixture(scope="module")
def census_table():
    gen = synth.generate_census("43100", 12_000, 12, 5)
    leaves = pd.DataFrame({"area": gen["persons"]["常住地コード"], "status": gen["persons"]["従業上の地位"],
                           "workplace": gen["persons"]["従業地"]})
    leaves = leaves.groupby(["area", "status", "workplace"]).size().reset_index(name="count")
    areas = gen["districts"][["district_code", "ward_code"]]
    return cc.commuting_table(leaves, areas, "43100")


@pytest.fixture(scope="module")
def census_cells(census_table):
    return cc.disclose(census_table, 10, "43100")


def test_census_table_proof_no_suppressed_value_recomputable(census_table, census_cells):
    cells = census_cells
    hidden = (cells["disclosure"] != "published").to_numpy()
    assert (cells["disclosure"] == "primary").sum() > 20       # the test table does have small cells
    for c in census_table.constraints:
        assert hidden[c].sum() != 1
    assert cells.attrs["recomputable"] == 0
    # interval protection: no hidden cell is bounded to less than min_cell by the published cells (so none is
    # recomputable, by LP or by exact linear algebra); narrow cells would get their exact bounds
    iv = dc.lp_intervals(census_table, hidden, min_width=10)
    assert len(iv) == hidden.sum() and (iv["width"] >= 10).all() and cells.attrs["narrow"] == 0
    # deterministic: the same cells are hidden on a second run
    assert cells["disclosure"].tolist() == cc.disclose(census_table, 10, "43100")["disclosure"].tolist()


def test_census_primary_only_leaks(census_table):
    v = census_table.values
    hidden = (v > 0) & (v < 10)
    assert dc.recomputable(census_table, hidden)["recomputable"].any()


def test_rates_only_where_all_counts_published(census_cells):
    cells = census_cells
    areas = sorted(set(cells["area"]) - {"43100"})
    r = cc.rate_table(cells, areas, "E")
    hid = cells.set_index(["area", "status", "workplace"])["disclosure"] != "published"
    for x in r.itertuples():
        used = [hid[(x.area, "E", w)] for w in ("0", "9", "1", "2", "3")]
        assert x.publishable == (not any(used))
    pub = cc.publish_rates(r)
    assert pub.loc[~r["publishable"], "rate"].isna().all()


def test_export_has_no_unsuppressed_values(census_cells):
    cells = census_cells
    out = cc.export_cells(cells, {})
    assert "value" not in out.columns
    assert out.loc[out["disclosure"] != "", "count"].isna().all()


def test_audit_finds_the_narrow_intervals_greedy_suppression_leaves_in_01s_export(census_table, census_cells,
                                                                                    tmp_path):
    """Issue 12 'must show': a narrow LP interval planted in 01's own export (the cross tabulation as the greedy
    "not exactly recomputable" suppression left it) fails ebpm audit naming file, column and row; the export of
    interval protection passes."""
    from ebpm_analysis.audit import audit_paths
    from ebpm_analysis.io import write_csv
    areas = sorted(set(census_table.cells["area"]))
    wards = [a for a in areas if len(a) == 5 and a != "43100"]
    trees = {"area": {"43100": wards, **{w: [a for a in areas if len(a) > 5 and a[:5] == w] for w in wards}},
             "status": cc.STATUS_TREE, "workplace": cc.WORKPLACE_TREE}
    schema = dc.Schema({c: dc.LABEL for c in ("area", "area_name", "status", "status_label", "workplace",
                                              "workplace_label", "disclosure")} | {"count": dc.PERSONS},
                       linear={"dims": ["area", "status", "workplace"], "value": "count", "trees": trees,
                               "hidden_where": {"disclosure": ["秘匿（少数）", "秘匿（補完）"]}})
    greedy = dc.complementary_suppression(census_table, 10, cost=cc.disclosure_cost(census_table.cells, "43100"))
    found = audit_paths([write_csv(cc.export_cells(greedy, {}), tmp_path / "greedy.csv", kinds=schema)])
    assert found and {v.rule for v in found} == {"lp-interval"} and {v.column for v in found} == {"count"}
    assert all("greedy.csv" in v.file and v.row.startswith("line ") and "area=" in v.row for v in found)
    assert audit_paths([write_csv(cc.export_cells(census_cells, {}), tmp_path / "protected.csv", kinds=schema)]) == []


def test_combined_tables_share_cells_and_keep_all_constraints():
    t = small_table()
    other = dc.hierarchical_table(pd.DataFrame({"area": ["a", "a", "b"], "cat": ["x", "y", "x"], "count": [50, 4, 40]}),
                                  {"area": {"T": ["a", "b"]}, "cat": {"T": ["x", "y"]}})
    with pytest.raises(ValueError, match="differs"):
        dc.combine_tables(t, other)  # ("T","x") is 150 in one and 90 in the other
    same = dc.combine_tables(t, t)
    assert len(same.cells) == len(t.cells) and len(same.constraints) == 2 * len(t.constraints)


def test_estat_joint_table_is_protected(tmp_path):
    from ebpm_analysis.io import estat
    folder = synth.ensure_census(4, city_code="43100", n_employed=15_000, n_districts=14, out_dir=tmp_path)
    areas = estat.read_small_area_boundaries(folder / synth.FILES["boundaries"])
    res = cc.analyse_estat(estat.read_commuting_api_table(folder / synth.FILES["estat_api"]),
                           estat.read_commuting_gis_table(folder / synth.FILES["estat_gis"]), areas, "43100")
    (table, cells), = res.checked
    hidden = (cells["disclosure"] != "published").to_numpy()
    assert hidden.sum() > 0
    assert not dc.recomputable(table, hidden)["recomputable"].any()
    assert cells.duplicated(["area", "status", "workplace"]).sum() == 0
    known = (cells["disclosure"] != "missing").to_numpy()
    assert (dc.lp_intervals(table, hidden, check=known)["width"] >= 10).all()
