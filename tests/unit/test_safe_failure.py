"""Safe failure (issue 15): an input changed anywhere makes a report out of date; a failed or killed run leaves
no temporary or partial file and keeps the previous report; parameters that would scatter outputs are refused."""

from pathlib import Path

import pytest

from ebpm_analysis import cli
from ebpm_analysis.pipeline.execute import Layout, RunFailed, run_notebook

FIX = str(Path(__file__).parents[1] / "fixtures" / "pipeline" / "fixture_run.ipynb")


def _params(folder: Path, text: str) -> Path:
    f = folder / "set.yml"
    f.write_text(text, encoding="utf-8")
    return f


def test_a_changed_input_outside_data_raw_makes_the_report_out_of_date(tmp_path):
    """--if-changed skips a run only when every file the last run read is unchanged, wherever it lives."""
    data = tmp_path / "counts.csv"
    data.write_text("a,b\n1,2\n", encoding="utf-8")
    layout = Layout(reports_dir=tmp_path / "reports", build_dir=tmp_path / "build")
    run = lambda: run_notebook(FIX, overrides={"input_path": str(data)}, layout=layout, force=False,  # noqa: E731
                               log=lambda *a: None)
    assert run().status == "ok"
    assert run().status == "skipped"
    data.write_text("a,b\n1,2\n3,4\n", encoding="utf-8")   # same name, new content
    r = run()
    assert r.status == "ok" and "INPUT_ROWS 2" in r.executed.read_text(encoding="utf-8")


def test_a_failed_run_leaves_no_temporary_files(monkeypatch, tmp_path):
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    layout = Layout(reports_dir=tmp_path / "reports", build_dir=tmp_path / "build")
    with pytest.raises(RunFailed):
        run_notebook(FIX, overrides={"fail": True}, layout=layout, log=lambda *a: None)
    assert not list((tmp_path / "tmp").iterdir())
    assert not list((layout.build_dir / "executed").glob("*.ipynb"))


def test_an_empty_output_dir_is_refused(capsys, tmp_path):
    assert cli.main(["run", "00_data_catalog", "-p", "output_dir=", "--out-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "output_dir" in err and "empty" in err and "data/processed/00_data_catalog" in err


def test_sigterm_mid_build_keeps_the_reports_and_leaves_no_partial_files(tmp_path):
    """A SIGTERM while a notebook executes: one line, exit 143, no temporary or partial files, the previous
    report unchanged; building again succeeds."""
    import os
    import signal
    import subprocess
    import sys
    import time
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "ebpm_analysis.cli", "build-all", "--only", "00_data_catalog", "--jobs", "1",
           "--out-dir", str(out)]
    root = Path(__file__).parents[2]
    env = os.environ | {"TMPDIR": str(tmp_path / "tmp")}   # this run's temporary files only
    (tmp_path / "tmp").mkdir()
    assert subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env).returncode == 0
    report = out / "00_data_catalog.html"
    good = report.read_bytes()
    proc = subprocess.Popen(cmd + ["--force"], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    deadline = time.monotonic() + 60
    while not list((out / "_build" / "executed").glob("00_data_catalog-*.ipynb")):   # the run's temporary notebook
        assert time.monotonic() < deadline and proc.poll() is None, "the run did not start"
        time.sleep(0.1)
    time.sleep(1.5)   # inside the kernel
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    # ebpm's own message is one line and no frame of ours is printed; the kernel, killed mid-cell, may log
    # its own interrupt to the same terminal (ipykernel's frames only)
    assert err.strip().splitlines()[-1].startswith("ebpm: terminated")
    assert "ebpm_analysis/cli.py" not in err and "pipeline/execute.py" not in err   # no frame of the ebpm process
    assert report.read_bytes() == good
    assert not list((out / "_build" / "executed").glob("00_data_catalog-*.ipynb"))
    # the run log and the kernel's connection file (papermill writes it to TMPDIR) are gone
    assert not list((tmp_path / "tmp").iterdir()), "the killed run left temporary files behind"
    again = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env)
    assert again.returncode == 0 and "up to date" in again.stdout


def test_a_failed_cli_run_marks_the_index_failed_without_quoting_the_message(tmp_path):
    out = tmp_path / "out"
    assert cli.main(["run", FIX, "--out-dir", str(out)]) == 0
    good = (out / "fixture_run.html").read_bytes()
    assert "成功" in (out / "index.html").read_text(encoding="utf-8")
    assert cli.main(["run", FIX, "--params", str(_params(tmp_path, "fail: true\nlabels: [SECRET_TOKEN]\n")),
                     "--out-dir", str(out)]) == 2
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "失敗" in index and "ValueError" in index and "planted failure" not in index
    assert (out / "fixture_run.html").read_bytes() == good
