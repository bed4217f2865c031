"""City profiles (notebooks/cities/<code>.yml), --city runs, report names of custom runs and the command
that reproduces each run."""

import json
import shlex

import pytest

from ebpm_analysis import cli
from ebpm_analysis.errors import ParameterError
from ebpm_analysis.pipeline import cities
from ebpm_analysis.pipeline import execute as E
from ebpm_analysis.pipeline import params as P

NB = "03_probe_slowdowns"
TOYAMA = "data/raw/npa-accidents-toyama/npa_accidents_2019-2021_pref50_toyama.gpkg"


def test_every_profile_loads_and_validates_for_its_notebooks():
    profiles = cities.list_profiles()
    assert {p.code for p in profiles} >= {"16201", "43202"}
    for prof in profiles:
        assert prof.path.stem == prof.code
        for nb in prof.notebooks:
            prof.values_for(P.notebook_path(nb))  # raises on a wrong name/type/missing file


def test_parameter_sets_keep_only_what_differs_from_the_defaults():
    for name in P.list_notebooks():
        spec = P.inspect_parameters(P.notebook_path(name))
        for variant in P.list_variants(name):
            values = P.load_params_file(P.params_file(name, variant))
            same = [k for k, v in values.items() if spec[k].default == v]
            assert not same, f"{name}/{variant}.yml repeats defaults {same}"


def test_precedence_defaults_profile_params_overrides(tmp_path):
    r = E.resolve_run(NB, city="富山市")
    assert r["values"]["city_code"] == "16201" and r["values"]["accidents_path"] == TOYAMA
    assert r["stem"] == f"{NB}--16201" and r["values"]["output_dir"] == f"data/processed/{NB}--16201"
    assert r["command"] == f"ebpm run {NB} --city 16201"
    # a parameter set beats the profile; -p beats both
    f = tmp_path / "set.yml"
    f.write_text('n_rows: 1000\naccidents_path: ""\n', encoding="utf-8")
    r = E.resolve_run(NB, str(f), ["n_rows=2000"], city="16201")
    assert r["values"]["n_rows"] == 2000 and r["values"]["accidents_path"] == ""
    assert r["values"]["city_code"] == "16201"
    # a profile's notebook entry beats its common params
    y = E.resolve_run("02_dental_checkups", city="43202")["values"]
    assert y["population_total"] == 123067 and y["tooth_naming"] == "japanese" and y["hotspot_k"] == 6
    assert E.resolve_run("04_emergency_demand", city="八代市")["values"]["population_total"] == 123067


def test_city_without_profile_runs_from_its_code(tmp_path):
    r = E.resolve_run(NB, city="01100")   # 札幌市: no profile (no model case)
    assert r["values"] == {"city_code": "01100", "output_dir": f"data/processed/{NB}--01100"}
    assert r["profile"].name == "札幌市" and r["profile"].path is None
    with pytest.raises(ParameterError, match="--city.*府中市（東京都）"):
        E.resolve_run(NB, city="府中市")
    from pathlib import Path

    import nbformat
    nb = nbformat.read(Path(__file__).parents[1] / "fixtures" / "pipeline" / "fixture_run.ipynb", as_version=4)
    for c in nb.cells:
        c.source = "\n".join(line for line in c.source.splitlines() if not line.startswith("city_code"))
    nbformat.write(nb, tmp_path / "no_city.ipynb")
    with pytest.raises(ParameterError, match="takes no city"):
        E.resolve_run(str(tmp_path / "no_city.ipynb"), city="16201")


def test_default_city_keeps_the_default_report_name():
    assert E.resolve_run(NB)["stem"] == NB
    assert E.resolve_run(NB, city="43100")["stem"] == NB
    assert E.resolve_run("01_census_commuting", "estat_table")["stem"] == "01_census_commuting--estat_table"


