"""The nbconvert path honours Quarto cell options, tags and front matter."""

import re

import nbformat
import pytest

from ebpm_analysis.pipeline.render import parse_front_matter, render_nbconvert, split_cell_options

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def code(src, outputs=(), tags=()):
    c = nbformat.v4.new_code_cell(src)
    c.outputs = list(outputs)
    if tags:
        c.metadata["tags"] = list(tags)
    return c


def stream(text, name="stdout"):
    return nbformat.v4.new_output("stream", name=name, text=text)


def image():
    return nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"})


@pytest.fixture
def fixture_nb(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_raw_cell('---\ntitle: "試験レポート Title"\nsubtitle: "副題 subtitle"\ndate: "2026-01-02"\n'
                                 'format: html\nexecute:\n  echo: false\n---'),
        nbformat.v4.new_markdown_cell("## 見出し\n\n@fig-first を参照。表は @tbl-tab。"),
        code("#| echo: true\nprint('SHOWN_CODE_MARKER')", [stream("echo-true-output\n")]),
        code("print('HIDDEN_BY_DEFAULT_CODE')", [stream("default-output\n")]),
        code("#| include: false\nprint('INCLUDE_FALSE_CODE')", [stream("include-false-output\n")]),
        code("#| output: false\n#| echo: true\nprint('OUTPUT_FALSE_CODE')", [stream("output-false-output\n")]),
        code("#| warning: false\nprint('w')", [stream("warn-stdout-kept\n"), stream("WARNING_TEXT\n", "stderr")]),
        code("#| label: fig-first\n#| fig-cap: \"最初の図 caption\"\nplot()", [image()]),
        code("#| label: fig-second\n#| fig-cap: \"二番目の図\"\nplot()", [image()]),
        code("#| label: tbl-tab\n#| tbl-cap: \"表の題\"\nshow()",
             [nbformat.v4.new_output("display_data",
                                     data={"text/html": "<table><tr><td>TABLE_BODY</td></tr></table>"})]),
        code("print('REMOVE_CELL_CODE')", [stream("remove-cell-output\n")], tags=["remove-cell"]),
        code("#| echo: true\nprint('REMOVE_INPUT_CODE')", [stream("remove-input-output\n")], tags=["remove-input"]),
        code("#| echo: true\nprint('REMOVE_OUTPUT_CODE')", [stream("remove-output-output\n")], tags=["remove-output"]),
    ]
    p = tmp_path / "fixture.ipynb"
    nbformat.write(nb, p)
    return p


def render_text(nb_path, tmp_path, **kw):
    out = tmp_path / "out.html"
    render_nbconvert(nb_path, out, **kw)
    return out.read_text(encoding="utf-8")


def test_front_matter_title_and_date(fixture_nb, tmp_path):
    html = render_text(fixture_nb, tmp_path)
    assert "<title>試験レポート Title</title>" in html
    assert '<h1 class="title">試験レポート Title</h1>' in html
    assert "副題 subtitle" in html
    assert "作成日：2026-01-02" in html
    assert "---" not in html.split("<main")[1].split("</main>")[0][:200]  # front matter not printed


def test_echo_include_output_options(fixture_nb, tmp_path):
    html = render_text(fixture_nb, tmp_path)
    assert "SHOWN_CODE_MARKER" in html and "echo-true-output" in html
    assert "HIDDEN_BY_DEFAULT_CODE" not in html and "default-output" in html
    assert "INCLUDE_FALSE_CODE" not in html and "include-false-output" not in html
    assert "OUTPUT_FALSE_CODE" in html and "output-false-output" not in html
    assert "#|" not in html  # option lines are stripped like Quarto does


def test_warning_false_drops_stderr_only(fixture_nb, tmp_path):
    html = render_text(fixture_nb, tmp_path)
    assert "warn-stdout-kept" in html
    assert "WARNING_TEXT" not in html


