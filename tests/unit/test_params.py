"""Parameter sets: names and types come from the notebook's parameters cell; codes stay strings."""

from pathlib import Path

import nbformat
import pytest

from ebpm_analysis.errors import ParameterError
from ebpm_analysis.pipeline import params as P

FIX = Path(__file__).parents[1] / "fixtures" / "pipeline" / "fixture_run.ipynb"


def test_inspect_parameters_reads_defaults_and_comments():
    spec = P.inspect_parameters(FIX)
    assert list(spec) == ["city_code", "n", "ratio", "fail", "labels", "input_path", "say", "audience"]
    assert spec["city_code"].default == "43100" and spec["city_code"].type_name == "string"
    assert spec["n"].default == 3 and spec["ratio"].default == 0.5
    assert spec["city_code"].comment == "5-digit code as a string"


def test_unknown_parameter_lists_valid_names():
    with pytest.raises(ParameterError) as e:
        P.validate(FIX, {"citycode": "43100"})
    msg = str(e.value)
    assert "citycode" in msg and "unknown parameter" in msg and "city_code (string)" in msg


def test_number_for_string_code_is_refused_with_quote_hint():
    with pytest.raises(ParameterError) as e:
        P.validate(FIX, {"city_code": 43100})
    assert "quote it in YAML" in str(e.value) and 'city_code: "43100"' in str(e.value)


def test_yaml_file_keeps_leading_zero_codes(tmp_path):
    f = tmp_path / "p.yml"
    f.write_text('city_code: "01100"\nn: 5\nratio: 1\n', encoding="utf-8")
    values = P.validate(FIX, P.load_params_file(f))
    assert values == {"city_code": "01100", "n": 5, "ratio": 1.0}
    assert isinstance(values["ratio"], float)


def test_unquoted_yaml_code_is_caught(tmp_path):
    f = tmp_path / "p.yml"
    f.write_text("city_code: 01100\n", encoding="utf-8")  # YAML 1.1 reads this as a number
    with pytest.raises(ParameterError, match="city_code"):
        P.validate(FIX, P.load_params_file(f))


def test_wrong_types():
    with pytest.raises(ParameterError, match=r"'n': got string 'three'. Expected: integer \(like 3\)"):
        P.validate(FIX, {"n": "three"})
    with pytest.raises(ParameterError, match="'fail'"):
        P.validate(FIX, {"fail": 1})
    with pytest.raises(ParameterError, match="'n'"):
        P.validate(FIX, {"n": True})


def test_missing_input_path_is_an_error():
    with pytest.raises(ParameterError) as e:
        P.validate(FIX, {"input_path": "data/raw/does-not-exist.csv"})
    assert "does not exist" in str(e.value) and "input_path" in str(e.value)
    assert P.validate(FIX, {"input_path": ""}) == {"input_path": ""}


def test_cli_overrides_typed_by_default():
    v = P.parse_overrides(["city_code=01100", "n=7", "ratio=2", "fail=true", "labels=[x, y]"], FIX)
    assert v == {"city_code": "01100", "n": 7, "ratio": 2.0, "fail": True, "labels": ["x", "y"]}
    with pytest.raises(ParameterError, match="is not key=value"):
        P.parse_overrides(["city_code"], FIX)


def test_unknown_notebook_lists_valid_ones():
    with pytest.raises(P.NotebookNotFound) as e:
        P.notebook_path("99_nope")
    assert "99_nope" in str(e.value) and "00_data_catalog" in str(e.value)


def test_every_params_file_validates_against_its_notebook():
    checked = 0
    for name in P.list_notebooks():
        for variant in P.list_variants(name):
            P.validate(P.notebook_path(name), P.load_params_file(P.params_file(name, variant)))
            checked += 1
    assert checked >= len(P.list_notebooks())


def test_a_parameter_set_title_note_is_not_a_parameter_and_names_the_report(tmp_path):
    """notebooks/params/01_census_commuting/estat_table.yml says in the title that it reads e-Stat tables: the
    report is not titled like the default one (issue 14); the note is never passed to the notebook."""
    from ebpm_analysis.pipeline import execute
    run = execute.resolve_run("01_census_commuting", "estat_table")
    assert run["title_note"] == "e-Stat の集計表から" and P.TITLE_NOTE not in run["values"]
    assert execute.resolve_run("01_census_commuting")["title_note"] is None
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_raw_cell('---\ntitle: "熊本市 市内従業率"\n---')])
    assert execute.mark_title_note(nb, run["title_note"])["title"] == "熊本市 市内従業率（e-Stat の集計表から）"
    assert "（e-Stat の集計表から）" in nb.cells[0].source
    bad = tmp_path / "bad.yml"
    bad.write_text("title_note: 3\n", encoding="utf-8")
    with pytest.raises(ParameterError, match="title_note"):
        P.title_note(bad)
