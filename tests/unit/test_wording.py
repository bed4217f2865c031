"""pipeline.wording: what counts as an internal reference in report text, and what does not."""

import nbformat

from ebpm_analysis.pipeline.wording import internal_references

NOTES = "FAC" + "TS"   # the old research notes' name, in two parts (tests/unit/test_sources.py)


def _nb():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("## 方法\n\n詳しくは " + NOTES + " §1.3 と docs/sources.md#npa-honhyo を参照。"),
        nbformat.v4.new_code_cell("report.md(...)", outputs=[nbformat.v4.new_output(
            "display_data", data={"text/markdown": "集計表は min_cell 未満を秘匿（パラメータ input_kind で切替）。"})]),
        nbformat.v4.new_code_cell("report.table(...)", outputs=[nbformat.v4.new_output(
            "display_data", data={"text/html": "<table><td>min_cell</td><td>docs/x</td></table>"})]),
        nbformat.v4.new_markdown_cell("演習：パラメータ `braking_g` を変える（docs/exercise.md）",
                                      metadata={"tags": ["workshop", "remove-cell"]}),
        nbformat.v4.new_markdown_cell("出力は staff_plan_by_day.csv、min_cellular は別の語、seed は一般語です。"),
    ]
    return nb


def test_repository_paths_notes_and_parameter_names_are_found():
    found = internal_references(_nb(), ["min_cell", "input_kind", "seed", "braking_g"])
    assert found == [
        "cell 0: 'docs/sources.md#npa-honhyo' (a document of the repository)",
        f"cell 0: '{NOTES} §1.3' (an internal note)",
        "cell 1: 'パラメータ input_kind' (a parameter name)",
        "cell 1: 'min_cell' (the parameter name)",        # input_kind is inside the reference above
    ]


def test_tables_removed_cells_and_ordinary_words_are_not_references():
    nb = _nb()
    nb.cells = nb.cells[2:]
    assert internal_references(nb, ["min_cell", "seed", "braking_g"]) == []


def test_library_names_in_prose_and_figure_captions_are_found():
    """The method is said in words (issue 14); a caption or alt text is report text too."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell('#| label: fig-map\n#| fig-cap: "地区別の率（mapclassify の自然分類）"\nfig = 1'),
        nbformat.v4.new_markdown_cell("負の二項回帰（statsmodels）と PySAL spopt の MCLP で求めました。"),
        nbformat.v4.new_markdown_cell("自然分類（Jenks）、最大被覆問題（MCLP）。pandas_like や my.scipy は別の語。"),
        nbformat.v4.new_markdown_cell("統計はstatsmodelsの関数で計算。"),
    ]
    assert internal_references(nb) == [
        "cell 0: 'mapclassify' (a software library's name)",
        "cell 1: 'statsmodels' (a software library's name)",
        "cell 1: 'PySAL' (a software library's name)",
        "cell 1: 'spopt' (a software library's name)",
        "cell 3: 'statsmodels' (a software library's name)",   # no space before Japanese text
    ]


def test_module_paths_are_references():
    from ebpm_analysis.pipeline.wording import references_in
    assert references_in("出典：合成データ（ebpm_analysis.synth.dental）") == [
        "'ebpm_analysis.synth.dental' (a module of the package)"]
    assert references_in("ebpm-analysis で作成") == []    # the project's name is not a module path


def test_working_folders_are_references():
    """01 told department heads its tables were written to `data/processed/01_census_commuting/`."""
    from ebpm_analysis.pipeline.wording import references_in
    assert references_in("集計表を `data/processed/01_census_commuting/` に出力しました") == [
        "'data/processed/01_census_commuting/' (a working folder of the repository)"]
    assert references_in("合成データは `data/interim/` に生成されます") == [
        "'data/interim/' (a working folder of the repository)"]
    assert references_in("目録は data/catalog/ に置きます") == []    # the catalog's own folder, for its editors


def test_commands_are_references():
    """02, 04 and 05 (stats.disclosure.suppression_sentence) and 03 told department heads
    「公開前に `ebpm audit` が…確認しています」: a command they do not run; what it does is said in words."""
    from ebpm_analysis.pipeline.wording import references_in
    from ebpm_analysis.stats import disclosure as D
    assert references_in("公開前に `ebpm audit` が全ての表を確認しています") == [
        "'ebpm audit' (a command of the package)"]
    assert references_in("ebpm-analysis で作成") == [] and references_in("ebpm_audit") == []
    sentence = D.suppression_sentence({"small": 3, "reveals": 2}, 10, tables=4)
    assert references_in(sentence) == [] and "ebpm" not in sentence and "点検" in sentence
