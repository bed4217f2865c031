"""One number, one source (issue 13): the consistency check over a report's objects, on small hand-made
executed notebooks — each contradiction the review found, reduced to a few cells, must be named; the same
report without it must give nothing."""

from __future__ import annotations

import nbformat
import pytest

from ebpm_analysis.mime import FIGURE_MIME, KPI_MIME, TABLE_MIME
from ebpm_analysis.pipeline import consistency as C
from ebpm_analysis.pipeline import kpi as K

DEFS = """theme: 試験
kpis:
  - id: districts_above
    labels: ['人口あたり出動が平均を有意に上回る地区']
    cell: {table: '^district_rates\\.csv$', agg: count, where: {sig_above: 'True'}}
    prose: ['(?P<v>\\d+)地区は95%信頼区間でも']
    name: 有意に上回る地区数
    unit: 地区
    formula: f
    source: s
    good: none
  - id: peak_forecast
    labels: ['最も混む月（\\d+月）の見込み件数']
    cell: {table: '月別配置計画', column: 見込み件数（件/日）, agg: max}
    name: 最も混む月の見込み
    unit: 件/日
    formula: f
    source: s
    good: down
  - id: rate
    labels: ['市内従業率（市全体）']
    prose: ['従業地が分かる[\\d,]+人の(?P<v>[\\d.]+)%']
    name: 市内従業率
    unit: '%'
    formula: f
    source: s
    good: up
"""


def _out(data: dict) -> dict:
    return {"output_type": "display_data", "metadata": {}, "data": {"text/plain": "", **data}}


def report_nb(tiles=None, logic=None, tables=(), prose=(), hidden_prose=(), figure=None):
    """An executed notebook as the pipeline keeps it: KPI tiles, logic model, tables, prose (report.md) and a
    cell whose output the page does not show (``#| include: false``)."""
    nb = nbformat.v4.new_notebook()
    outs = []
    if tiles:
        outs.append(_out({TABLE_MIME: {"caption": "KPI", "columns": list(tiles), "rows": [list(tiles.values())]}}))
    if logic:
        outs.append(_out({KPI_MIME: {"title": "ロジックモデル",
                                     "kpis": [{"label": a, "value": b, "method": ""} for a, b in logic]}}))
    for caption, columns, rows in tables:
        outs.append(_out({"text/html": "<table></table>",
                          TABLE_MIME: {"caption": caption, "columns": columns, "rows": rows}}))
    if figure:
        outs.append(_out({FIGURE_MIME: {"keys": [], "tables": [figure]}}))
    outs += [_out({"text/markdown": p}) for p in prose]
    cell = nbformat.v4.new_code_cell("x = 1")
    cell.outputs = [nbformat.from_dict(o) for o in outs]
    nb.cells.append(cell)
    if hidden_prose:
        h = nbformat.v4.new_code_cell("#| include: false\ny = 2")
        h.outputs = [nbformat.from_dict(_out({"text/markdown": p})) for p in hidden_prose]
        nb.cells.append(h)
    nb.cells.append(nbformat.v4.new_markdown_cell("## 方法\n\n99.8%管理限界と95%信頼区間を使います。"))
    nb.metadata["ebpm"] = {"parameters": {"min_cell": 10, "target_wait_min": 30}}
    return nb


@pytest.fixture()
def theme(tmp_path):
    (tmp_path / "nb.yml").write_text(DEFS, encoding="utf-8")
    return K.load_theme("nb", tmp_path)


DISTRICTS = ("district_rates.csv", ["district", "rate", "sig_above"],
             [["A", 77.0, True], ["B", 75.1, True], ["C", 40.0, False], ["D", 58.3, False]])
PLAN = ("熊本市の窓口 2026年度の月別配置計画", ["月", "見込み件数（件/日）", "晴れの最繁忙日"],
        [["1月", 20.25, 5], ["2月", 32.42482998418039, 7], ["3月", 28.0, 6]])
RATES = ("地区別の市内従業率", ["地区", "就業者", "市内従業率(%)"], [["西区04", 3810, 74.74574991980981]])


