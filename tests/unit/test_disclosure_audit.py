"""Disclosure audit (issue 12 item 2): column kinds beside exports and report tables; each rule fails on
a planted leak naming file, column and row; LP intervals on hand-worked tables."""

import json

import nbformat
import numpy as np
import pandas as pd
import pytest

from ebpm_analysis import audit as A
from ebpm_analysis import cli, report
from ebpm_analysis.io import write_csv, write_tables
from ebpm_analysis.io.common import sidecar_path
from ebpm_analysis.stats import disclosure as D

KINDS = {"facility": D.LABEL, "examined": D.PERSONS, "with_caries": D.PERSONS,
         "rate": D.rate("with_caries"), "lower": D.interval("with_caries")}


def facilities(**change) -> pd.DataFrame:
    df = pd.DataFrame({"facility": ["A園", "B園", "C園"], "examined": [40, 25, 60],
                       "with_caries": [12.0, np.nan, 30.0], "rate": [0.3, np.nan, 0.5],
                       "lower": [0.18, np.nan, 0.38]})
    for col, (row, value) in change.items():
        df.loc[row, col] = value
    return df


def audit_file(path, **kw):
    return A.audit_paths([path], **kw)


def test_clean_table_passes_and_sidecar_holds_the_kinds(tmp_path):
    path = write_csv(facilities(), tmp_path / "rates.csv", kinds=KINDS)
    side = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
    assert side["file"] == "rates.csv"
    assert side["kinds"]["rate"] == {"kind": "rate", "of": ["with_caries"]}
    assert side["kinds"]["examined"] == {"kind": "person_count"}
    assert audit_file(path) == []


def test_planted_small_count_is_named_by_file_column_and_line(tmp_path):
    path = write_csv(facilities(with_caries=(2, 4.0), rate=(2, 4 / 60), lower=(2, 0.02)), tmp_path / "rates.csv",
                     kinds=KINDS)
    found = audit_file(path)
    assert [(v.rule, v.column, v.row) for v in found] == [("small-count", "with_caries", "line 4")]
    assert "rates.csv, column 'with_caries', line 4: [small-count] count of persons 4 is between 1 and 9" \
        in found[0].line()


def test_planted_rate_revealing_a_suppressed_count(tmp_path):
    path = write_csv(facilities(rate=(1, 0.2)), tmp_path / "rates.csv", kinds=KINDS)
    found = audit_file(path)
    assert [(v.rule, v.column, v.row) for v in found] == [("reveals", "rate", "line 3")]
    assert "count 'with_caries'" in found[0].message


def test_interval_and_share_reveal_too_and_public_counts_are_exempt(tmp_path):
    df = pd.DataFrame({"mesh": ["a", "b"], "accidents": [3, 12], "pedestrians": [np.nan, 11],
                       "ped_share": [0.5, 0.9], "lo": [0.1, 0.6]})
    kinds = {"mesh": D.LABEL, "accidents": D.PUBLIC, "pedestrians": D.PERSONS,
             "ped_share": D.share(["pedestrians", "accidents"]), "lo": D.interval("accidents")}
    found = audit_file(write_csv(df, tmp_path / "m.csv", kinds=kinds))
    # accidents 3: public at source (no threshold); its interval is fine; the share reveals the hidden pedestrians
    assert [(v.rule, v.column, v.row) for v in found] == [("reveals", "ped_share", "line 2")]


def test_derived_column_needs_its_count_beside_it():
    with pytest.raises(ValueError, match="publish the count"):
        D.Schema.of({"rate": D.rate("with_caries")}).to_json(["rate"])
    with pytest.raises(ValueError, match="not in the table"):
        D.Schema.of({"nope": D.PERSONS}).to_json(["rate"])
    with pytest.raises(ValueError, match="must be one of"):
        D.kind_spec("persons")


def test_write_csv_names_the_file_on_a_bad_declaration(tmp_path):
    with pytest.raises(ValueError, match=r"bad\.csv.*'ghost'"):
        write_csv(facilities(), tmp_path / "bad.csv", kinds={"ghost": D.PERSONS})


