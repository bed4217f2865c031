"""Safe failure (issue 15): an input changed anywhere makes a report out of date; a failed or killed run leaves
no temporary or partial file and keeps the previous report and exports (data/processed); parameters that would
scatter outputs are refused."""

import os
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
    processed = root / "data" / "processed"
    exports = (processed / "00_data_catalog" / "catalog.json").read_bytes()
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
    assert err.strip().splitlines()[-1].startswith("ebpm: terminated"), err
    assert "never retrieved" not in err and "DeadKernelError" not in err, err   # nbclient's orphaned poll task
    assert "ebpm_analysis/cli.py" not in err and "pipeline/execute.py" not in err   # no frame of the ebpm process
    assert report.read_bytes() == good
    assert not list((out / "_build" / "executed").glob("00_data_catalog-*.ipynb"))
    # the run log and the kernel's connection file (papermill writes it to TMPDIR) are gone
    assert not list((tmp_path / "tmp").iterdir()), "the killed run left temporary files behind"
    # data/processed: the previous exports as they were, no staging folder of the killed run
    assert (processed / "00_data_catalog" / "catalog.json").read_bytes() == exports
    assert not list(processed.glob(".00_data_catalog.*")), "the killed run left its staging folder"
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


def _fixture_with_exports(folder: Path) -> Path:
    """The pipeline fixture plus an ``output_dir`` parameter and a cell that writes ``n`` rows there before the
    cell that may fail, and names the file it wrote the way a report does."""
    import nbformat
    nb = nbformat.read(FIX, as_version=4)
    params = next(c for c in nb.cells if "fail = False" in c.source)
    params.source += '\noutput_dir = ""  # where the exports go'
    fail_at = next(i for i, c in enumerate(nb.cells) if "planted failure" in c.source)
    nb.cells.insert(fail_at, nbformat.v4.new_code_cell(
        "import pandas as pd\nfrom ebpm_analysis import paths\nfrom ebpm_analysis.io.common import write_tables\n"
        "written = write_tables({'rows.csv': pd.DataFrame({'i': range(n)})}, output_dir)\n"
        "print('WROTE', paths.relative(written[0]), 'STAGED' if written[0].parent != __import__('pathlib').Path("
        "output_dir) else 'DIRECT')"))
    path = folder / "fixture_exports.ipynb"
    nbformat.write(nb, path)
    return path


def test_exports_replace_the_previous_ones_only_when_the_run_succeeds(tmp_path):
    """data/processed is written to a staging folder beside it and moved into place after the report: a failed run
    leaves the previous exports as they were and no staging folder; the report names the final folder."""
    nb = _fixture_with_exports(tmp_path)
    out = tmp_path / "processed" / "fixture"
    layout = Layout(reports_dir=tmp_path / "reports", build_dir=tmp_path / "build")
    run = lambda **o: run_notebook(str(nb), overrides={"output_dir": str(out)} | o, layout=layout,  # noqa: E731
                                   log=lambda *a: None)
    r = run(n=3)
    assert r.status == "ok"
    assert (out / "rows.csv").read_text(encoding="utf-8-sig").split() == ["i", "0", "1", "2"]
    executed = r.executed.read_text(encoding="utf-8")
    assert "STAGED" in executed and "staging" not in executed   # written to the staging folder, named as the final
    with pytest.raises(RunFailed):
        run(n=5, fail=True)   # writes 5 rows, then fails
    assert (out / "rows.csv").read_text(encoding="utf-8-sig").split() == ["i", "0", "1", "2"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["fixture"], "a staging folder was left behind"
    assert run(n=2).status == "ok"
    assert (out / "rows.csv").read_text(encoding="utf-8-sig").split() == ["i", "0", "1"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["fixture"]


def test_a_run_removes_staging_folders_of_killed_runs_but_not_of_running_ones(tmp_path):
    """SIGKILL leaves a run no chance to clean up: the next run of the same output folder removes the staging
    and replaced folders of processes that no longer exist, and leaves those of a run still going."""
    import subprocess
    import sys

    from ebpm_analysis.pipeline import execute
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    final = tmp_path / "processed" / "02_dental_checkups"
    final.mkdir(parents=True)
    (final / "keep.csv").write_text("a\n1\n", encoding="utf-8")
    orphans = [tmp_path / "processed" / f".02_dental_checkups.staging-{dead.pid}-abc",
               tmp_path / "processed" / f".02_dental_checkups.old-{dead.pid}-123"]
    live = tmp_path / "processed" / f".02_dental_checkups.staging-{os.getppid()}-xyz"   # a running process
    other = tmp_path / "processed" / f".02_dental_checkups_x.staging-{dead.pid}-abc"   # another notebook's
    for f in (*orphans, live, other):
        f.mkdir()
        (f / "part.csv").write_text("x", encoding="utf-8")
    with execute._staged_output(final) as stage:
        assert stage.folder.name.startswith(f".02_dental_checkups.staging-{os.getpid()}-")
    assert not any(f.exists() for f in orphans)
    assert live.exists() and other.exists() and (final / "keep.csv").exists()


def test_a_finished_run_stops_its_kernel_without_sigint(monkeypatch, capfd, tmp_path):
    """jupyter_client interrupts a kernel before shutting it down; a SIGINT landing inside one of ipykernel's
    message handlers printed "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel." for runs that went
    well (6-8 lines a build). The run's kernel gets no SIGINT when it is shut down; an interrupt outside a
    shutdown (nbclient's cell timeout) still sends one."""
    import signal

    from ebpm_analysis.pipeline import execute
    sent = []
    real = execute._TrackedKernelManager._async_signal_kernel

    async def record(self, signum):
        sent.append((self.shutting_down, signum))
        await real(self, signum)

    monkeypatch.setattr(execute._TrackedKernelManager, "_async_signal_kernel", record)
    layout = Layout(reports_dir=tmp_path / "reports", build_dir=tmp_path / "build")
    assert run_notebook(FIX, layout=layout, log=lambda *a: None).status == "ok"
    assert sent == [], sent   # no signal at all: the kernel left on its shutdown request
    assert "KeyboardInterrupt" not in capfd.readouterr().err

    km = execute._TrackedKernelManager(kernel_name=execute.KERNEL_NAME)
    import asyncio

    async def interrupt_then_stop():
        await km.start_kernel(extra_arguments=["--IPKernelApp.log_level=ERROR"])
        await km.interrupt_kernel()
        await km.shutdown_kernel()

    asyncio.run(interrupt_then_stop())
    assert sent == [(False, signal.SIGINT)], sent
