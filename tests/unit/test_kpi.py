"""KPI definitions (notebooks/kpis/*.yml), their capture from executed notebooks, the KPI register (SQLite,
append-only, concurrent writers) and `ebpm kpi` (issue 14 item 2)."""

from __future__ import annotations

import json
import multiprocessing as mp
import sqlite3
from pathlib import Path

import nbformat
import openpyxl
import pandas as pd
import pytest

from ebpm_analysis import cli, paths
from ebpm_analysis.errors import EbpmError
from ebpm_analysis.pipeline import kpi as K
from ebpm_analysis.pipeline import params as P
from ebpm_analysis.report import KPI_MIME, TABLE_MIME

SHOWN = Path(__file__).parents[1] / "fixtures" / "kpi" / "shown_kpis.json"


def executed(tiles: dict[str, str] | None = None, logic: list[tuple[str, str]] | None = None):
    """An executed notebook as the pipeline keeps it: KPI tiles (report.kpis) and logic-model rows."""
    outputs = []
    if tiles:
        outputs.append({"output_type": "display_data", "metadata": {}, "data": {
            "text/html": "<div></div>", TABLE_MIME: {"caption": "KPI", "columns": list(tiles),
                                                    "rows": [list(tiles.values())]}}})
    if logic:
        outputs.append({"output_type": "display_data", "metadata": {}, "data": {
            "text/html": "<div></div>", KPI_MIME: {"title": "ロジックモデル",
                                                  "kpis": [{"label": a, "value": b, "method": ""} for a, b in logic]}}})
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    nb.cells.append(cell)
    return nb


def test_every_notebook_has_definitions_and_they_load():
    themes = {t.notebook: t for t in K.list_themes()}
    assert sorted(themes) == P.list_notebooks()
    for t in themes.values():
        assert t.theme and t.department and t.kpis and any(d.headline for d in t.kpis), t.notebook
        for d in t.kpis:
            assert d.name and d.unit and d.formula and d.source and d.good in K.GOOD


def test_every_kpi_the_reports_show_is_defined_and_read_as_its_number():
    """The tiles and logic-model rows of every configured report as built on main (tests/fixtures/kpi): each
    label has a definition, and the number is the one the reader sees."""
    shown = json.loads(SHOWN.read_text(encoding="utf-8"))
    values = {}
    for stem, run in shown.items():
        theme = K.load_theme(run["notebook"])
        nb = executed(logic=[(a, b) for a, b, _ in run["shown"]])
        recs, undefined = K.capture(nb, theme, run["parameters"], "2026-11-30T04:00:00+00:00")
        assert not undefined, f"{stem}: no definition for {undefined}"
        values[stem] = {r["kpi_id"].split(".", 1)[1]: (r["value"], r["as_of"]) for r in recs}
    assert values["04_emergency_demand"]["dispatches_year"] == (44135.0, "2024-12-31")
    assert values["04_emergency_demand"]["districts_above_rate"][0] == 16.0       # "16 / 40"
    assert values["06_counter_congestion"]["peak_after_respread"] == (19.8, "2026-03-31")   # "32.4→19.8件/日"
    assert values["06_counter_congestion"]["monday_effect"][0] == 32.0           # "+32%"
    assert values["07_policy_evaluation"]["emergency_change"] == (-45.0, "2021-10-31")
    assert values["07_policy_evaluation"]["accidents_year"][1] == values["03_probe_slowdowns"]["accidents_year"][1] \
        == "2021-12-31"   # one KPI, one as-of date in 03 and 07 (the whole year's count)
    assert values["00_data_catalog"]["matching_share"][0] == 97.0                # "30/31（97%）"
    assert values["02_dental_checkups"]["prevalence_oldest"][0] == 29.4          # "9.8%→29.4%"
    assert values["02_dental_checkups"]["prevalence_youngest"][0] == 9.8
    assert values["01_census_commuting"]["in_city_rate"] == (74.7, "2020-10-01")
    assert values["03_probe_slowdowns--12204"]["accidents_year"] == (None, "2021-12-31")   # データなし
    assert values["03_probe_slowdowns"]["peak_slow_share"] == (5.9, "2025-10-31")
    assert values["05_school_routes"]["pedestrian_accidents"] == (126.0, "2021-12-31")
    assert values["05_school_routes"]["children"] == (480.0, "2026-11-30")     # no rule: the run's date


