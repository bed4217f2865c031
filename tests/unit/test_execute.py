"""The one execution path: papermill with the project kernel, provenance, render, no overwrite on failure."""

import json
from pathlib import Path

import nbformat
import pytest

from ebpm_analysis import cli
from ebpm_analysis.errors import EbpmError
from ebpm_analysis.pipeline.execute import Layout, RunFailed, run_notebook, template_values

FIX = str(Path(__file__).parents[1] / "fixtures" / "pipeline" / "fixture_run.ipynb")
pytestmark = pytest.mark.notebooks


@pytest.fixture
def layout(tmp_path):
    return Layout(reports_dir=tmp_path / "reports", build_dir=tmp_path / "build")


def test_run_records_provenance_and_renders(layout):
    r = run_notebook(FIX, None, {"city_code": "01100", "n": 4}, layout=layout, log=lambda *a: None)
    assert r.status == "ok" and r.report.name.startswith("fixture_run--custom-")  # -p never takes a default name
    html = r.report.read_text(encoding="utf-8")
    # Parameters arrive with their types: the code keeps its leading zero.
    assert "CITY=&#x27;01100&#x27; TYPE=str N=4 RATIO=0.5 ROWS=12" in html or "CITY='01100' TYPE=str N=4" in html
    assert "DONE" in html
    assert "injected-parameters" not in html and "# Parameters" not in html  # injected cell hidden
    assert "来歴（Provenance）" in html
    assert "<title>{{city_name}}" not in html
    assert "<title>札幌市のパイプライン試験" in html
    assert template_values({"city_code": "01999"})["city_name"] == "01999"  # unknown code: the code stands in
    assert "kumamoto_city_population_1985_2040_ipss2013_transcribed.csv" in html
    assert "785441fe815e0d0b" in html  # sha256 of that input (first 16 hex digits)
    # the tables of provenance are folded for readers who are not analysts (issue 14)
    folded = html[html.index('<details class="ebpm-provenance-details">'):html.index("</details>")]
    assert "785441fe815e0d0b" in folded and "<summary>" in folded
    nb = nbformat.read(r.executed, as_version=4)
    prov = nb.metadata["ebpm"]
    assert prov["parameters"]["city_code"] == "01100" and prov["parameters"]["ratio"] == 0.5
    assert prov["command"] == "ebpm run fixture_run -p city_code=01100 -p n=4"
    assert prov["data_nature"] == "real"
    assert prov["inputs"][0]["sha256"].startswith("785441fe815e0d0b")
    assert "pandas" in prov["versions"] and prov["git"]["commit"] is None or len(prov["git"]["commit"]) == 40
    status = json.loads((layout.status_dir / f"{r.report.stem}.json").read_text())
    assert status["status"] == "ok" and status["data_nature"] == "real"


def test_title_placeholder_names_the_city(layout):
    r = run_notebook(FIX, None, city="八代市", layout=layout, log=lambda *a: None)
    assert r.report.name == "fixture_run--43202.html"
    html = r.report.read_text(encoding="utf-8")
    assert "<title>八代市のパイプライン試験 Pipeline fixture</title>" in html
    assert "<code>ebpm run fixture_run --city 43202</code>" in html
    status = json.loads((layout.status_dir / "fixture_run--43202.json").read_text(encoding="utf-8"))
    assert status["title"] == "八代市のパイプライン試験 Pipeline fixture"
    # the subtitle's {{data_label}} comes from the inputs read: the fixture reads one real file
    assert status["subtitle"] == "fixture — 実データ" and "fixture — 実データ" in html
    assert (status["city"], status["city_name"]) == ("43202", "八代市")
    assert {e["dataset"] for e in nbformat.read(r.executed, as_version=4).metadata["ebpm"]["inputs"]} == {
        "ipss-projection-kumamoto-city"}  # deriving the name is not an input of the analysis


def test_failed_run_keeps_previous_report(layout, tmp_path):
    pset = tmp_path / "flaky.yml"
    pset.write_text("fail: false\n", encoding="utf-8")
    ok = run_notebook(FIX, str(pset), layout=layout, log=lambda *a: None)
    before = ok.report.read_bytes()
    pset.write_text("fail: true\n", encoding="utf-8")
    with pytest.raises(RunFailed) as e:
        run_notebook(FIX, str(pset), layout=layout, log=lambda *a: None)
    assert "ValueError" in str(e.value) and "planted failure" in str(e.value)
    assert "previous report (if any) was kept" in str(e.value)
    assert ok.report.name == "fixture_run--flaky.html" and ok.report.read_bytes() == before
    assert (layout.failed_dir / "fixture_run--flaky.ipynb").exists()


def test_unchanged_inputs_skip(layout):
    first = run_notebook(FIX, None, layout=layout, force=False, log=lambda *a: None)
    second = run_notebook(FIX, None, layout=layout, force=False, log=lambda *a: None)
    assert first.status == "ok" and second.status == "skipped"
    third = run_notebook(FIX, None, {"n": 9}, layout=layout, force=False, log=lambda *a: None)
    assert third.status == "ok"  # a parameter change means new work


