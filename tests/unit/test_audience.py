"""Two audiences (issue 12, item 3): ``audience: public`` (default) and ``audience: internal`` (庁内限り).

An internal run says 庁内限り in the report's <title> and title block, in a banner at the top and in the file
name; a public run says it nowhere; the index lists internal reports apart; any other value is refused
naming the parameter and the allowed values (CLI exit 2)."""

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from ebpm_analysis import audience as A
from ebpm_analysis import cli, report
from ebpm_analysis.errors import ParameterError
from ebpm_analysis.pipeline import params as P
from ebpm_analysis.pipeline.execute import Layout, build_all, output_stem, resolve_run

FIX = Path(__file__).parents[1] / "fixtures" / "pipeline" / "fixture_run.ipynb"
MARK = "庁内限り"


def test_is_internal_is_the_one_question_and_validates():
    assert report.is_internal is A.is_internal
    assert A.is_internal("internal") is True and A.is_internal("public") is False
    for bad in ("Internal", "庁内限り", "", "private", None, 1, True):
        with pytest.raises(ParameterError) as e:
            A.is_internal(bad)
        msg = str(e.value)
        assert msg.startswith("parameter 'audience': got ") and "'public'" in msg and "'internal'" in msg


def test_title_banner_and_stem_mark_only_internal_runs():
    assert A.mark_title("熊本市の歯科健診", "internal") == "【庁内限り】熊本市の歯科健診"
    assert A.mark_title("【庁内限り】熊本市の歯科健診", "internal") == "【庁内限り】熊本市の歯科健診"  # once
    assert A.mark_title("熊本市の歯科健診", "public") == "熊本市の歯科健診"
    assert A.banner_html("public") == ""
    banner = A.banner_html("internal")
    assert 'class="ebpm-banner ebpm-internal"' in banner and MARK in banner and "<script" not in banner
    assert output_stem("02_dental_checkups", "default") == "02_dental_checkups"
    assert output_stem("02_dental_checkups", "internal", audience="internal") == "02_dental_checkups--庁内限り"
    assert output_stem("02_dental_checkups", "default", "43202", audience="internal") == \
        "02_dental_checkups--43202--庁内限り"
    assert output_stem("02_dental_checkups", "staff", audience="internal") == "02_dental_checkups--staff--庁内限り"
    assert re.fullmatch(r"02_dental_checkups--custom-[0-9a-f]{8}--庁内限り",
                        output_stem("02_dental_checkups", "default", None, {"audience": "internal"}, "internal"))
    with pytest.raises(ParameterError, match="audience"):
        output_stem("02_dental_checkups", "default", audience="staff")


@pytest.mark.parametrize("name", [*P.list_notebooks(), "_template"])
def test_every_notebook_declares_audience_public_by_default(name):
    spec = P.inspect_parameters(P.paths.NOTEBOOKS_DIR / f"{name}.ipynb")
    assert spec["audience"].default == "public"
    with pytest.raises(ParameterError, match=r"parameter 'audience': got 'staff'.*'public'.*'internal'"):
        P.validate(P.paths.NOTEBOOKS_DIR / f"{name}.ipynb", {"audience": "staff"})


@pytest.mark.parametrize("name", ["02_dental_checkups", "04_emergency_demand", "05_school_routes"])
def test_configured_internal_runs(name):
    """`make reports` (build-all) builds 02, 04 and 05 for staff too, as <notebook>--庁内限り, with their own
    exports folder; the default run stays public under its old name."""
    from ebpm_analysis.pipeline.execute import build_plan
    assert (name, "internal", None) in build_plan([name])
    run = resolve_run(name, "internal")
    assert run["audience"] == "internal" and run["stem"] == f"{name}--{MARK}"
    assert run["values"]["output_dir"] == f"data/processed/{name}--{MARK}"
    default = resolve_run(name, "default")
    assert default["audience"] == "public" and default["stem"] == name and "output_dir" not in default["values"]