def test_capture_takes_tiles_and_logic_model_once_each_and_names_undefined_labels(tmp_path):
    (tmp_path / "nb.yml").write_text(
        "theme: 試験\nkpis:\n"
        "  - {id: rate, labels: ['率（.+）'], name: 率, unit: '%', formula: a ÷ b, source: s, good: up}\n"
        "  - {id: after, labels: ['見直し後'], name: 後, unit: 件, formula: f, source: s, good: down,"
        " value: '→(?P<v>[\\d.]+)'}\n", encoding="utf-8")
    theme = K.load_theme("nb", tmp_path)
    nb = executed({"率（全体）": "12.5%", "謎の数": "3"},
                  [("率（全体）", "12.5%（95%CI 10～15%）"), ("見直し後", "7→5件")])
    recs, undefined = K.capture(nb, theme, {}, "2026-01-02T03:04:05+09:00")
    assert [(r["kpi_id"], r["value"], r["shown_in"], r["as_of"]) for r in recs] == [
        ("nb.rate", 12.5, "tile", "2026-01-02"), ("nb.after", 5.0, "logic", "2026-01-02")]
    assert undefined == ["謎の数"]
    assert [r["decimals"] for r in recs] == [1, 0]   # the dashboard writes the number as the report does
    nb = executed({"率（全体）": "11.0%"})
    assert [(r["value"], r["decimals"]) for r in K.capture(nb, theme, {}, "2026-01-02")[0]] == [(11.0, 1)]


@pytest.mark.parametrize("body, words", [
    ("kpis:\n  - {id: a, labels: [x], name: n, unit: u, formula: f, source: s, good: better}\n", ["kpis[0]", "good"]),
    ("kpis:\n  - {id: a, labels: [x], name: n, unit: u, formula: f, good: up}\n", ["kpis[0]", "source"]),
    ("kpis:\n  - {id: a, labels: [x], name: n, unit: u, formula: f, source: s, good: up}\n"
     "  - {id: a, labels: [y], name: n, unit: u, formula: f, source: s, good: up}\n", ["kpis[1]", "unique"]),
    ("kpis:\n  - {id: a, labels: [x], name: n, unit: u, formula: f, source: s, good: up, value: '(\\d+)'}\n",
     ["group named v"]),
    ("kpis:\n  - {id: a, labels: ['(x'], name: n, unit: u, formula: f, source: s, good: up}\n",
     ["regular expression"]),
    ("theme: t\nowner: x\n", ["unknown keys", "owner"]),
    ("as_of: end_date\n", ["as_of"]),
    ("kpis:\n  - {id: a, labels: [x], name: n, unit: u, formula: f, source: s, good: up, cell: {column: c}}\n",
     ["kpis[0] (a)", "cell must be"]),
    ("kpis:\n  - {id: a, labels: [x], name: n, unit: u, formula: f, source: s, good: up,"
     " cell: {table: t, column: c, agg: median}}\n", ["cell must be", "agg"]),
    ("kpis:\n  - {id: a, labels: [x], name: n, unit: u, formula: f, source: s, good: up,"
     " cell: {table: t, column: c, agg: ratio}}\n", ["cell must be", "denominator"]),
    ("kpis:\n  - {id: a, labels: [x], name: n, unit: u, formula: f, source: s, good: up,"
     " cell: {table: '(t', column: c}}\n", ["cell", "regular expression"]),
    ("kpis:\n  - {id: a, labels: [x], name: n, unit: u, formula: f, source: s, good: up, prose: ['(\\d+)件']}\n",
     ["prose pattern", "group named v"]),
])
def test_a_bad_definitions_file_is_refused_naming_file_and_entry(tmp_path, body, words):
    (tmp_path / "nb.yml").write_text(body, encoding="utf-8")
    with pytest.raises(EbpmError) as e:
        K.load_theme("nb", tmp_path)
    assert "nb.yml" in str(e.value) and all(w in str(e.value) for w in words), str(e.value)


def test_as_of_rules():
    run = "2026-11-30T04:00:00+00:00"
    assert K.as_of_date(None, {}, run) == "2026-11-30"
    assert K.as_of_date({"date": "2020-10-01"}, {}, run) == "2020-10-01"
    assert K.as_of_date({"parameter": "end_date"}, {"end_date": "2024-12-31"}, run) == "2024-12-31"
    assert K.as_of_date({"parameter": "m"}, {"m": "2024-02"}, run) == "2024-02-29"
    assert K.as_of_date({"parameter": "years"}, {"years": [2019, 2021, 2020]}, run) == "2021-12-31"
    # a count of the whole year of a month parameter (07's KPI 人身事故件数: 2021 as in 03, not 2021-10-31)
    assert K.as_of_date({"year_of": "end_month"}, {"end_month": "2021-10"}, run) == "2021-12-31"
    with pytest.raises(EbpmError, match="end_date"):
        K.as_of_date({"parameter": "end_date"}, {"start_date": "2020-01-01"}, run)
    with pytest.raises(EbpmError, match="expected a date"):
        K.as_of_date({"parameter": "x"}, {"x": "soon"}, run)


def _run(i: int, value: float, audience="public", stem="nb--43202") -> tuple[dict, list[dict]]:
    run = {"run_id": f"run{i:03d}", "notebook": "nb", "stem": stem, "variant": "default", "city": "43202",
           "city_name": "八代市", "run_at": f"2026-11-{1 + i % 28:02d}T10:00:00+09:00", "git_commit": "abc",
           "git_dirty": False, "params_hash": "0123456789abcdef", "audience": audience, "data_nature": "synthetic"}
    kpis = [{"kpi_id": "nb.rate", "name": "率", "label": "率（全体）", "value": value, "value_text": f"{value}%",
             "unit": "%", "good": "up", "as_of": "2024-12-31"},
            {"kpi_id": "nb.count", "name": "件数", "label": "件数", "value": None, "value_text": "データなし",
             "unit": "件", "good": "down", "as_of": "2024-12-31"}]
    return run, kpis