def test_stale_sidecar_is_removed_when_written_without_kinds(tmp_path):
    path = write_csv(facilities(), tmp_path / "rates.csv", kinds=KINDS)
    write_csv(facilities(), path)
    assert not sidecar_path(path).exists()


def test_undeclared_whole_number_column_is_audited_as_persons(tmp_path):
    path = write_csv(pd.DataFrame({"ward": ["北区", "南区"], "n": [5, 40], "x": [0.5, 0.25]}), tmp_path / "u.csv")
    found = audit_file(path)
    assert [(v.rule, v.column, v.row) for v in found] == [("small-count", "n", "line 2")]
    assert "no kind declared" in found[0].message


def test_planted_complement_in_a_row(tmp_path):
    df = pd.DataFrame({"ward": ["北区", "南区"], "examined": [50, 60], "with_caries": [np.nan, 20],
                       "caries_free": [45, np.nan]})
    schema = D.Schema({"ward": D.LABEL, "examined": D.PERSONS, "with_caries": D.PERSONS,
                       "caries_free": D.PERSONS}, sums=[("examined", ["with_caries", "caries_free"])])
    found = audit_file(write_csv(df, tmp_path / "c.csv", kinds=schema))
    assert sorted((v.rule, v.column, v.row) for v in found) == [("complement", "caries_free", "line 3"),
                                                                 ("complement", "with_caries", "line 2")]


