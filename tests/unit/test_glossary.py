"""pipeline.glossary: the 用語 section lists exactly the terms a report uses, once, in a fixed order."""

import nbformat

from ebpm_analysis.pipeline import glossary


def _nb(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nb


def test_terms_found_in_prose_outputs_and_captions_only():
    nb = _nb(
        nbformat.v4.new_markdown_cell("## 方法\n\n経験ベイズで補正し、Gi* でホットスポットを判定しました。"),
        nbformat.v4.new_code_cell("#| fig-cap: \"ファンネルプロット（95%信頼区間）\"\nplt.show()"),
        nbformat.v4.new_code_cell("report.table(t)", outputs=[nbformat.v4.new_output(
            "display_data", data={"text/html": "<table><th>MAE</th></table>"})]),
        nbformat.v4.new_markdown_cell("演習：SARIMAX を試す", metadata={"tags": ["workshop", "remove-cell"]}),
        nbformat.v4.new_markdown_cell("EBPM の推進（EB は略語の一部）"),
    )
    terms = [t for t, _ in glossary.terms_used(nb)]
    assert terms == ["95%信頼区間（95%区間）", "経験ベイズ（EB）・平滑化", "ファンネルプロット",
                     "Gi*（ホットスポット分析）", "MAE・MAPE"]


def test_section_markup_and_escaping():
    md = glossary.glossary_markdown([("A<B", "x & y")])
    assert "## 用語" in md and "<dt>A&lt;B</dt><dd>x &amp; y</dd>" in md
    assert glossary.glossary_markdown([]) == ""


def test_every_definition_is_japanese_prose_without_internal_references():
    from ebpm_analysis.pipeline.wording import internal_references
    nb = _nb(nbformat.v4.new_markdown_cell("\n".join(d for _, _, d in glossary.TERMS)))
    assert internal_references(nb) == []
    assert len({t for t, _, _ in glossary.TERMS}) == len(glossary.TERMS)
    assert all(d.endswith("。") for _, _, d in glossary.TERMS)