def test_register_appends_never_overwrites_and_gives_the_trend(tmp_path):
    reg = tmp_path / "processed" / "kpi_register.sqlite"
    assert K.read(reg).empty
    assert K.append(reg, *_run(1, 10.0)) == 2
    assert K.append(reg, *_run(2, 12.5)) == 2
    assert K.append(reg, *_run(3, 99.0, audience="internal", stem="nb--43202--庁内限り")) == 2
    public = K.read(reg)
    assert list(public["run_id"].unique()) == ["run001", "run002"] and len(public) == 4
    assert set(K.read(reg, audience="internal")["stem"]) == {"nb--43202--庁内限り"}
    last = K.latest(public).set_index("kpi_id")
    assert last.loc["nb.rate", ["value", "previous", "change", "runs"]].tolist() == [12.5, 10.0, 2.5, 2]
    assert pd.isna(last.loc["nb.count", "value"])
    con = sqlite3.connect(reg)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE kpi_values SET value = 0")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("DELETE FROM kpi_values")
    con.close()
    # a run that fails half way (its second row is refused) leaves nothing of itself behind
    run, kpis = _run(4, 1.0)
    kpis[1]["kpi_id"] = kpis[0]["kpi_id"]   # the same (run_id, kpi_id) twice
    with pytest.raises(sqlite3.IntegrityError):
        K.append(reg, run, kpis)
    assert "run004" not in set(K.read(reg, audience=None)["run_id"]) and len(K.read(reg, audience=None)) == 6


def _writer(args):
    reg, first = args
    for i in range(first, first + 40):
        K.append(Path(reg), *_run(i, float(i)))
    return True


def test_two_concurrent_writers_both_append(tmp_path):
    reg = tmp_path / "kpi_register.sqlite"
    ctx = mp.get_context("fork")
    with ctx.Pool(2) as pool:
        assert pool.map(_writer, [(str(reg), 0), (str(reg), 100)]) == [True, True]
    df = K.read(reg)
    assert df["run_id"].nunique() == 80 and len(df) == 160
    assert sqlite3.connect(reg).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_export_csv_with_bom_and_excel(tmp_path):
    reg = tmp_path / "r.sqlite"
    K.append(reg, *_run(1, 10.0))
    run, kpis = _run(2, 12.5)
    kpis[0]["name"] = "=HYPERLINK(\"x\")"   # text that a spreadsheet would run
    K.append(reg, run, kpis)
    df = K.read(reg)
    csv = K.export(df, tmp_path / "kpi.csv")
    raw = csv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(csv, encoding="utf-8-sig", dtype={"市区町村コード": str})
    assert back.loc[back["KPI ID"] == "nb.rate", "値"].tolist() == [10.0, 12.5]
    assert set(back["良い方向"]) == {"高いほど良い", "低いほど良い"} and set(back["市区町村コード"]) == {"43202"}
    assert "'=HYPERLINK" in raw.decode("utf-8-sig")
    xlsx = K.export(df, tmp_path / "kpi.xlsx")
    ws = openpyxl.load_workbook(xlsx).active
    rows = list(ws.values)
    header = rows[0]
    assert header[:4] == ("KPI ID", "KPI", "値", "単位")
    assert [r[2] for r in rows[1:] if r[0] == "nb.rate"] == [10.0, 12.5]
    assert all(not str(r[1]).startswith("=") for r in rows[1:])
    with pytest.raises(EbpmError, match=r"\.csv or \.xlsx"):
        K.export(df, tmp_path / "kpi.json")


def test_ebpm_kpi_lists_and_exports(tmp_path, capsys):
    reg = tmp_path / "r.sqlite"
    K.append(reg, *_run(1, 10.0))
    K.append(reg, *_run(2, 12.5))
    K.append(reg, *_run(3, 50.0, audience="internal", stem="nb--43202--庁内限り"))
    assert cli.main(["kpi", "--register", str(reg)]) == 0
    out = capsys.readouterr().out
    assert "nb.rate" in out and "12.5 %" in out and "前回比 +2.5" in out and "庁内限り" not in out
    assert cli.main(["kpi", "--register", str(reg), "--audience", "all", "--history",
                     "--export", str(tmp_path / "all.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "all.csv", encoding="utf-8-sig")) == 6
    assert cli.main(["kpi", "--definitions"]) == 0
    assert "04_emergency_demand.response_minutes" in capsys.readouterr().out


def test_the_default_register_lives_under_data_processed():
    from ebpm_analysis.pipeline.execute import Layout
    assert Layout().register_path == paths.PROCESSED_DIR / "kpi_register.sqlite"
    assert Layout(build_dir=Path("/tmp/x/_build")).register_path == Path("/tmp/x/_build/kpi_register.sqlite")