def test_planted_live_formula(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text('name,n\r\n"=HYPERLINK(""http://x"",""y"")",12\r\n-3.5,20\r\n', encoding="utf-8-sig")
    found = audit_file(path)
    assert [(v.rule, v.column, v.row) for v in found] == [("formula", "name", "line 2")]
    # write_csv neutralises the same cell
    assert audit_file(write_csv(pd.DataFrame({"name": ["=HYPERLINK(1)"], "n": [12]}), tmp_path / "g.csv")) == []


def test_planted_script_in_a_report_table(tmp_path):
    js = report.SEARCH_JS_FILE.read_text(encoding="utf-8")
    page = tmp_path / "r.html"
    page.write_text("<html><body>\n<table><tr><td>A園</td></tr>\n<tr><td><script>alert(1)</script></td></tr>\n"
                    "<tr><td><img src=x onerror=alert(2)><a href=' javascript:alert(3)'>x</a></td></tr></table>\n"
                    f"<script>{js}</script></body></html>", encoding="utf-8")
    found = audit_file(page)
    assert [(v.rule, v.row) for v in found] == [("markup", "line 3"), ("markup", "line 4"), ("markup", "line 4")]
    assert "not the report's own search-box script" in found[0].message
    assert "onerror" in found[1].message and "javascript" in found[2].message


# --- LP intervals on hand-worked tables -----------------------------------------------------------

TREES = {"row": {"T": ["r1", "r2"]}, "col": {"T": ["c1", "c2", "c3"]}}


def two_by_three() -> tuple[D.LinearTable, np.ndarray]:
    """Hand-worked: rows r1, r2 and columns c1…c3 with totals T; the cells r1c1, r1c2, r2c1, r2c2 hidden.

    |    | c1 | c2 | c3 |  T  |   with r1c1 = x: r1c2 = 39 − 30 − x = 9 − x, r2c1 = 28 − x,
    | r1 |  8 |  1 | 30 |  39 |   r2c2 = 13 − (9 − x) = 4 + x, all ≥ 0  →  x ∈ [0, 9]:
    | r2 | 20 | 12 | 30 |  62 |   r1c1 ∈ [0, 9], r1c2 ∈ [0, 9], r2c1 ∈ [19, 28], r2c2 ∈ [4, 13]
    | T  | 28 | 13 | 60 | 101 |   (every width 9 < 10, though every published cell is ≥ 10)
    """
    vals = {("r1", "c1"): 8, ("r1", "c2"): 1, ("r1", "c3"): 30, ("r2", "c1"): 20, ("r2", "c2"): 12, ("r2", "c3"): 30}
    leaves = pd.DataFrame([(r, c, v) for (r, c), v in vals.items()], columns=["row", "col", "count"])
    t = D.hierarchical_table(leaves, TREES)
    hidden = (t.cells["row"].isin(["r1", "r2"]) & t.cells["col"].isin(["c1", "c2"])).to_numpy()
    return t, hidden


def cell_index(t: D.LinearTable, row: str, col: str) -> int:
    return int(np.flatnonzero((t.cells["row"] == row) & (t.cells["col"] == col))[0])


def test_lp_interval_hand_worked_two_by_three():
    t, hidden = two_by_three()
    iv = D.lp_intervals(t, hidden).set_index("cell")
    inner = [cell_index(t, r, c) for r in ("r1", "r2") for c in ("c1", "c2")]
    assert iv.loc[inner, ["lower", "upper"]].to_numpy().tolist() == [[0, 9], [0, 9], [19, 28], [4, 13]]
    assert (iv["width"] == 9).all()
    assert not D.recomputable(t, hidden, method="lp")["recomputable"].any()   # "not recomputable" is not enough


def test_narrow_lp_interval_planted_in_an_export_and_fixed_by_protect_intervals(tmp_path):
    t, hidden = two_by_three()
    cells = t.cells.drop(columns="value").assign(count=np.where(hidden, np.nan, t.values))
    schema = D.Schema({"row": D.LABEL, "col": D.LABEL, "count": D.PERSONS},
                      linear={"dims": ["row", "col"], "value": "count", "trees": TREES})
    path = write_csv(cells, tmp_path / "cross.csv", kinds=schema)
    found = audit_file(path)
    assert [v.rule for v in found] == ["lp-interval"] * 4
    assert "[0, 9] (width 9 < protection width 10)" in found[0].message and "row=r1, col=c1" in found[0].row
    assert audit_file(path, protection_width=9) == []
    # protect_intervals hides more until every hidden cell is at least 10 wide
    more, added = D.protect_intervals(t, hidden, 10)
    assert added.sum() >= 1 and (more >= hidden).all()
    assert (D.lp_intervals(t, more)["width"] >= 10).all()
    write_csv(t.cells.drop(columns="value").assign(count=np.where(more, np.nan, t.values)), path, kinds=schema)
    assert audit_file(path) == []


def test_lp_interval_one_line():
    # T = a + b + c = 12 with a = 8 and b = 1 hidden, c = 3 and T published: a + b = 9 → a, b ∈ [0, 9]
    trees = {"k": {"T": ["a", "b", "c"]}}
    leaves = pd.DataFrame({"k": ["a", "b", "c"], "count": [8, 1, 3]})
    t = D.hierarchical_table(leaves, trees)
    hidden = t.cells["k"].isin(["a", "b"]).to_numpy()
    iv = D.lp_intervals(t, hidden).set_index("cell")
    assert sorted(iv["width"].tolist()) == [9, 9]
    more, _ = D.protect_intervals(t, hidden, 10)
    assert more[t.cells["k"].eq("c").to_numpy()].all()   # c (3) hidden too: a + b + c = 12 → widths 12
    assert (D.lp_intervals(t, more)["width"] == 12).all()


# --- report tables travel in the executed notebook -----------------------------------------------

def executed_notebook(tmp_path, tables, params=None, output_dir=None) -> str:
    outputs = []
    for df, caption, kinds in tables:
        outputs.append(nbformat.v4.new_output(
            "display_data", data={"text/html": "<table></table>",
                                  report.TABLE_MIME: report._audit_payload(df, caption, kinds)}))
    cell = nbformat.v4.new_code_cell("report.table(...)")
    cell.outputs = outputs
    nb = nbformat.v4.new_notebook(cells=[cell])
    nb.metadata["ebpm"] = {"parameters": {"min_cell": 10, **(params or {}),
                                          **({"output_dir": str(output_dir)} if output_dir else {})}}
    path = tmp_path / "executed" / "09_demo.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def test_report_table_kept_for_the_audit_and_checked(tmp_path):
    shown = pd.DataFrame({"区": ["北区", "南区"], "出動件数": ["秘匿", "1,234"], "率": [1.5, 2.0]})
    kinds = {"区": D.LABEL, "出動件数": D.PERSONS, "率": D.rate("出動件数")}
    path = executed_notebook(tmp_path, [(shown, "区別の出動率", kinds)])
    tables = A.report_tables(path)
    assert len(tables) == 1 and tables[0].name == "09_demo.html 表1「区別の出動率」"
    res = A.audit_run(path, reports_dir=tmp_path)
    assert [(v.file, v.rule, v.column, v.row) for v in res.violations] == \
        [("09_demo.html 表1「区別の出動率」", "reveals", "率", "row 1")]


def test_internal_runs_skip_disclosure_rules_but_not_formulas(tmp_path):
    out = tmp_path / "exports"
    write_tables({"f.csv": pd.DataFrame({"name": ["A"], "n": [3]})}, out, kinds={"f.csv": {"n": D.PERSONS}})
    (out / "g.csv").write_text("name\r\n=1+1\r\n", encoding="utf-8")
    small = (pd.DataFrame({"n": [2]}), None, {"n": D.PERSONS})
    public = A.audit_run(executed_notebook(tmp_path, [small], output_dir=out), reports_dir=tmp_path)
    assert sorted(v.rule for v in public.violations) == ["formula", "small-count", "small-count"]
    internal = A.audit_run(executed_notebook(tmp_path, [small], {"audience": "internal"}, out), reports_dir=tmp_path)
    assert [v.rule for v in internal.violations] == ["formula"]


def test_report_downloads_are_audited_with_the_run(tmp_path):
    # a figure's data written beside the page (reports/<stem>_files, pipeline.downloads) that shows a rate next
    # to a hidden count, and a live formula in a table download
    files = tmp_path / "09_demo_files"
    write_csv(facilities(rate=(1, 0.4)), files / "01_図1のデータ.csv", kinds=KINDS)
    (files / "02_表1.csv").write_text("施設\r\n=HYPERLINK(\"x\")\r\n", encoding="utf-8")
    res = A.audit_run(executed_notebook(tmp_path, []), reports_dir=tmp_path)
    assert [(v.file.rsplit("/", 1)[-1], v.column, v.row, v.rule) for v in res.violations] == [
        ("01_図1のデータ.csv", "rate", "line 3", "reveals"), ("02_表1.csv", "施設", "line 2", "formula")]


def test_ebpm_audit_exits_non_zero_and_prints_one_line_per_violation(tmp_path, capsys):
    out = tmp_path / "exports"
    write_tables({"ok.csv": facilities(), "bad.csv": facilities(with_caries=(0, 3.0))}, out,
                 kinds={"ok.csv": KINDS, "bad.csv": KINDS})
    assert cli.main(["audit", str(out)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any("bad.csv, column 'with_caries', line 2: [small-count]" in x for x in lines)
    assert lines[-1] == "[ebpm] audit: 1 path(s), 1 violation(s)"
    assert cli.main(["audit", str(out / "ok.csv")]) == 0
    build = tmp_path / "build"
    (build / "_build" / "executed").mkdir(parents=True)
    assert cli.main(["audit", "--out-dir", str(build)]) == 2   # nothing built: an error, not a pass


def test_table_level_declarations(tmp_path):
    df = pd.DataFrame({"rule": ["文字コード", "列名"], "errors": [3, 0], "files": [12, 12]})
    assert [v.column for v in audit_file(write_csv(df, tmp_path / "a.csv"))] == ["errors"]   # presumed persons
    assert audit_file(write_csv(df, tmp_path / "b.csv", kinds=D.no_persons("file checks"))) == []
    acc = pd.DataFrame({"mesh": ["a"], "n": [2], "injured": [1]})
    assert audit_file(write_csv(acc, tmp_path / "c.csv", kinds=D.public_records("本票"))) == []
    found = audit_file(write_csv(acc, tmp_path / "d.csv", kinds=D.public_records("本票", injured=D.PERSONS)))
    assert [(v.rule, v.column) for v in found] == [("small-count", "injured")]