def _good(**over):
    parts = dict(
        tiles={"人口あたり出動が平均を有意に上回る地区": "2 / 4", "最も混む月（2月）の見込み件数": "32.4件/日",
               "市内従業率（市全体）": "74.7%"},
        logic=[("人口あたり出動が平均を有意に上回る地区", "2 / 4地区"),
               ("市内従業率（市全体）", "74.7%（95%CI 74.6%～74.9%）")],
        tables=[DISTRICTS, PLAN, RATES],
        prose=["- 人口千人あたりの出動は平均 **58\\.3件/年** に対し、2地区は95%信頼区間でも平均を上回ります。",
               "- 従業地が分かる3,810人の**74\\.7%**が市内で働き、最小セルは10人です。"
               "99.8%管理限界を超える施設はありません。"])
    parts.update(over)
    return report_nb(**parts)


def test_a_consistent_report_gives_nothing(theme):
    content = C.read_report(_good(), None)
    assert C.check(content, theme) == []
    d = C.declared(content, theme)
    assert d["districts_above"] == {"shown": ["2 / 4", "2 / 4地区"], "prose": ["2"], "cell": (2.0, "")}
    assert d["peak_forecast"]["cell"] == (pytest.approx(32.42482998418039), "")
    assert d["rate"]["prose"] == ["74.7"]


def test_04_card_counting_a_different_thing_than_the_kpi_table(theme):
    """04 before issue 13: the card said 23/40 districts 'above average' (rates['above']) and the KPI table 16/40
    significantly above (rates['sig_above']). Both places and the declared cell are compared."""
    nb = _good(tiles={"人口あたり出動が平均を有意に上回る地区": "3 / 4"})
    found = C.check(C.read_report(nb, None), theme)
    assert [(f.check, f.subject) for f in found] == [("kpi-places", "districts_above"),
                                                     ("kpi-cell", "人口あたり出動が平均を有意に上回る地区")]
    assert "'3 / 4'" in found[0].message and "'2 / 4地区'" in found[0].message
    assert "holds 2.0" in found[1].message


def test_06_kpi_and_plan_table_give_one_number_per_month(theme):
    """06 before issue 13: February was 31.1 件/日 in the KPI and 32.4 in the plan table."""
    nb = _good(tiles={"人口あたり出動が平均を有意に上回る地区": "2 / 4", "最も混む月（2月）の見込み件数": "31.1件/日"})
    found = C.check(C.read_report(nb, None), theme)
    assert [(f.check, f.subject) for f in found] == [("kpi-cell", "最も混む月（2月）の見込み件数")]
    assert "31.1件/日" in found[0].message and "32.42" in found[0].message


def test_prose_quoting_a_kpi_must_quote_its_value(theme):
    """01 before issue 13: the text said 3,612 employed with a known workplace next to a table of 3,810 employed
    (with 不詳) and nothing to say so; here the sentence a definition names quotes another rate than the card."""
    prose = ["- 従業地が分かる3,612人の**74\\.9%**が市内で働いています。"]
    found = C.check(C.read_report(_good(prose=prose), None), theme)
    assert ("kpi-places", "rate") in [(f.check, f.subject) for f in found]
    assert "prose-source" in {f.check for f in found}                       # 3,612人 is in no table
    assert any(f.subject == "3,612人" for f in found)


def test_prose_numbers_must_come_from_the_report_objects(theme):
    nb = _good(prose=["- 平均は 58.3件/年、最も多い地区は 77.0件、最も少ない地区は 39.0件です。"])
    found = C.check(C.read_report(nb, None), theme)
    assert [(f.check, f.subject) for f in found] == [("prose-source", "39.0件")]
    # a share shown as per cent, a column total, a parameter and the notebook's fixed text are sources;
    # a hidden output is not read
    nb = _good(prose=["- 率は 74.7%、地区の就業者の合計は 3,810人、待ち時間の目標は 30分。99.8%管理限界。"],
               hidden_prose=["- 1,234人（表示されない）"])
    assert C.check(C.read_report(nb, None), theme) == []


