"""Every notebook is a clean, parameterised, valid Quarto document (fast checks, no execution)."""

import nbformat
import pytest

from ebpm_analysis.pipeline import params as P
from ebpm_analysis.pipeline.render import parse_front_matter, split_cell_options

NOTEBOOKS = P.list_notebooks()


def test_there_are_notebooks():
    assert "00_data_catalog" in NOTEBOOKS


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_shape(name):
    nb = nbformat.read(P.notebook_path(name), as_version=4)
    nbformat.validate(nb)
    fm = parse_front_matter(nb)
    assert {"title", "subtitle", "date", "format"} <= set(fm), f"{name}: front matter lacks keys"
    fmt = fm["format"]
    assert fmt == "html" or "html" in fmt
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and tagged[0].cell_type == "code"
    assert not [c for c in nb.cells if c.cell_type == "code" and (c.outputs or c.execution_count)], \
        f"{name}: commit notebooks without outputs"
    assert nb.metadata["kernelspec"]["name"] == "ebpm"
    for c in nb.cells:
        if c.cell_type == "code":
            split_cell_options(c.source)  # options parse as YAML
    assert P.inspect_parameters(P.notebook_path(name))  # literal defaults


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_default_params_exist_and_validate(name):
    assert "default" in P.list_variants(name), f"notebooks/params/{name}/default.yml is missing"
    for v in P.list_variants(name):
        P.validate(P.notebook_path(name), P.load_params_file(P.params_file(name, v)))