def test_cli_refuses_a_bad_audience_naming_the_parameter(capsys, tmp_path):
    assert cli.main(["run", str(FIX), "-p", "audience=staff", "--out-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ebpm: error: parameter 'audience': got 'staff'")
    assert "'public'" in err and "'internal'" in err and "Traceback" not in err
    pset = tmp_path / "bad.yml"
    pset.write_text("audience: Internal\n", encoding="utf-8")
    assert cli.main(["run", str(FIX), "--params", str(pset), "--out-dir", str(tmp_path)]) == 2
    assert "parameter 'audience': got 'Internal'" in capsys.readouterr().err
    assert [p.name for p in tmp_path.glob("*.html")] in ([], ["index.html"])  # no report written


def _title_block(html: str) -> str:
    return html.split("</header>")[0]


@pytest.mark.notebooks
def test_internal_and_public_runs_and_the_index(monkeypatch, tmp_path):
    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    shutil.copy(FIX, nb_dir / "fixture_run.ipynb")
    pdir = tmp_path / "params" / "fixture_run"
    pdir.mkdir(parents=True)
    (pdir / "default.yml").write_text("n: 1\n", encoding="utf-8")
    (pdir / "internal.yml").write_text("n: 1\naudience: internal\n", encoding="utf-8")
    monkeypatch.setattr(P.paths, "NOTEBOOKS_DIR", nb_dir)
    monkeypatch.setattr(P.paths, "PARAMS_DIR", tmp_path / "params")
    monkeypatch.setattr(P, "list_notebooks", lambda d=None: ["fixture_run"])
    layout = Layout(reports_dir=tmp_path / "reports", build_dir=tmp_path / "build")
    results = build_all(layout=layout, log=lambda *a: None)
    assert [(r.variant, r.status, r.report.name) for r in results] == [
        ("default", "ok", "fixture_run.html"), ("internal", "ok", f"fixture_run--{MARK}.html")]

    public = (layout.reports_dir / "fixture_run.html").read_text(encoding="utf-8")
    assert MARK not in public and 'class="ebpm-banner ebpm-internal"' not in public  # (its CSS rule is there)
    assert "<title>熊本市のパイプライン試験 Pipeline fixture</title>" in public

    internal = (layout.reports_dir / f"fixture_run--{MARK}.html").read_text(encoding="utf-8")
    assert f"<title>【{MARK}】熊本市のパイプライン試験 Pipeline fixture</title>" in internal
    assert f'<h1 class="title">【{MARK}】熊本市' in _title_block(internal)
    main = internal.split('<main class="ebpm-main">', 1)[1]
    banner = re.search(r'<div class="ebpm-banner ebpm-internal">(.*?)</div>', main, flags=re.S)
    assert banner and MARK in banner.group(1) and "職員のみ" in banner.group(1)
    # the banner comes first: before the notebook's first heading and its own (real/synthetic) banner
    assert main.index("ebpm-internal") < min(main.index("概要"), main.index("ebpm-banner ebpm-real"))
    # the same numbers as the public run (the fixture gates nothing): only the audience differs
    assert re.search(r"N=1 RATIO=0.5 ROWS=\d+", internal).group(0) == re.search(r"N=1 RATIO=0.5 ROWS=\d+",
                                                                                 public).group(0)
    executed = nbformat.read(layout.executed_dir / f"fixture_run--{MARK}.ipynb", as_version=4)
    assert executed.metadata["ebpm"]["audience"] == "internal"
    status = json.loads((layout.status_dir / f"fixture_run--{MARK}.json").read_text(encoding="utf-8"))
    assert status["audience"] == "internal" and status["title"].startswith(f"【{MARK}】")
    assert json.loads((layout.status_dir / "fixture_run.json").read_text(encoding="utf-8"))["audience"] == "public"

    index = (layout.reports_dir / "index.html").read_text(encoding="utf-8")
    public_part, internal_part = index.split('<section class="index-internal" id="internal">')
    public_sections = public_part.split('<section class="index-city"', 1)[1]
    assert 'href="fixture_run.html"' in public_sections and MARK not in public_sections
    assert f'href="fixture_run--{MARK}.html"' in internal_part and 'href="fixture_run.html"' not in internal_part
    assert f"{MARK}の報告書（職員のみ・公開しない）" in internal_part
    assert "1 件（1 市区町村）、ほかに庁内限りの報告書 1 件（末尾に別掲）" in index

    # a failed internal run keeps its mark in the index (status title) and stays in its section
    (pdir / "internal.yml").write_text("n: 1\naudience: internal\nfail: true\n", encoding="utf-8")
    again = build_all(layout=layout, log=lambda *a: None)
    assert [(r.variant, r.status) for r in again] == [("default", "skipped"), ("internal", "failed")]
    index = (layout.reports_dir / "index.html").read_text(encoding="utf-8")
    internal_part = index.split('<section class="index-internal" id="internal">')[1]
    assert "失敗" in internal_part and f"【{MARK}】" in internal_part


@pytest.mark.notebooks
def test_custom_internal_run_through_the_cli(tmp_path):
    out = tmp_path / "out"
    assert cli.main(["run", str(FIX), "-p", "audience=internal", "--out-dir", str(out)]) == 0
    (report_file,) = out.glob("fixture_run--custom-*.html")
    assert report_file.name.endswith(f"--{MARK}.html")
    html = report_file.read_text(encoding="utf-8")
    assert f"<title>【{MARK}】" in html and "ebpm-banner ebpm-internal" in html