def test_figure_captions_numbered_under_figure_and_refs(fixture_nb, tmp_path):
    html = render_text(fixture_nb, tmp_path)
    i_img = html.index("data:image/png;base64,")
    i_cap = html.index(">図1：最初の図 caption")   # the caption element (the image's alt text repeats it)
    assert 'alt="図1：最初の図 caption' in html
    assert i_img < i_cap  # caption under the figure
    assert "図2：二番目の図" in html
    assert 'id="fig-first"' in html
    assert '<a href="#fig-first">図1</a>' in html  # @fig-first resolved
    assert '<a href="#tbl-tab">表1</a>' in html
    assert html.index("表1：表の題") < html.index("TABLE_BODY")  # table caption above


def test_tags(fixture_nb, tmp_path):
    html = render_text(fixture_nb, tmp_path)
    assert "REMOVE_CELL_CODE" not in html and "remove-cell-output" not in html
    assert "REMOVE_INPUT_CODE" not in html and "remove-input-output" in html
    assert "REMOVE_OUTPUT_CODE" in html and "remove-output-output" not in html


def test_show_code_profile(fixture_nb, tmp_path):
    html = render_text(fixture_nb, tmp_path, show_code=True)
    assert "HIDDEN_BY_DEFAULT_CODE" in html
    assert "INCLUDE_FALSE_CODE" not in html  # include: false still wins


def test_self_contained(fixture_nb, tmp_path):
    html = render_text(fixture_nb, tmp_path)
    assert not re.findall(r'<(?:script|link|img)[^>]+(?:src|href)=["\'](?:https?:)?//', html)
    assert "data:image/png;base64," in html
    assert "mathjax" not in html.lower()


def test_split_cell_options():
    opts, src = split_cell_options('#| label: fig-a\n#| fig-cap: "x: y"\nprint(1)\n#| not-an-option')
    assert opts == {"label": "fig-a", "fig-cap": "x: y"}
    assert src == "print(1)\n#| not-an-option"
    with pytest.raises(ValueError, match="cell options are not valid YAML"):
        split_cell_options("#| label: [unclosed\nx")


def test_parse_front_matter_only_from_first_raw_cell():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("---\ntitle: no\n---")]
    assert parse_front_matter(nb) == {}
    nb.cells = [nbformat.v4.new_raw_cell("---\ntitle: はい\n---")]
    assert parse_front_matter(nb) == {"title": "はい"}


def test_quarto_path_renders_executed_notebook_without_execute(fixture_nb, tmp_path, monkeypatch):
    """When quarto is on PATH it renders the executed notebook as is: never --execute, self-contained."""
    import subprocess
    from pathlib import Path as _P

    from ebpm_analysis.pipeline import render as R

    calls = []

    def fake_run(cmd, capture_output, text):
        calls.append(cmd)
        _P(cmd[2]).with_suffix(".html").write_text("<html>quarto</html>", encoding="utf-8")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(R.shutil, "which", lambda name: "/usr/bin/quarto" if name == "quarto" else None)
    monkeypatch.setattr(R.subprocess, "run", fake_run)
    out, engine = R.render(fixture_nb, tmp_path / "q.html")
    assert engine == "quarto" and out.read_text() == "<html>quarto</html>"
    cmd = calls[0]
    assert cmd[:2] == ["quarto", "render"] and "--execute" not in cmd
    assert cmd[cmd.index("--to") + 1] == "html" and "embed-resources:true" in cmd and "echo:false" in cmd
    monkeypatch.setenv("EBPM_RENDERER", "nbconvert")
    _, engine = R.render(fixture_nb, tmp_path / "n.html")
    assert engine == "nbconvert"


def test_a_labelled_figure_that_drew_nothing_takes_no_number(tmp_path):
    """A section a run cannot show (03 without police records) leaves no gap in the figure numbers."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_raw_cell('---\ntitle: "t"\nformat: html\n---'),
                code("#| label: fig-a\n#| fig-cap: \"図A\"\nplot()", [image()]),
                code("#| label: fig-skipped\n#| fig-cap: \"描かない図\"\nif False: plot()", []),
                code("#| label: fig-b\n#| fig-cap: \"図B\"\nplot()", [image()])]
    p = tmp_path / "gap.ipynb"
    nbformat.write(nb, p)
    html = render_text(p, tmp_path)
    assert "図1：図A" in html and "図2：図B" in html and "描かない図" not in html and "図3" not in html