def test_overrides_make_a_custom_report_with_its_command():
    r = E.resolve_run(NB, "default", ["min_cell=20", "trend_years=[2020, 2021]"], city="16201")
    assert r["stem"].startswith(f"{NB}--16201--custom-") and len(r["stem"].split("custom-")[1]) == 8
    assert r["values"]["output_dir"] == f"data/processed/{r['stem']}"
    args = shlex.split(r["command"])
    assert args[:5] == ["ebpm", "run", NB, "--city", "16201"]
    # the printed command reproduces the same run (same values, same name)
    again = E.resolve_run(args[2], "default", [a for a in args[5:] if a != "-p"], city=args[4])
    assert again["values"] == r["values"] and again["stem"] == r["stem"]
    # different overrides, different name; same overrides in another order, same name
    stem = E.resolve_run(NB, "default", ["min_cell=20"])["stem"]
    assert E.resolve_run(NB, "default", ["min_cell=21"])["stem"] != stem
    assert (E.resolve_run(NB, "default", ["min_cell=20", "seed=1"])["stem"]
            == E.resolve_run(NB, "default", ["seed=1", "min_cell=20"])["stem"])


def test_build_plan_covers_sets_and_cities():
    plan = E.build_plan()
    assert (NB, "default", None) in plan and (NB, "default", "16201") in plan
    assert ("01_census_commuting", "estat_table", None) in plan and ("02_dental_checkups", "default", "43202") in plan
    stems = [E.resolve_run(n, v, city=c)["stem"] for n, v, c in plan]
    assert len(stems) == len(set(stems))
    # the model cities of 04 (仙台市) and 06 (滋賀県, a prefecture-level run)
    assert ("04_emergency_demand", "default", "04100") in plan and ("06_counter_congestion", "default", "25000") in plan


def test_profile_errors(tmp_path):
    def write(code, text):
        (tmp_path / f"{code}.yml").write_text(text, encoding="utf-8")
        return tmp_path
    with pytest.raises(ParameterError, match="quoted string"):
        cities.list_profiles(write("16201", "code: 16201\n"))
    (tmp_path / "16201.yml").unlink()
    with pytest.raises(ParameterError, match="does not match code 16201"):
        cities.list_profiles(write("16201", 'code: "16201"\nname: 高岡市\n'))
    (tmp_path / "16201.yml").unlink()
    with pytest.raises(ParameterError, match="declared by no notebook"):
        cities.list_profiles(write("16201", 'code: "16201"\nparams:\n  acidents_path: x\n'))
    (tmp_path / "16201.yml").unlink()
    with pytest.raises(ParameterError, match="unknown notebook"):
        cities.list_profiles(write("16201", 'code: "16201"\nnotebooks: [99_nothing]\n'))
    (tmp_path / "16201.yml").unlink()
    with pytest.raises(ParameterError, match="file name does not match"):
        cities.list_profiles(write("16202", 'code: "16201"\n'))


def test_custom_run_writes_its_own_report_and_prints_the_command(tmp_path, monkeypatch):
    """Through the CLI on the small fixture notebook: -p never overwrites the default report."""
    import shutil
    from pathlib import Path
    fixture = Path(__file__).parents[1] / "fixtures" / "pipeline" / "fixture_run.ipynb"
    nb = tmp_path / "nb"
    nb.mkdir()
    shutil.copy(fixture, nb / "fixture_run.ipynb")
    monkeypatch.setattr(P.paths, "NOTEBOOKS_DIR", nb)
    monkeypatch.setattr(P.paths, "PARAMS_DIR", nb / "params")
    spec = P.inspect_parameters(nb / "fixture_run.ipynb")
    key, default = next((k, p.default) for k, p in spec.items() if isinstance(p.default, int))
    out = tmp_path / "out"
    assert cli.main(["run", "fixture_run", "--out-dir", str(out)]) == 0
    assert cli.main(["run", "fixture_run", "--out-dir", str(out), "-p", f"{key}={default + 1}"]) == 0
    custom = [p.name for p in out.glob("fixture_run--custom-*.html")]
    assert len(custom) == 1 and (out / "fixture_run.html").exists()
    html = (out / custom[0]).read_text(encoding="utf-8")
    assert f"ebpm run fixture_run -p {key}={default + 1}" in html
    status = json.loads((out / "_build" / "status" / f"{custom[0][:-5]}.json").read_text(encoding="utf-8"))
    assert status["command"] == f"ebpm run fixture_run -p {key}={default + 1}"