def test_cli_errors_are_one_paragraph_and_nonzero(capsys, tmp_path):
    assert cli.main(["run", "99_missing", "--out-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ebpm: error: notebook '99_missing' not found")
    assert "00_data_catalog" in err and "Traceback" not in err
    assert cli.main(["run", "00_data_catalog", "-p", "nope=1", "--out-dir", str(tmp_path)]) == 2
    assert "unknown parameter" in capsys.readouterr().err
    assert cli.main(["run", "00_data_catalog", "--params", "nosuchset", "--out-dir", str(tmp_path)]) == 2
    assert "default" in capsys.readouterr().err


def test_build_all_continues_past_failure_and_reports(monkeypatch, tmp_path):
    from ebpm_analysis.pipeline import execute
    from ebpm_analysis.pipeline import params as P
    fixture = Path(FIX)
    pdir = tmp_path / "params" / "fixture_run"
    pdir.mkdir(parents=True)
    (pdir / "default.yml").write_text("n: 1\n", encoding="utf-8")
    (pdir / "broken.yml").write_text("fail: true\n", encoding="utf-8")
    monkeypatch.setattr(P.paths, "NOTEBOOKS_DIR", fixture.parent)
    monkeypatch.setattr(P.paths, "PARAMS_DIR", tmp_path / "params")
    monkeypatch.setattr(P, "list_notebooks", lambda d=None: ["fixture_run"])
    layout = Layout(reports_dir=tmp_path / "reports", build_dir=tmp_path / "build")
    results = execute.build_all(layout=layout, log=lambda *a: None)
    assert [(r.variant, r.status) for r in results] == [("broken", "failed"), ("default", "ok")]
    index = (layout.reports_dir / "index.html").read_text(encoding="utf-8")
    assert "失敗" in index and "ValueError" in index and "成功" in index
    assert "planted failure" not in index   # the index names the error class, never the message
    # the good run's KPIs (tiles of the fixture, defined in its kpis/fixture_run.yml) are in the register once
    from ebpm_analysis.pipeline import kpi
    reg = kpi.read(layout.register_path)
    assert layout.register_path == layout.build_dir / "kpi_register.sqlite"
    assert reg[["kpi_id", "value", "unit", "as_of", "stem"]].values.tolist() == [
        ["fixture_run.n", 1.0, "件", "2024-03-31", "fixture_run"], ["fixture_run.ratio", 50.0, "%", "2024-03-31",
                                                                    "fixture_run"]]
    status = json.loads((layout.status_dir / "fixture_run.json").read_text(encoding="utf-8"))
    assert [k["value"] for k in status["kpis"]] == [1.0, 50.0] and status["kpi_run_id"] == reg["run_id"].iloc[0]
    again = execute.build_all(layout=layout, log=lambda *a: None)
    assert [(r.variant, r.status) for r in again] == [("broken", "failed"), ("default", "skipped")]
    assert len(kpi.read(layout.register_path)) == 2   # an up-to-date report adds nothing
    # a parameter set removed since: its report leaves the index; a custom run stays
    (pdir / "broken.yml").unlink()
    custom = json.loads((layout.status_dir / "fixture_run.json").read_text(encoding="utf-8"))
    (layout.status_dir / "fixture_run--custom-0123abcd.json").write_text(
        json.dumps(custom | {"stem": "fixture_run--custom-0123abcd"}), encoding="utf-8")
    (layout.reports_dir / "fixture_run--custom-0123abcd.html").write_text("<html></html>", encoding="utf-8")
    execute.build_all(layout=layout, log=lambda *a: None)
    assert sorted(p.stem for p in layout.status_dir.glob("*.json")) == ["fixture_run", "fixture_run--custom-0123abcd"]
    assert not (layout.reports_dir / "fixture_run--broken.html").exists()
    assert "失敗" not in (layout.reports_dir / "index.html").read_text(encoding="utf-8")


def test_build_all_in_parallel_gives_the_serial_results_in_plan_order(monkeypatch, tmp_path):
    """--jobs 2: two notebooks run in two worker processes; a failure in one does not stop the other; the
    results, reports and index are those of a serial build."""
    import shutil

    from ebpm_analysis.pipeline import execute
    from ebpm_analysis.pipeline import params as P
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    for name in ("fixture_a", "fixture_b"):
        shutil.copy(FIX, nb_dir / f"{name}.ipynb")
        (tmp_path / "params" / name).mkdir(parents=True)
        (tmp_path / "params" / name / "default.yml").write_text("n: 1\n", encoding="utf-8")
    (tmp_path / "params" / "fixture_a" / "broken.yml").write_text("fail: true\n", encoding="utf-8")
    monkeypatch.setattr(P.paths, "NOTEBOOKS_DIR", nb_dir)
    monkeypatch.setattr(P.paths, "PARAMS_DIR", tmp_path / "params")
    monkeypatch.setattr(P, "list_notebooks", lambda d=None: ["fixture_a", "fixture_b"])
    layout = Layout(reports_dir=tmp_path / "reports", build_dir=tmp_path / "build")
    results = execute.build_all(layout=layout, jobs=2, log=lambda *a: None)
    assert [(r.name, r.variant, r.status) for r in results] == [
        ("fixture_a", "broken", "failed"), ("fixture_a", "default", "ok"), ("fixture_b", "default", "ok")]
    assert sorted(p.name for p in layout.reports_dir.glob("*.html")) == [
        "fixture_a.html", "fixture_b.html", "index.html"]
    assert "ValueError" in (layout.reports_dir / "index.html").read_text(encoding="utf-8")
    with pytest.raises(EbpmError, match="--jobs 0"):
        execute.build_all(layout=layout, jobs=0, log=lambda *a: None)


def test_make_help_lists_every_target():
    import re
    import subprocess
    root = Path(__file__).parents[2]
    makefile = (root / "Makefile").read_text(encoding="utf-8")
    targets = re.findall(r"^([a-z][a-z-]*):(?!=)", makefile, flags=re.M)
    out = subprocess.run(["make", "-s", "help"], cwd=root, capture_output=True, text=True, check=True).stdout
    for t in targets:
        assert f"make {t} " in out, f"target {t} has no '## description' for make help"
    assert "make reports" in out and "make test" in out


def test_make_reports_runs_the_disclosure_audit_after_the_build():
    """Issue 12: `make reports` fails when ebpm audit finds a violation, and does not mark the build done."""
    import re
    recipe = re.search(r"^build/\.reports-done:.*\n((?:\t.*\n)+)", (Path(__file__).parents[2] / "Makefile").read_text(
        encoding="utf-8"), flags=re.M).group(1).splitlines()
    steps = [next(i for i, line in enumerate(recipe) if word in line) for word in ("build-all", "audit", "touch $@")]
    assert steps == sorted(steps) and recipe[steps[1]].strip().startswith("$(EBPM) audit")


@pytest.mark.parametrize("say, named", [
    ("出典は docs/sources.md#diesel-counter を参照。",
     "'docs/sources.md#diesel-counter' (a document of the repository)"),
    ("既定値はパラメータ input_path で変えられます。", "'パラメータ input_path' (a parameter name)"),
    ("`input_path` に指定すると節が加わります。", "'input_path' (the parameter name)"),
])
def test_report_text_with_internal_references_fails_the_build(layout, tmp_path, say, named):
    """Issue 14: a build check rejects report text that points readers at repository files or parameter
    names; the previous report is kept and the message names the text."""
    pset = tmp_path / "wording.yml"
    pset.write_text("say: ''\n", encoding="utf-8")
    ok = run_notebook(FIX, str(pset), layout=layout, log=lambda *a: None)
    before = ok.report.read_bytes()
    pset.write_text(json.dumps({"say": say}, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(RunFailed) as e:
        run_notebook(FIX, str(pset), layout=layout, log=lambda *a: None)
    assert named in str(e.value) and "previous report was kept" in str(e.value)
    assert ok.report.read_bytes() == before
    status = json.loads((layout.status_dir / "fixture_run--wording.json").read_text(encoding="utf-8"))
    assert status["status"] == "failed" and status["error_summary"].startswith("本文に内部参照 1件")


def test_glossary_lists_the_terms_the_report_uses(layout, tmp_path):
    """Issue 14: a 用語 section before the provenance explains the statistical terms the text uses."""
    pset = tmp_path / "terms.yml"
    pset.write_text(json.dumps({"say": "市全体の率の95%信頼区間と、経験ベイズで補正した率を示します。"},
                               ensure_ascii=False), encoding="utf-8")
    html = run_notebook(FIX, str(pset), layout=layout, log=lambda *a: None).report.read_text(encoding="utf-8")
    start = html.index('class="ebpm-glossary"')
    section = html[start:html.index("来歴（Provenance）", start)]
    assert "95%信頼区間（95%区間）" in section and "経験ベイズ（EB）・平滑化" in section
    assert "アーランC" not in section                                  # a term the report does not use
    plain = run_notebook(FIX, None, city="八代市", layout=layout, log=lambda *a: None).report.read_text("utf-8")
    assert "ebpm-glossary" not in plain


def test_an_unknown_city_code_is_refused_before_the_notebook_starts(layout):
    with pytest.raises(EbpmError, match=r"parameter 'city_code': '01999' is not in the boundary file"):
        run_notebook(FIX, None, {"city_code": "01999"}, layout=layout, log=lambda *a: None)
    assert not layout.executed_dir.exists() or not list(layout.executed_dir.glob("*.ipynb"))   # no kernel ran


def test_parallel_runs_share_the_cores_unless_the_user_chose(monkeypatch):
    from ebpm_analysis.pipeline import execute
    for var in execute.THREAD_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(execute.os, "cpu_count", lambda: 8)
    monkeypatch.setenv("MKL_NUM_THREADS", "3")          # the user's choice stays
    execute._share_cores(2)
    assert [execute.os.environ[v] for v in execute.THREAD_VARS] == ["4", "4", "3"]
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    execute._share_cores(16)                             # more runs than cores: one thread each, never 0
    assert execute.os.environ["OPENBLAS_NUM_THREADS"] == "1"
