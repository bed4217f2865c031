"""Issue 14 item 3: every report table (and recorded figure data) downloadable as CSV (UTF-8 with BOM) and in one
Excel workbook with a cover sheet, beside the report; every figure with real alt text; a failed run keeps the
previous downloads. The pipeline tests run the small fixture notebook tests/fixtures/pipeline/fixture_tables.ipynb
(two kernel runs in all); the rest works on small frames."""

import json
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import openpyxl  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from ebpm_analysis import audit, viz  # noqa: E402
from ebpm_analysis.pipeline import downloads  # noqa: E402
from ebpm_analysis.pipeline.execute import Layout, RunFailed, run_notebook  # noqa: E402
from ebpm_analysis.pipeline.render import MissingAltText, check_alt_text, figure_alt  # noqa: E402

FIX = Path(__file__).parents[1] / "fixtures" / "pipeline" / "fixture_tables.ipynb"
BOM = b"\xef\xbb\xbf"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One public run of the fixture (parameter set 'dl'): report, executed notebook, downloads folder."""
    tmp = tmp_path_factory.mktemp("dl")
    layout = Layout(reports_dir=tmp / "reports", build_dir=tmp / "build")
    pset = tmp / "dl.yml"
    pset.write_text("caption_alt: true\n", encoding="utf-8")
    # MPLBACKEND is Agg here (tests/conftest.py), as on a headless server: the run still draws its figures (the
    # kernel gets the inline backend from pipeline.execute; before, this report had no figure and no figure data)
    assert os.environ.get("MPLBACKEND") == "Agg"
    r = run_notebook(str(FIX), str(pset), layout=layout, log=lambda *a: None)
    return {"run": r, "layout": layout, "pset": pset, "folder": layout.reports_dir / "fixture_tables--dl_files"}


def _shown(executed):
    """The tables the report shows, as the audit reads them from the executed notebook (report.TABLE_MIME)."""
    return audit.report_tables(executed)


@pytest.mark.notebooks
def test_every_table_has_a_csv_with_bom_equal_to_the_report_table(built):
    folder = built["folder"]
    tables = _shown(built["run"].executed)
    shown = [t for t in tables if "not shown" not in t.name]
    assert len(shown) == 3 and len(tables) == 4          # the include: false table is kept for the audit only
    csvs = sorted(folder.glob("*.csv"))
    assert [p.name for p in csvs] == ["01_主な指標_KPI.csv", "02_区別の受診児数と有病者率.csv", "03_年別の人口.csv",
                                      "04_図1のデータ_年別の人口.csv"]
    for path, table in zip(csvs, shown, strict=False):
        raw = path.read_bytes()
        assert raw.startswith(BOM), path.name
        got = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
        assert list(got.columns) == list(table.frame.columns)
        for col in got.columns:
            want, have = list(table.frame[col]), list(got[col])
            if col == "区":   # the formula-like name carries the apostrophe, the others are as shown
                assert have == ["中央区", "'=HYPERLINK(\"http://x\")", "北区"] and want[1].startswith("=")
            elif all(isinstance(w, str) for w in want):
                assert have == want
            else:
                assert [float(h) if h else None for h in have] == [None if pd.isna(w) else float(w) for w in want]
    wards = pd.read_csv(csvs[1], encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert list(wards["受診児数"]) == ["120", "", "37"]   # whole numbers stay whole; the hidden 4 stays hidden
    assert list(wards["有病者率（%）"])[1] == ""           # and so does the rate computed from the hidden count
    assert "not shown" not in "".join(p.read_text(encoding="utf-8-sig") for p in csvs)
    assert audit.audit_paths([folder]) == []              # the downloads pass the disclosure audit (formulas too)


@pytest.mark.notebooks
def test_workbook_cover_sheet_and_sheets_equal_the_report_tables(built):
    folder = built["folder"]
    wb = openpyxl.load_workbook(folder / "fixture_tables--dl.xlsx")
    assert wb.sheetnames == ["表紙", "データ1", "データ2", "データ3", "データ4"]
    cover = {r[0]: r[1:] for r in wb["表紙"].iter_rows(values_only=True) if r[0]}
    assert wb["表紙"]["A1"].value == "熊本市の表とダウンロードの試験"
    assert cover["市区町村"][0] == "熊本市（43100）" and cover["データの種別"][0] == "実データ"
    assert cover["作成日時"][0].startswith(str(json.loads(
        (built["layout"].status_dir / "fixture_tables--dl.json").read_text(encoding="utf-8"))["run_at"])[:10])
    src = [r[1:4] for r in wb["表紙"].iter_rows(values_only=True) if r[0] == "出典" and r[1] != "出典・帰属表示"]
    assert len(src) == 1 and "人口" in src[0][0] and src[0][1]   # the catalog entry's attribution and licence
    notes = [r[1] for r in wb["表紙"].iter_rows(values_only=True) if r[0] == "注記"]
    assert any("10 未満を秘匿" in n for n in notes) and any("空欄" in n for n in notes)
    contents = [r for r in wb["表紙"].iter_rows(values_only=True)
                if r[0] and str(r[0]).startswith("データ") and r[0] != "データの種別"]
    assert [(c[0], c[2]) for c in contents] == [("データ1", 1), ("データ2", 3), ("データ3", 12), ("データ4", 12)]
    shown = [t for t in _shown(built["run"].executed) if "not shown" not in t.name]
    executed = nbformat.read(built["run"].executed, as_version=4)
    figure_rows = next(o["data"][viz.FIGURE_MIME]["tables"][0] for c in executed.cells if c.cell_type == "code"
                       for o in c.outputs if viz.FIGURE_MIME in o.get("data", {}))
    expected = [t.frame for t in shown] + [pd.DataFrame(figure_rows["rows"], columns=figure_rows["columns"])]
    for i, want in enumerate(expected, start=1):
        ws = wb[f"データ{i}"]
        assert str(ws["A1"].value).startswith(f"データ{i}：")
        rows = list(ws.iter_rows(min_row=downloads.HEADER_ROW, values_only=True))
        assert list(rows[0][:want.shape[1]]) == list(want.columns)           # one header row
        body = [list(r[:want.shape[1]]) for r in rows[1:]]
        assert len(body) == len(want)
        for got_row, want_row in zip(body, want.itertuples(index=False), strict=True):
            for g, w in zip(got_row, want_row, strict=True):
                if w is None or (isinstance(w, float) and pd.isna(w)):
                    assert g is None
                elif isinstance(w, str):
                    assert g == ("'" + w if w.startswith("=") else w)
                else:
                    assert g == pytest.approx(w, rel=1e-12) and not isinstance(g, str)
        assert ws.tables and next(iter(ws.tables.values())).ref.startswith(f"A{downloads.HEADER_ROW}")
    for ws in wb:   # no live formula anywhere
        assert not [c.coordinate for row in ws.iter_rows() for c in row if c.data_type == "f"], ws.title


@pytest.mark.notebooks
def test_report_links_each_table_and_lists_the_downloads_and_gives_figures_alt_text(built):
    page = built["run"].report.read_text(encoding="utf-8")
    assert page.count('class="ebpm-download"') == 4                       # under 3 tables and 1 figure
    assert page.count('href="fixture_tables--dl_files/fixture_tables--dl.xlsx"') == 5
    start = page.index('<section class="ebpm-downloads"')
    section = page[start:page.index("来歴（Provenance）", start)]
    assert "ダウンロード" in section and section.count("<li>") == 4
    assert "No description has been provided" not in page
    assert 'alt="図1：人口の推移（試験）。主な数値：2040年 659,133人"' in page


@pytest.mark.notebooks
def test_the_dashboard_links_each_report_workbook(built):
    from ebpm_analysis.pipeline.index import write_index
    page = write_index(built["layout"]).read_text(encoding="utf-8")
    assert page.count('href="fixture_tables--dl_files/fixture_tables--dl.xlsx"') == 1   # one link a card


@pytest.mark.notebooks
def test_a_failed_run_keeps_the_previous_downloads_and_missing_alt_text_fails_the_run(built):
    folder, layout = built["folder"], built["layout"]
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    report = built["run"].report.read_bytes()
    built["pset"].write_text("caption_alt: false\n", encoding="utf-8")   # a figure without caption: no alt text
    with pytest.raises(RunFailed) as e:
        run_notebook(str(FIX), str(built["pset"]), layout=layout, log=lambda *a: None)
    assert "MissingAltText" in str(e.value) and "fig-cap" in str(e.value)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert built["run"].report.read_bytes() == report
    assert not [p for p in layout.reports_dir.iterdir() if "staging" in p.name]


# --- small frames, no kernel -----------------------------------------------------------------------------------

def _nb_with(outputs_cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_raw_cell("---\ntitle: T\n---")] + outputs_cells
    return nb


def _cell(source, outputs):
    c = nbformat.v4.new_code_cell(source)
    c.outputs = outputs
    return c


def test_figure_alt_joins_caption_and_key_numbers():
    fig, ax = plt.subplots()
    ax.set_title("平均 12.5 件/日")
    ax.bar(["a"], [1])
    viz.figure_data(fig, pd.DataFrame({"x": ["a"], "y": [1]}), kinds={"x": "label", "y": "other"},
                    keys=["最大 中央区 52.1件"])
    payload = viz.figure_payload(fig)
    plt.close(fig)
    assert payload["keys"] == ["最大 中央区 52.1件"]             # recorded keys first; titles only without them
    assert payload["tables"][0]["rows"] == [["a", 1]] and payload["tables"][0]["kinds"]["x"] == {"kind": "label"}
    out = nbformat.v4.new_output("display_data", data={"image/png": "AAAA", viz.FIGURE_MIME: payload})
    assert figure_alt("図2", {"fig-cap": "出動件数"}, out) == "図2：出動件数。主な数値：最大 中央区 52.1件"
    bare, ax = plt.subplots()
    ax.set_title("平均 12.5 件/日（2020〜2024年）")
    ax.legend(["x"], title="2024年")                            # a year alone is no key number
    assert viz.figure_payload(bare)["keys"] == ["平均 12.5 件/日（2020〜2024年）"]
    assert viz.figure_payload(bare)["tables"] == []
    plt.close(bare)
    assert figure_alt("図2", {"fig-cap": "出動件数", "fig-alt": "棒グラフ"}, out).startswith("図2：棒グラフ。")
    assert figure_alt("図2", {"fig-cap": "件数。色は区"}, out) == "図2：件数。色は区。主な数値：最大 中央区 52.1件"
    assert figure_alt("図2", {"fig-cap": "出動件数。"}, out) == "図2：出動件数。主な数値：最大 中央区 52.1件"


def test_a_figure_without_alt_text_is_refused():
    img = nbformat.v4.new_output("display_data", data={"image/png": "AAAA"})
    nb = _nb_with([_cell("plt.plot([1])", [img])])
    with pytest.raises(MissingAltText, match="1 figure"):
        check_alt_text(nb)
    img.metadata = {"image/png": {"alt": "図1：何か"}}
    check_alt_text(nb)


def test_plan_publishes_shown_tables_only_and_suppresses_figure_data_of_a_public_run():
    from ebpm_analysis.report import TABLE_MIME
    table = {"caption": "区別", "columns": ["区", "人数"], "rows": [["東区", 12], ["西区", None]],
             "kinds": {"区": {"kind": "label"}, "人数": {"kind": "person_count"}}}
    fig_tables = [{"caption": "点", "columns": ["区", "人数"], "rows": [["東区", 3], ["西区", 40]],
                   "kinds": {"区": {"kind": "label"}, "人数": {"kind": "person_count"}}}]
    shown = _cell("report.table(x)", [nbformat.v4.new_output("display_data", data={"text/html": "<table>",
                                                                                   TABLE_MIME: table})])
    hidden = _cell("#| include: false\nreport.table(x)",
                   [nbformat.v4.new_output("display_data", data={"text/html": "<table>", TABLE_MIME: table})])
    figure = _cell("#| label: fig-a\n#| fig-cap: 図の題\nplt.show()", [nbformat.v4.new_output(
        "display_data", data={"image/png": "AAAA", viz.FIGURE_MIME: {"tables": fig_tables, "keys": []}})])
    nb = _nb_with([shown, hidden, figure])
    nb.metadata["ebpm"] = {"audience": "public", "parameters": {"min_cell": 10}}
    man = downloads.plan(nb, "r")
    assert [(i.caption, i.csv, i.figure) for i in man.items] == [("区別", "01_区別.csv", None),
                                                                 ("図1のデータ（点）", "02_図1のデータ_点.csv", "図1")]
    assert list(man.items[0].frame["人数"].astype(object)) == [12, pd.NA]
    assert list(man.items[1].frame["人数"].astype(object)) == [pd.NA, 40]     # 3 < min_cell hidden before it leaves
    nb.metadata["ebpm"]["audience"] = "internal"
    assert list(downloads.plan(nb, "r").items[1].frame["人数"]) == [3, 40]
    assert man.href("01_区別.csv") == "r_files/01_%E5%8C%BA%E5%88%A5.csv"


def test_file_names_keep_letters_only():
    assert downloads._safe_name('<script>"=x"/../区 別') == "script_x_区_別"
    assert downloads._safe_name("") == "table"
    assert downloads.column_notes({"kinds": {"率": {"kind": "rate", "of": ["人数"]}}}, ["人数", "率"]) == [
        "列：率＝率（人数 から計算）"]


def test_plot_functions_record_the_data_they_draw_with_kinds_and_key_numbers():
    from ebpm_analysis.plots import catalog as pc
    from ebpm_analysis.plots import evaluation as pv
    es = pd.DataFrame({"phase": ["pre", "post", "post"], "from_month": [-6, 0, 3], "to_month": [-4, 2, 5],
                       "ratio": [1.0, 0.85, 0.8], "lo": [0.9, 0.8, 0.7], "hi": [1.1, 0.9, 0.9]})
    p = viz.figure_payload(pv.event_study_chart(es, pretrend_p=0.43, source="x", synthetic=True))
    assert p["keys"] == ["事前トレンド検定 p = 0.43", "開始後の変化 -20.0%〜-15.0%"]
    assert p["tables"][0]["rows"][1][:4] == ["開始後（効果）", 0, 2, pytest.approx(-15.0)]
    assert [k["kind"] for k in p["tables"][0]["kinds"].values()] == ["label"] + ["other"] * 5
    grid = pd.DataFrame({"months_post": [12, 12, 24], "n_treated": [10, 20, 20], "mde": [0.3, 0.2, 0.127]})
    p = viz.figure_payload(pv.power_chart(grid, source="x"))
    assert p["keys"] == ["最小 12.7%（20メッシュ、開始後24か月）"]
    assert p["tables"][0]["rows"][2] == [24, 20, pytest.approx(12.7)]
    table = pd.DataFrame({"label": ["A", "B"], "ratio": [0.8, 1.1], "lo": [0.7, 0.9], "hi": [0.9, 1.3]})
    p = viz.figure_payload(pv.forest(table, title="効果", source="x"))
    assert p["keys"] == ["A -20.0%（95%区間 -30.0〜-10.0%）", "B +10.0%（95%区間 -10.0〜+30.0%）"]
    checks = pd.DataFrame({"dataset": ["a", "b"], "ok": [3, 4], "info": [1, 0], "warning": [0, 2], "error": [0, 1]})
    p = viz.figure_payload(pc.status_chart(checks, source="x"))
    assert p["tables"][0]["rows"] == [["a", 3, 1, 0, 0], ["b", 4, 0, 2, 1]] and p["tables"][0]["default"] == "other"
    assert p["keys"] == ["適合 7件", "参考 1件", "注意 2件", "不一致 1件"]
    plt.close("all")


def test_workbook_keeps_tables_whose_headers_excel_tables_refuse(tmp_path):
    """Duplicate or empty column names cannot head an Excel table object: the cells are written without one."""
    frame = pd.DataFrame([["=1+1", 2, None]], columns=["区", "区", ""])
    man = downloads.Manifest("s", [downloads.Item(1, "t", "01_t.csv", "データ1", frame, {})])
    downloads.write_workbook(man, tmp_path / "s.xlsx", {"title": "T", "notes": [], "sources": []})
    ws = openpyxl.load_workbook(tmp_path / "s.xlsx")["データ1"]
    assert [c.value for c in ws[downloads.HEADER_ROW]] == ["区", "区", ""]
    assert [c.value for c in ws[downloads.HEADER_ROW + 1]][:2] == ["'=1+1", 2] and not ws.tables


def test_quarto_path_gets_the_same_alt_text_as_fig_alt():
    from ebpm_analysis.pipeline.render import quarto_alt_options, split_cell_options
    out = nbformat.v4.new_output("display_data", data={"image/png": "AAAA",
                                                       viz.FIGURE_MIME: {"tables": [], "keys": ["最大 東区 9.5%"]}})
    nb = _nb_with([_cell("#| label: fig-a\n#| fig-cap: 題\nplt.show()", [out])])
    quarto_alt_options(nb)
    opts, source = split_cell_options(nb.cells[1].source)
    assert opts == {"label": "fig-a", "fig-cap": "題", "fig-alt": "題。主な数値：最大 東区 9.5%"}
    assert source == "plt.show()"


def test_emergency_and_probe_plots_record_their_data():
    from ebpm_analysis.plots import emergency as pe
    from ebpm_analysis.plots import probe as pp
    types = pd.DataFrame({"accident_type": ["車両相互", "人対車両"], "n": [120, 30], "share": [0.8, 0.2]})
    p = viz.figure_payload(pp.accident_type_chart(types, source="x"))
    assert p["tables"][0]["rows"] == [["車両相互", 120, 80.0], ["人対車両", 30, 20.0]]
    assert p["tables"][0]["kinds"]["事故件数（件）"] == {"kind": "public_count"}
    assert p["keys"] == ["車両相互 120件（80.0%）", "人対車両 30件（20.0%）"]
    by = pd.DataFrame({2019: [5, 7], 2021: [3, 9]}, index=["43101", "43102"])
    p = viz.figure_payload(pp.accident_trend_chart(by, {"43101": "中央区"}, source="x"))
    assert p["tables"][0]["rows"] == [["中央区", 5, 3], ["43102", 7, 9]] and p["tables"][0]["default"] == "public_count"
    assert p["keys"] == ["合計 2019年 12件 → 2021年 12件"]
    profile = pd.DataFrame({"day_type": ["weekday", "holiday", "weekday"], "hour": [7, 7, 8],
                            "share_slow": [0.1, 0.2, 0.071], "mean_speed": [30.0, 25.0, 20.0]})
    p = viz.figure_payload(pp.hourly_profile_chart(profile, source="x"))
    assert p["keys"] == ["最大 土日祝7時台 20.0%"] and p["tables"][0]["rows"][2] == ["平日", 8, 7.1, 20.0]
    sc = pd.DataFrame({"year": [2024, 2030], "dispatches": [40000.0, 45321.4], "share65": [0.6, 0.65]})
    p = viz.figure_payload(pe.scenario_chart(sc, source="x", synthetic=True))
    assert p["tables"][0]["rows"] == [["2024", 40000.0, 60.0], ["2030", 45321.4, 65.0]]
    assert p["keys"] == ["2024年 40,000件", "2030年 45,321件"]
    hourly = pd.DataFrame({"hour": range(24), "share": [0.02] * 23 + [0.54]})
    weekday = pd.DataFrame({"day": ["月", "火"], "index_vs_mean": [1.05, 0.95]})
    p = viz.figure_payload(pe.profiles(hourly, weekday, {"share": 0.5}, source="x", synthetic=True))
    assert [t["caption"] for t in p["tables"]] == ["時間帯別の割合", "曜日別の差"]
    assert p["keys"] == ["最大 23時台 54.0%", "最小 0時台 2.0%", "最大 月 +5.0%", "最小 火 -5.0%"]
    rt = pd.DataFrame({"district_code": ["d1", "d2"], "excess_min_per_year": [0.5, 0.1], "se": [0.1, 0.2],
                       "flagged": [True, False]})
    p = viz.figure_payload(pe.response_trend_chart(rt, {"d1": "中央"}, source="x", synthetic=True))
    assert p["keys"] == ["延伸と判定 1地区", "最大 中央 +0.50分/年"]
    assert p["tables"][0]["rows"][0] == ["中央", 0.5, pytest.approx(0.304), pytest.approx(0.696), "はい"]
    plt.close("all")


def test_counter_plots_record_their_data():
    from ebpm_analysis.plots import counter as pc
    check = pd.DataFrame({"band": ["0%–50%", "100%以上"], "observed_mean_wait": [0.4, 24.1],
                          "session_mean_wait": [0.05, 23.0], "erlang_mean_wait": [10.8, np.inf]})
    p = viz.figure_payload(pc.erlang_check(check, source="x", synthetic=True))
    assert p["tables"][0]["rows"] == [["0%–50%", 0.4, 0.05, 10.8], ["100%以上", 24.1, 23.0, None]]   # ∞: blank
    assert p["tables"][0]["default"] == "other"
    mean = pd.DataFrame([[10.0, 12.5], [8.0, 30.2]], index=["4月", "5月"], columns=["月", "火"])
    n = pd.DataFrame([[4, 4], [2, 5]], index=["4月", "5月"], columns=["月", "火"])
    p = viz.figure_payload(pc.heatmap(mean, n, source="x", synthetic=True))
    assert p["tables"][0]["rows"] == [["4月", "月曜", 10.0, 4], ["4月", "火曜", 12.5, 4], ["5月", "月曜", None, 2],
                                      ["5月", "火曜", 30.2, 5]]                  # cells under 3 days stay grey/blank
    assert p["keys"] == ["最大 5月火曜 30.2件/日", "最小 4月月曜 10.0件/日"]
    plt.close("all")


def test_dental_prevalence_figure_data_keeps_counts_beside_rates_and_is_suppressed_when_public():
    from ebpm_analysis.plots import dental as pdn
    from ebpm_analysis.report import FIGURE_MIME
    tab = pd.DataFrame({"facility_type": ["保育所", "保育所"], "age": [3, 4], "examined": [120, 8],
                        "with_caries": [30, 3], "prevalence": [25.0, 37.5], "prev_lo": [18.0, 13.0],
                        "prev_hi": [33.0, 69.0]})
    fig = pdn.prevalence_bars(tab, group="facility_type", xlabel="施設種別", source="x", synthetic=True)
    p = viz.figure_payload(fig)
    plt.close(fig)
    t = p["tables"][0]
    assert t["columns"] == ["施設種別", "年齢（歳）", "受診児数（人）", "う蝕有病者数（人）", "う蝕有病者率（%）",
                            "95%信頼区間下限（%）", "95%信頼区間上限（%）"]
    assert t["kinds"]["う蝕有病者率（%）"] == {"kind": "rate", "of": ["う蝕有病者数（人）"]}
    cell = _cell("#| label: fig-p\n#| fig-cap: 有病者率\nplt.show()", [nbformat.v4.new_output(
        "display_data", data={"image/png": "AAAA", FIGURE_MIME: p})])
    nb = _nb_with([cell])
    nb.metadata["ebpm"] = {"audience": "public", "parameters": {"min_cell": 10}}
    (item,) = downloads.plan(nb, "r").items
    assert item.frame["受診児数（人）"].isna().tolist() == [False, True]      # 8 < 10 hidden in the download
    assert item.frame["う蝕有病者率（%）"].isna().tolist() == [False, True]   # and the rate computed from it


def test_the_interactive_map_carries_its_layers_data_for_the_downloads():
    """03's interactive map had no download of its own: its output now carries one table a layer, the values its
    tooltips show (rounded as drawn) under their Japanese names, with the disclosure kinds of the case; the report
    links each table by name under the map."""
    import geopandas as gpd
    import shapely

    from ebpm_analysis import webmap
    from ebpm_analysis.cases.probe import probe_kinds
    sq = [shapely.box(130.70 + i * 0.01, 32.80, 130.71 + i * 0.01, 32.81) for i in range(3)]
    wards = gpd.GeoDataFrame({"name": ["中央区"]}, geometry=[shapely.box(130.69, 32.79, 130.74, 32.82)],
                             crs="EPSG:4326")
    brk = gpd.GeoDataFrame({"mesh": ["49301506342", "49301506343", "49301506344"], "rate": [1.4167, 0.5, 2.0],
                            "n_passes": [797, 120, 301], "n_events": [13, 1, 9]}, geometry=sq, crs="EPSG:4326")
    acc = gpd.GeoDataFrame({"mesh": ["49301506342"], "n_accidents": [4], "n_fatal": [1]}, geometry=sq[:1],
                           crs="EPSG:4326")
    layers = [{"name": "急減速（見込みに対する比）", "gdf": brk, "column": "rate", "label": "見込みに対する比",
               "fields": ["mesh", "rate", "n_passes", "n_events"],
               "aliases": ["メッシュ", "見込みに対する比", "通過", "急減速"]},
              {"name": "人身事故", "gdf": acc, "column": "n_accidents", "label": "事故件数（件）",
               "fields": ["mesh", "n_accidents", "n_fatal"], "aliases": ["メッシュ", "事故（件）", "うち死亡"]},
              {"name": "空", "gdf": acc.iloc[:0], "column": "n_accidents", "label": "なし"}]
    html_map = webmap.interactive_map(wards, layers, title="t", attribution="出典")
    # the legend and the attribution in a Japanese sans-serif (the page default was a serif: Times, MS 明朝)
    assert html_map.count(webmap.SANS) == 2 and "sans-serif" in webmap.SANS
    bundle = webmap.shown(html_map, layers, kinds=probe_kinds)._repr_mimebundle_()
    assert bundle["text/html"] == webmap.iframe(html_map)           # the map as before
    tables = bundle[viz.FIGURE_MIME]["tables"]
    assert [t["caption"] for t in tables] == ["対話型地図の急減速（見込みに対する比）", "対話型地図の人身事故"]
    assert tables[0]["columns"] == ["メッシュ", "見込みに対する比", "通過", "急減速"]
    assert tables[0]["rows"] == [["49301506342", 1.42, 797, 13], ["49301506343", 0.5, 120, 1],
                                 ["49301506344", 2.0, 301, 9]]
    assert '"rate":1.42' in html_map.replace(" ", "")                # the value the map's tooltip shows
    assert tables[0]["kinds"]["通過"] == {"kind": "count"}
    assert tables[1]["kinds"]["事故（件）"] == {"kind": "public_count"}
    cell = _cell("display(webmap.shown(html_map, layers, kinds=cp.probe_kinds))",
                 [nbformat.v4.new_output("display_data", data=bundle)])
    nb = _nb_with([cell])
    nb.metadata["ebpm"] = {"audience": "public", "parameters": {"min_cell": 10}}
    man = downloads.plan(nb, "r")
    assert [i.caption for i in man.items] == ["図のデータ（対話型地図の急減速（見込みに対する比））",
                                              "図のデータ（対話型地図の人身事故）"]
    assert list(man.items[1].frame["事故（件）"]) == [4]                # police records: public counts, not hidden
    downloads.add_links(nb, man)
    links = [o["data"]["text/html"] for o in nb.cells[1].outputs[1:]]
    assert len(links) == 2 and "「図のデータ（対話型地図の人身事故）」をダウンロード" in links[1]


def test_a_table_captioned_by_its_cell_is_named_by_the_reports_number_and_caption():
    """A table whose cell gives '#| tbl-cap' (no caption of its own) was listed as "表{n}" with n this list's
    count, which counts KPI tiles and figure data too: 00's download "表5" was the report's 表4."""
    from ebpm_analysis.report import TABLE_MIME
    table = {"caption": None, "columns": ["区"], "rows": [["東区"]], "kinds": {"区": {"kind": "label"}}}
    out = lambda: [nbformat.v4.new_output("display_data", data={"text/html": "<table>", TABLE_MIME: table})]  # noqa: E731
    kpi = _cell("report.kpis(x)", [nbformat.v4.new_output("display_data", data={
        "text/html": "<div>", TABLE_MIME: table | {"caption": "KPI"}})])
    first = _cell("#| label: tbl-a\n#| tbl-cap: 区の一覧\nreport.table(x)", out())
    figure = _cell("#| label: fig-a\n#| fig-cap: 図\nplt.show()", [nbformat.v4.new_output(
        "display_data", data={"image/png": "AAAA", viz.FIGURE_MIME: {"tables": [table], "keys": []}})])
    second = _cell("#| label: tbl-b\n#| tbl-cap: 点検結果\nreport.table(y)", out())
    bare = _cell("report.table(z)", out())
    nb = _nb_with([kpi, first, figure, second, bare])
    nb.metadata["ebpm"] = {"audience": "public", "parameters": {"min_cell": 10}}
    assert [i.caption for i in downloads.plan(nb, "r").items] == [
        "主な指標（KPI）", "表1：区の一覧", "図1のデータ", "表2：点検結果", "表5"]


def test_map_legend_limits_never_read_the_same():
    """03's map of 船橋市 showed the classes 0.9–1.0, 1.0–1.0, 1.0–1.0, 1.0–1.1."""
    from ebpm_analysis import webmap
    assert webmap.class_bounds([0.93, 0.998, 1.004, 1.03, 1.12]) == ["0.930", "0.998", "1.004", "1.030", "1.120"]
    assert webmap.class_bounds([0.94, 0.99, 1.01, 1.04, 1.12]) == ["0.94", "0.99", "1.01", "1.04", "1.12"]
    assert webmap.class_bounds([0.0, 15.4, 33.9, 66.7]) == ["0.0", "15.4", "33.9", "66.7"]
    assert webmap.class_bounds([1200.0, 3456.7]) == ["1,200.0", "3,456.7"]
