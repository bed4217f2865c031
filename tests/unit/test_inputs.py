"""One rule for real vs synthetic inputs (inputs.resolve_input), one reader of planted truth
(synth.read_truth) and the loader conventions of io.common (input_path, resolve_encoding)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ebpm_analysis import paths
from ebpm_analysis.errors import InputFileError, ParameterError
from ebpm_analysis.inputs import ResolvedInput, resolve_input, resolve_inputs
from ebpm_analysis.io.common import AUTO, input_path, resolve_encoding
from ebpm_analysis.synth import Truth, read_truth


@pytest.fixture
def generated(tmp_path):
    """A fake generator: writes data.csv + truth.json once and counts its calls."""
    folder = tmp_path / "gen"
    calls = []

    def gen():
        calls.append(1)
        folder.mkdir(exist_ok=True)
        (folder / "data.csv").write_text("a\n1\n", encoding="utf-8")
        (folder / "truth.json").write_text('{"seed": 3}', encoding="utf-8")
        return folder

    return gen, calls, folder


@pytest.mark.parametrize("empty", ["", None, "  "])
def test_empty_generates_synthetic(generated, empty):
    gen, calls, folder = generated
    r = resolve_input(empty, param="data_path", generate=gen, name="data.csv")
    assert r == ResolvedInput(path=folder / "data.csv", nature="synthetic", truth=folder / "truth.json",
                              param="data_path")
    assert r.synthetic and calls == [1]


def test_given_path_is_real_and_never_generates(generated, tmp_path):
    gen, calls, _ = generated
    f = tmp_path / "mine.csv"
    f.write_text("x\n", encoding="utf-8")
    r = resolve_input(str(f), param="data_path", generate=gen, name="data.csv")
    assert (r.path, r.nature, r.truth, r.synthetic) == (f, "real", None, False)
    assert calls == []


def test_relative_path_resolves_against_project_root(generated):
    gen, _, _ = generated
    r = resolve_input("pyproject.toml", param="p", generate=gen, name="data.csv", kind="file")
    assert r.path == paths.PROJECT_ROOT / "pyproject.toml" and r.nature == "real"


def test_missing_file_names_the_parameter(generated):
    gen, calls, _ = generated
    with pytest.raises(ParameterError, match=r"parameter 'sheet_path': file not found: nowhere\.csv"):
        resolve_input("nowhere.csv", param="sheet_path", generate=gen, name="data.csv")
    assert calls == []


def test_kind_is_checked(generated, tmp_path):
    gen, _, _ = generated
    with pytest.raises(ParameterError, match="is a folder"):
        resolve_input(str(tmp_path), param="p", generate=gen, name="data.csv", kind="file")
    f = tmp_path / "f.txt"
    f.write_text("x", encoding="utf-8")
    with pytest.raises(ParameterError, match="is not a folder"):
        resolve_input(str(f), param="p", generate=gen, name="data.csv", kind="dir")


def test_together_refuses_a_mix_of_real_and_synthetic(generated, tmp_path):
    gen, calls, _ = generated
    with pytest.raises(ParameterError, match="'facilities_path': is empty while checkups_path is given"):
        resolve_input("", param="facilities_path", generate=gen, name="data.csv",
                      together={"checkups_path": "sheets.csv"})
    assert calls == []
    r = resolve_input("", param="facilities_path", generate=gen, name="data.csv", together={"checkups_path": ""})
    assert r.synthetic


def test_generator_that_forgets_the_file_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="other.csv"):
        resolve_input("", param="p", generate=lambda: tmp_path, name="other.csv")


def test_truth_in_a_truth_subfolder(tmp_path):
    (tmp_path / "positions").mkdir()
    (tmp_path / "truth").mkdir()
    (tmp_path / "truth" / "truth.json").write_text("{}", encoding="utf-8")
    r = resolve_input("", param="p", generate=lambda: tmp_path, name="positions")
    assert r.truth == tmp_path / "truth" / "truth.json"
    (tmp_path / "truth" / "truth.json").unlink()
    assert resolve_input("", param="p", generate=lambda: tmp_path, name="positions").truth is None


def test_read_truth_set_folder_file_and_truth_subfolder(tmp_path):
    a = tmp_path / "a"
    a.mkdir()
    (a / "truth.json").write_text(json.dumps({"seed": 1, "top": [1, 2]}), encoding="utf-8")
    pd.DataFrame({"district_code": ["0101", "0102"], "rate": [0.5, 0.25]}).to_csv(a / "truth_districts.csv",
                                                                                 index=False)
    pd.DataFrame({"x": [1]}).to_csv(a / "microdata.csv", index=False)  # data, not truth
    for where in (a, a / "truth.json"):
        t = read_truth(where)
        assert isinstance(t, Truth) and t.meta == {"seed": 1, "top": [1, 2]} and t["seed"] == 1
        assert list(t.tables) == ["districts"] and t.folder == a
        assert t.tables["districts"]["district_code"].tolist() == ["0101", "0102"]  # codes keep zeros
        assert t.tables["districts"]["rate"].tolist() == [0.5, 0.25]
    b = tmp_path / "b"
    (b / "truth").mkdir(parents=True)
    (b / "truth" / "truth.json").write_text("{}", encoding="utf-8")
    pd.DataFrame({"hazard_id": ["007"], "g": [-0.4]}).to_csv(b / "truth" / "hazards.csv", index=False)
    t = read_truth(b)
    assert t.folder == b / "truth" and t.tables["hazards"]["hazard_id"].tolist() == ["007"]
    with pytest.raises(FileNotFoundError, match="truth.json"):
        read_truth(tmp_path / "nothing")


def test_input_path_and_resolve_encoding(tmp_path):
    f = tmp_path / "sj.csv"
    f.write_bytes("列,値\n熊本,1\n".encode("cp932"))
    assert input_path(f, expected="x") == f
    assert input_path("pyproject.toml", expected="x") == paths.PROJECT_ROOT / "pyproject.toml"
    with pytest.raises(InputFileError, match="file not found. Expected: the sheet"):
        input_path(tmp_path / "none.csv", expected="the sheet")
    assert resolve_encoding(f, AUTO) == "cp932"
    u = tmp_path / "u.csv"
    u.write_text("列\n", encoding="utf-8")
    assert resolve_encoding(u, "auto") == "utf-8"
    assert resolve_encoding(u, "Shift_JIS") == "cp932" and resolve_encoding(u, "utf-8") == "utf-8"
    for bad in ("", None):
        with pytest.raises(InputFileError, match="not understood.*'auto'"):
            resolve_encoding(u, bad)
    with pytest.raises(InputFileError, match="unknown encoding 'latin-9x'"):
        resolve_encoding(u, "latin-9x")


def test_resolve_inputs_all_synthetic_all_real_or_an_error(generated, tmp_path):
    gen, calls, folder = generated
    (folder.mkdir(exist_ok=True), (folder / "other.csv").write_text("b\n2\n", encoding="utf-8"))
    names = {"data": "data.csv", "other": "other.csv"}
    r = resolve_inputs({"data": ("data_path", ""), "other": ("other_path", "")}, names=names, generate=gen)
    assert list(r) == ["data", "other"]
    assert [(x.path, x.nature, x.param) for x in r.values()] == [
        (folder / "data.csv", "synthetic", "data_path"), (folder / "other.csv", "synthetic", "other_path")]
    real = tmp_path / "real.csv"
    real.write_text("a\n1\n", encoding="utf-8")
    r = resolve_inputs({"data": ("data_path", str(real)), "other": ("other_path", str(real))}, names=names,
                       generate=gen)
    assert {x.nature for x in r.values()} == {"real"} and r["other"].truth is None
    with pytest.raises(ParameterError, match="'other_path': is empty while data_path is given"):
        resolve_inputs({"data": ("data_path", str(real)), "other": ("other_path", "")}, names=names, generate=gen)