def test_figure_data_and_exports_are_sources(theme, tmp_path):
    fig = {"caption": "時間帯別の割合", "columns": ["時", "割合（%）"], "rows": [[8, 4.79], [9, 5.94]]}
    assert C.check(C.read_report(_good(prose=["8時台は 4.8%"], figure=fig), None), theme) == []
    (tmp_path / "extra.csv").write_text("\ufeffname,n\nx,1234\n", encoding="utf-8")
    nb = _good(prose=["読み込みは 1,234件"])
    assert [f.subject for f in C.check(C.read_report(nb, None), theme)] == ["1,234件"]
    assert C.check(C.read_report(nb, tmp_path), theme) == []


def test_a_kpi_without_declaration_must_be_in_some_table():
    content = C.read_report(report_nb(tiles={"謎の数": "4,321件", "行数": "4"}, tables=[DISTRICTS]), None)
    found = C.check(content)
    assert [(f.check, f.subject) for f in found] == [("kpi-source", "謎の数")]   # 4 = the table's rows


def test_a_declared_cell_that_finds_no_table_is_reported(theme):
    found = C.check(C.read_report(_good(tables=[PLAN, RATES]), None), theme)
    assert [(f.check, f.subject) for f in found] == [("kpi-cell", "人口あたり出動が平均を有意に上回る地区")] * 2 + [
        ("prose-source", "58.3件")]                         # tile and logic model; 58.3 was a cell of that table
    assert "no table whose caption matches" in found[0].message


def test_cell_values_by_hand():
    t = [C.ReportTable("区別の現着所要時間", ["区", "出動件数", "平均(分)", "率"],
                 [["中央区", 100, 8.0, "18%"], ["東区", 300, 12.0, "20%"]], "table")]
    assert C.cell_value(t, {"table": "現着", "column": "出動件数", "agg": "sum"}) == (400.0, "")
    assert C.cell_value(t, {"table": "現着", "column": "平均(分)", "weight": "出動件数", "agg": "mean"}) == (11.0, "")
    assert C.cell_value(t, {"table": "現着", "column": "平均(分)", "agg": "mean"}) == (10.0, "")
    assert C.cell_value(t, {"table": "現着", "column": "平均(分)", "denominator": "出動件数", "agg": "ratio"}) \
        == (0.05, "")
    assert C.cell_value(t, {"table": "現着", "column": "率", "where": {"区": "東区"}}) == (20.0, "")
    assert C.cell_value(t, {"table": "現着", "agg": "count", "where": {"区": ".*区"}}) == (2.0, "")
    v, why = C.cell_value(t, {"table": "現着", "column": "率"})
    assert v is None and "2 rows" in why


@pytest.mark.parametrize("cell, value, decimals, percent, ok", [
    (74.74574991980981, 74.7, 1, False, True),
    (0.7474574991980981, 74.7, 1, True, True),
    (0.7474574991980981, 74.7, 1, False, False),
    (32.42482998418039, 31.1, 1, False, False),
    (0.125, 0.13, 2, False, True),           # half up
    (0.125, 0.12, 2, False, True),           # half even (Python's format)
    (37.6, 38, 0, False, True),
    (-45.1784507554, -45, 0, True, True),
    (-0.001, 0, 1, False, True),              # "-0.0" is shown as 0.0
    (3810, 3612, 0, False, False),
])
def test_shows_as(cell, value, decimals, percent, ok):
    assert C.shows_as(cell, value, decimals, percent) is ok


def test_quantities_read_markdown_as_the_reader_sees_it():
    q = C.quantities("**58\\.3件/年** に対し 1,070件/隊・年、**19\\.2%**、32.4件／日、+1.4%、南区04（89.4%）、第II系")
    assert [(x.value, x.decimals, x.unit) for x in q] == [(58.3, 1, "件"), (1070.0, 0, "件"), (19.2, 1, "%"),
                                                          (32.4, 1, "件/日"), (1.4, 1, "%"), (89.4, 1, "%")]
