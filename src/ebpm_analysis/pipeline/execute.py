"""Execute a notebook with papermill (project kernel), record provenance, render the report.

A run never overwrites a good report with a failed one: the executed notebook and HTML are
written to temporary files and moved into place only after both succeed. A failed run's
partial notebook goes to ``build/failed/`` for debugging.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import html
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import time
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import nbformat

from .. import audience as A
from .. import paths
from ..errors import EbpmError, ParameterError
from ..io.common import atomic_path
from ..provenance import data_nature, git_state, package_versions, sha256_file
from . import downloads, glossary, wording
from . import params as P
from .render import parse_front_matter, render

KERNEL_NAME = "ebpm"


class RunFailed(EbpmError):
    """A notebook raised an error while executing."""


@dataclass
class Layout:
    """Where outputs go (tests point this at a temporary directory)."""
    reports_dir: Path = field(default_factory=lambda: paths.REPORTS_DIR)
    build_dir: Path = field(default_factory=lambda: paths.BUILD_DIR)

    @property
    def executed_dir(self) -> Path:
        return self.build_dir / "executed"

    @property
    def failed_dir(self) -> Path:
        return self.build_dir / "failed"

    register: Path | None = None   # the KPI register (None: see :attr:`register_path`)

    @property
    def status_dir(self) -> Path:
        return self.build_dir / "status"

    @property
    def register_path(self) -> Path:
        """The KPI register this layout's runs append to: ``data/processed/kpi_register.sqlite`` for the project's
        own build folder, else one inside the build folder (``--out-dir`` runs and tests keep their own)."""
        from .kpi import REGISTER_NAME, register_path
        if self.register is not None:
            return self.register
        return register_path() if self.build_dir == paths.BUILD_DIR else self.build_dir / REGISTER_NAME


def output_stem(name: str, variant: str, city: str | None = None, overrides: dict | None = None,
                audience: str = "public") -> str:
    """Report name: ``<nb>[--<city code>][--<variant>][--custom-<hash of overrides>][--庁内限り]``.

    ``city`` is given only when it differs from the notebook's default city; a run with ``-p`` overrides
    never takes the name of a configured report. An internal run (``audience: internal``) ends in
    ``--庁内限り`` (:data:`ebpm_analysis.audience.STEM_SUFFIX`); its parameter set ``internal`` is not
    named twice (``02_dental_checkups--庁内限り``).
    """
    internal = A.is_internal(audience)
    shown = variant != "default" and not (internal and variant == "internal")
    parts = [name] + ([city] if city else []) + ([variant] if shown else [])
    if overrides:
        parts.append(f"custom-{overrides_hash(overrides)}")
    if internal:
        parts.append(A.STEM_SUFFIX)
    return "--".join(parts)


def overrides_hash(overrides: dict) -> str:
    return hashlib.sha256(json.dumps(overrides, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:8]


def _cli_value(value) -> str:
    """A value as ``-p`` takes it: strings as they are, others as YAML/JSON (``[2019, 2020]``, ``true``)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def reproduce_command(name: str, variant: str, params_path: Path | None, city: str | None,
                      overrides: dict | None) -> str:
    """The ``ebpm run`` command that reproduces a run (city, parameter set and overrides included)."""
    import shlex
    cmd = ["ebpm", "run", name]
    if city:
        cmd += ["--city", city]
    if variant != "default" or (params_path and params_path.parent.name != name):
        cmd += ["--params", paths.relative(params_path) if params_path and params_path.parent.name != name
                else variant]
    for k, v in (overrides or {}).items():
        cmd += ["-p", f"{k}={_cli_value(v)}"]
    return " ".join(shlex.quote(c) for c in cmd)


def ensure_kernel(name: str = KERNEL_NAME) -> None:
    """Register the project kernel in this environment if it is missing."""
    from jupyter_client.kernelspec import KernelSpecManager
    if name in KernelSpecManager().find_kernel_specs():
        return
    from ipykernel.kernelspec import install
    install(kernel_name=name, display_name=f"Python ({name})", prefix=sys.prefix)


def source_fingerprint(nb_path: Path, params_path: Path | None, overrides: dict) -> str:
    """Hash of everything a report depends on: notebook, params, package sources, data."""
    h = hashlib.sha256()
    files = [nb_path] + ([params_path] if params_path else [])
    defs = nb_path.parent / "kpis" / f"{nb_path.stem}.yml"   # its KPI definitions: what the register records
    files += [defs] if defs.is_file() else []
    pkg = Path(__file__).resolve().parents[1]
    files += sorted(p for p in pkg.rglob("*") if p.is_file() and p.suffix in (".py", ".css", ".html", ".js", ".yml"))
    for d in (paths.RAW_DIR, paths.DATA_DIR / "catalog"):
        if d.exists():
            files += sorted(p for p in d.rglob("*") if p.is_file())
    for f in files:
        h.update(str(f.relative_to(paths.PROJECT_ROOT) if f.is_relative_to(paths.PROJECT_ROOT) else f).encode())
        h.update(f.read_bytes())
    h.update(json.dumps(overrides, sort_keys=True, ensure_ascii=False).encode())
    return h.hexdigest()


def _provenance_markdown(prov: dict) -> str:
    rows_p = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(json.dumps(v, ensure_ascii=False))}</td></tr>"
                     for k, v in prov["parameters"].items())
    rows_i = "".join(
        f"<tr><td>{html.escape(e['path'])}</td><td>{'合成' if e['nature'] == 'synthetic' else '実データ'}</td>"
        f"<td>{e['bytes']:,}</td><td><code>{e['sha256'][:16]}…</code></td></tr>" for e in prov["inputs"])
    versions = ", ".join(f"{k} {v}" for k, v in prov["versions"].items())
    git = prov["git"]
    commit = (git.get("commit") or "不明")[:12] + (" (未コミットの変更あり)" if git.get("dirty") else "")
    nature = {"real": "実データ", "synthetic": "合成データ", "mixed": "実データ＋合成データ",
              "none": "入力記録なし"}[prov["data_nature"]]
    return f"""<section class="ebpm-provenance">

## 来歴（Provenance）

<p><strong>データの種別：{nature}</strong>。この報告書は
<code>{html.escape(prov['command'])}</code>
で再現できます（同じ入力・パラメータなら同じ数値になります）。</p>

<details class="ebpm-provenance-details">
<summary>実行環境・パラメータ・入力ファイルの一覧（分析担当者向け）</summary>

<table>
<tr><th>項目</th><th>値</th></tr>
<tr><td>ノートブック</td>
<td>{html.escape(prov['notebook'])}.ipynb（パラメータセット: {html.escape(prov['variant'])}）</td></tr>
<tr><td>市区町村</td><td>{html.escape(prov.get('city_name') or '')}（{html.escape(prov.get('city') or '')}）
{html.escape(prov.get('city_profile') or '')}</td></tr>
<tr><td>コミット</td><td><code>{html.escape(commit)}</code></td></tr>
<tr><td>実行</td>
<td>{html.escape(prov['started'])} 〜 {html.escape(prov['finished'])}（{prov['seconds']:.1f} 秒）</td></tr>
<tr><td>環境</td>
<td>Python {html.escape(prov['python'])}, {html.escape(prov['platform'])}, kernel {KERNEL_NAME}</td></tr>
<tr><td>パッケージ</td><td>{html.escape(versions)}</td></tr>
</table>

<table><tr><th>パラメータ</th><th>値</th></tr>{rows_p}</table>

<table><tr><th>入力ファイル</th><th>種別</th><th>バイト</th><th>SHA-256</th></tr>{rows_i}</table>
</details>
</section>"""


DATA_LABELS = {"real": "実データ", "synthetic": "合成データ", "mixed": "実データ＋合成データ"}


def template_values(values: dict, data_nature: str | None = None) -> dict[str, str]:
    """Values for ``{{name}}`` placeholders in the front matter: every parameter, ``city_name`` derived from
    ``city_code`` (熊本市 for "43100"), and ``data_label`` from the inputs the run actually read (empty before
    the run)."""
    out = {k: str(v) for k, v in values.items() if isinstance(v, (str, int, float))}
    out["data_label"] = DATA_LABELS.get(data_nature or "", "")
    code = values.get("city_code")
    if isinstance(code, str):
        try:
            from ..geo import city_name
            from ..provenance import suspended
            with suspended():
                out["city_name"] = city_name(code)
        except EbpmError:
            out["city_name"] = code
    return out


def fill_front_matter(nb, values: dict, data_nature: str | None = None) -> dict | None:
    """Replace ``{{name}}`` placeholders in the executed notebook's front matter (title, subtitle)
    so that one notebook titles each city's report correctly, for Quarto and nbconvert alike."""
    import re
    if not nb.cells or nb.cells[0].cell_type != "raw" or "{{" not in nb.cells[0].source:
        return None
    vals = template_values(values, data_nature)
    nb.cells[0].source = re.sub(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}",
                                lambda m: vals.get(m.group(1), m.group(0)), nb.cells[0].source)
    return parse_front_matter(nb)


def _noted(title: str, note: str | None) -> str:
    return f"{title}（{note.strip()}）" if note else title


def mark_title_note(nb, note: str | None) -> dict | None:
    """The executed notebook's title gains the parameter set's title note (:data:`.params.TITLE_NOTE`); returns
    the new front matter (None when the set has no note)."""
    if not note:
        return None
    import yaml
    fm = parse_front_matter(nb)
    if not fm:
        return None
    fm["title"] = _noted(fm.get("title", ""), note)
    nb.cells[0].source = "---\n" + yaml.safe_dump(fm, allow_unicode=True, sort_keys=False) + "---"
    return fm


def mark_audience(nb, audience: str) -> dict | None:
    """An internal run's executed notebook says 庁内限り in its title (front matter, for Quarto and nbconvert)
    and in a banner cell at the top; returns the new front matter (None for a public run: nothing changes)."""
    if not A.is_internal(audience):
        return None
    import yaml
    fm = parse_front_matter(nb)
    if fm:
        fm["title"] = A.mark_title(fm.get("title", ""), audience)
        nb.cells[0].source = "---\n" + yaml.safe_dump(fm, allow_unicode=True, sort_keys=False) + "---"
    else:
        fm = {"title": A.mark_title("", audience)}
        nb.cells.insert(0, nbformat.v4.new_raw_cell("---\n" + yaml.safe_dump(fm, allow_unicode=True) + "---"))
    cell = nbformat.v4.new_markdown_cell(A.banner_html(audience))
    cell.metadata["tags"] = ["ebpm-audience"]
    nb.cells.insert(1, cell)
    return fm


@dataclass
class RunResult:
    name: str
    variant: str
    status: str  # ok | failed | skipped
    report: Path | None = None
    executed: Path | None = None
    seconds: float = 0.0
    error: str = ""
    engine: str = ""


def resolve_run(name: str, variant: str = "default", overrides: list[str] | dict | None = None, *,
                city: str | None = None) -> dict:
    """Parameters of a run and what names it: notebook defaults < city profile < parameter set < overrides.

    Returns ``nb_path``, ``params_path``, ``variant``, ``values`` (everything not a default),
    ``overrides`` (typed), ``city`` (code when given and not the notebook's default city),
    ``profile`` (:class:`~.cities.CityProfile` or None), ``stem`` and ``command``.
    """
    from . import cities
    nb_path = P.notebook_path(name)
    name = nb_path.stem
    spec = P.inspect_parameters(nb_path)
    params_path = P.params_file(name, variant) if variant else None
    variant_name = params_path.stem if params_path else (variant or "default")
    profile = cities.profile(city) if city else None
    values = profile.values_for(nb_path) if profile else {}
    values |= P.load_params_file(params_path) if params_path else {}
    title_note = P.title_note(params_path)   # not a parameter: words the report's title gains
    if isinstance(overrides, dict):
        typed = dict(overrides)
    else:
        typed = P.parse_overrides(overrides or [], nb_path)
    values |= typed
    default_city = spec["city_code"].default if "city_code" in spec else None
    city_part = profile.code if profile and profile.code != default_city else None
    audience = A.check(values.get("audience", spec["audience"].default if "audience" in spec else "public"))
    stem = output_stem(name, variant_name, city_part, typed, audience=audience)
    if "output_dir" in spec and "output_dir" not in values and stem != name:
        values["output_dir"] = f"data/processed/{stem}"  # each report's exports beside its own name
    try:
        values = P.validate(nb_path, values)
    except ParameterError as e:
        e.stem, e.notebook, e.variant = stem, name, variant_name   # run_notebook marks this report failed
        e.command = reproduce_command(name, variant_name, params_path, profile.code if profile else None, typed)
        raise
    return {"nb_path": nb_path, "name": name, "params_path": params_path, "variant": variant_name,
            "values": values, "overrides": typed, "city": profile.code if profile else None, "profile": profile,
            "audience": audience, "title_note": title_note,
            "stem": stem, "command": reproduce_command(name, variant_name, params_path,
                                                        profile.code if profile else None, typed)}


def run_notebook(name: str, variant: str = "default", overrides: list[str] | dict | None = None, *,
                 city: str | None = None, layout: Layout | None = None, show_code: bool = False,
                 force: bool = True, engine: str = "auto", log=print) -> RunResult:
    """Execute ``name`` for ``city`` (code or name; default: the notebook's own) with a parameter set and
    overrides, and render ``reports/<stem>.html`` (see :func:`output_stem`)."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    layout = layout or Layout()
    try:
        run = resolve_run(name, variant, overrides, city=city)
    except ParameterError as e:
        if getattr(e, "stem", None):   # a value of a known parameter is wrong (e.g. a missing input file)
            nb_path = P.notebook_path(name)
            _write_status(layout.status_dir / f"{e.stem}.json", e.stem, e.notebook, e.variant,
                          parse_front_matter(nbformat.read(nb_path, as_version=4)), "failed", str(e), None, None,
                          summary=f"パラメータ {e.name} の誤り（ParameterError）。レポートは前回のまま",
                          command=getattr(e, "command", ""))
        raise
    nb_path, name, params_path, variant_name = run["nb_path"], run["name"], run["params_path"], run["variant"]
    values, stem = run["values"], run["stem"]
    report = layout.reports_dir / f"{stem}.html"
    executed = layout.executed_dir / f"{stem}.ipynb"
    status_file = layout.status_dir / f"{stem}.json"
    fingerprint = source_fingerprint(nb_path, params_path, values)
    if not force and report.exists() and status_file.exists():
        old = json.loads(status_file.read_text(encoding="utf-8"))
        if old.get("fingerprint") == fingerprint and old.get("status") == "ok" \
                and not changed_inputs(old.get("inputs")):
            return RunResult(name, variant_name, "skipped", report, executed)

    ensure_kernel()
    spec = P.inspect_parameters(nb_path)
    all_params = {k: p.default for k, p in spec.items()} | values
    src_nb = nbformat.read(nb_path, as_version=4)
    fm = fill_front_matter(src_nb, all_params) or parse_front_matter(src_nb)
    fm = fm | {"title": A.mark_title(_noted(fm.get("title", name), run["title_note"]), run["audience"])}
    layout.executed_dir.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.timezone.utc).astimezone()
    t0 = time.perf_counter()
    tmp_nb = Path(tempfile.mkstemp(prefix=f"{stem}-", suffix=".ipynb", dir=layout.executed_dir)[1])
    log(f"[ebpm] running {stem} …")
    output_dir = str(all_params.get("output_dir") or "").strip()
    # the run's exports go to a staging folder, moved into place only when the report is (paths.STAGE_ENV)
    with _staged_output(paths.resolve(output_dir) if output_dir else None) as stage:
        with _run_environment(stem, stage) as runlog:
            try:
                pm.execute_notebook(str(nb_path), str(tmp_nb), parameters=values, kernel_name=KERNEL_NAME,
                                    cwd=str(paths.PROJECT_ROOT), progress_bar=False, log_output=False,
                                    # papermill rewrites the whole notebook (figures too) after each cell by
                                    # default: ~4 CPU-s a run for a progress file nobody reads; it still
                                    # writes it at the end, failed or not (and every 30 s in a long cell)
                                    request_save_on_cell_execute=False,
                                    extra_arguments=["--IPKernelApp.log_level=ERROR"],
                                    kernel_manager_class=_TrackedKernelManager)
            except PapermillExecutionError as e:
                layout.failed_dir.mkdir(parents=True, exist_ok=True)
                failed = layout.failed_dir / f"{stem}.ipynb"
                os.replace(tmp_nb, failed)
                msg = (f"{stem}: cell {e.exec_count} raised {e.ename}: {e.evalue}. The previous report (if any) was "
                       f"kept; the partial notebook is {paths.relative(failed)}.")
                _write_status(status_file, stem, name, variant_name, fm, "failed", msg, fingerprint, None,
                              city=values.get("city_code"), audience=run["audience"],
                              summary=f"セル {e.exec_count} で {e.ename}（詳細: {paths.relative(failed)}）",
                              command=run["command"], log=paths.relative(failed),
                              error_line=f"セル {e.exec_count} で {e.ename}（メッセージは記録を参照）")
                raise RunFailed(msg) from None
            except BaseException:   # interrupted (SIGINT/SIGTERM) or papermill itself failed
                tmp_nb.unlink(missing_ok=True)
                _TrackedKernelManager.kill_all()
                # nbclient's kernel-alive poll is left pending in its event loop; when it is garbage-collected
                # (often at interpreter exit, after the CLI's one-line message) asyncio logs "Task exception was
                # never retrieved … DeadKernelError: Kernel died". The kernel was killed on purpose just above.
                logging.getLogger("asyncio").setLevel(logging.CRITICAL)
                raise
            seconds = time.perf_counter() - t0
            finished = dt.datetime.now(dt.timezone.utc).astimezone()
            inputs, read = {}, {}
            for line in (runlog.read_text(encoding="utf-8").splitlines() if runlog.exists() else []):
                e = json.loads(line)
                read[e["resolved"]] = e["sha256"]
                inputs[e["path"]] = {k: v for k, v in e.items() if k != "resolved"}
        city_code = all_params.get("city_code")
        prov = {
            "notebook": name, "variant": variant_name, "parameters": all_params, "command": run["command"],
            "city": city_code, "city_name": template_values(all_params).get("city_name", city_code),
            "city_profile": paths.relative(run["profile"].path) if run["profile"] and run["profile"].path else None,
            "overrides": run["overrides"],
            "params_file": paths.relative(params_path) if params_path else None,
            "git": git_state(), "inputs": sorted(inputs.values(), key=lambda e: e["path"]),
            "data_nature": data_nature(list(inputs.values())),
            "versions": package_versions(), "python": platform.python_version(),
            "platform": f"{platform.system()} {platform.machine()}",
            "started": started.isoformat(timespec="seconds"), "finished": finished.isoformat(timespec="seconds"),
            "seconds": round(seconds, 2), "fingerprint": fingerprint, "audience": run["audience"],
        }
        files_read = sorted(read.items())
        nb = nbformat.read(tmp_nb, as_version=4)
        fm = fill_front_matter(nb, all_params, prov["data_nature"]) or fm   # the subtitle says real or synthetic
        fm = mark_title_note(nb, run["title_note"]) or fm
        fm = mark_audience(nb, run["audience"]) or fm
        refs = wording.internal_references(nb, spec)
        if refs:   # a build check (issue 14): the reader cannot open repository files or know parameter names
            layout.failed_dir.mkdir(parents=True, exist_ok=True)
            failed = layout.failed_dir / f"{stem}.ipynb"
            os.replace(tmp_nb, failed)
            more = f"; and {len(refs) - 5} more" if len(refs) > 5 else ""
            msg = (f"{stem}: the report text refers to what its readers cannot open or do not know: "
                   f"{'; '.join(refs[:5])}{more}. Write the source or the setting out in words (parameters are "
                   f"listed in the provenance section). The previous report was kept; the notebook is "
                   f"{paths.relative(failed)}.")
            _write_status(status_file, stem, name, variant_name, fm, "failed", msg, fingerprint, prov,
                          summary=f"本文に内部参照 {len(refs)}件（詳細: {paths.relative(failed)}）",
                          log=paths.relative(failed), error_line=f"internal references: {'; '.join(refs[:2])}")
            raise RunFailed(msg)
        for cell in nb.cells:
            tags = cell.metadata.get("tags", [])
            if "injected-parameters" in tags and "remove-cell" not in tags:
                cell.metadata["tags"] = tags + ["remove-cell"]
        nb.metadata["ebpm"] = prov
        terms = glossary.terms_used(nb)
        if terms:   # 用語: the statistical terms this report uses, explained (issue 14)
            cell = nbformat.v4.new_markdown_cell(glossary.glossary_markdown(terms))
            cell.metadata["tags"] = ["ebpm-glossary"]
            nb.cells.append(cell)
        cell = nbformat.v4.new_markdown_cell(_provenance_markdown(prov))
        cell.metadata["tags"] = ["ebpm-provenance"]
        nb.cells.append(cell)
        nbformat.write(nb, tmp_nb)
        # the report's downloads (issue 14) are staged like the exports: reports/<stem>_files/ is replaced only
        # once the new report is in place
        files = _Stage(layout.reports_dir / downloads.folder_name(stem))
        try:
            layout.reports_dir.mkdir(parents=True, exist_ok=True)
            manifest = downloads.write(nb, stem, files.folder)
            tmp_html = layout.build_dir / "render" / f"{stem}.html"
            _, used = render(tmp_nb, tmp_html, show_code=show_code, engine=engine, downloads=manifest,
                             require_alt=True)   # a figure without alt text fails the run (issue 14)
            os.replace(tmp_nb, executed)
            os.replace(tmp_html, report)
        except BaseException as e:
            stage.discard()
            files.discard()
            where, kept = "", ""
            if tmp_nb.exists() and isinstance(e, Exception):   # kept for the author, as a failed cell's notebook
                layout.failed_dir.mkdir(parents=True, exist_ok=True)
                failed = layout.failed_dir / f"{stem}.ipynb"
                os.replace(tmp_nb, failed)
                kept = paths.relative(failed)
                where = f"; the executed notebook is {kept}"
            tmp_nb.unlink(missing_ok=True)
            msg = f"{stem}: rendering failed ({type(e).__name__}: {e}); the previous report was kept{where}."
            # the build checks' own messages quote only the report's text; any other error may quote an input
            own = type(e).__name__ in ("MissingAltText", "SmallFigureText")
            _write_status(status_file, stem, name, variant_name, fm, "failed", msg, fingerprint, prov,
                          summary=f"レポートの作成で {type(e).__name__}", log=kept,
                          error_line=f"{type(e).__name__}: {e}" if own else
                          f"レポートの作成で {type(e).__name__}（メッセージは記録を参照）")
            raise RunFailed(msg) from e
        stage.commit()   # the run's exports replace the previous ones only now that the report is in place
        if manifest.items:
            files.commit()
        else:   # a report without tables has no downloads: none of an earlier run's may stay beside it
            files.discard()
            shutil.rmtree(files.final, ignore_errors=True)
        kpis = _record_kpis(layout, nb, prov, stem, nb_path.parent / "kpis", log)
        kpis |= _card_facts(layout, nb, prov, stem, nb_path.parent / "kpis", run["profile"])
        _write_status(status_file, stem, name, variant_name, fm, "ok", "", fingerprint, prov, files_read=files_read,
                      extra=kpis)
        log(f"[ebpm] {stem}: ok in {seconds:.1f} s → {paths.relative(report)} ({used})")
        return RunResult(name, variant_name, "ok", report, executed, seconds, engine=used)


def _kernel_manager_base():
    from jupyter_client import AsyncKernelManager
    return AsyncKernelManager


class _TrackedKernelManager(_kernel_manager_base()):
    """nbclient's kernel manager, remembered so that an interrupted run can stop its kernel at once.

    A SIGTERM or SIGINT raised inside nbclient's event loop leaves its own clean-up coroutine unrun: the kernel
    would outlive the run for a while and its connection file would stay behind.
    """
    live: ClassVar[weakref.WeakSet] = weakref.WeakSet()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _TrackedKernelManager.live.add(self)

    async def _async_interrupt_kernel(self) -> None:
        """No SIGINT on the way out. jupyter_client's ``shutdown_kernel`` interrupts the kernel before it asks it
        to shut down; when the signal lands while ipykernel is still inside a message handler, the kernel logs
        "[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel." to the build's terminal (a few lines a build,
        for a run that went well). Every cell has finished when nbclient shuts the kernel down, the shutdown
        request goes over the control channel (answered while the shell is busy), and ``finish_shutdown`` still
        escalates to SIGTERM and SIGKILL; an interrupted run is stopped by :meth:`kill_all`. Interrupts outside
        a shutdown (nbclient's cell timeout) are sent as before."""
        if self.shutting_down:
            return
        await super()._async_interrupt_kernel()

    @classmethod
    def kill_all(cls) -> None:
        for km in list(cls.live):
            proc = getattr(km.provisioner, "process", None) if km.provisioner else None
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
            km.cleanup_connection_file()
            km.cleanup_ipc_files()
            cls.live.discard(km)


class _Stage:
    """The staging folder of a run's ``output_dir`` (see :data:`ebpm_analysis.paths.STAGE_ENV`)."""

    def __init__(self, final: Path | None):
        self.final = final
        self.folder = None
        if final is not None:
            final.parent.mkdir(parents=True, exist_ok=True)
            _sweep_orphans(final)
            self.folder = Path(tempfile.mkdtemp(prefix=f".{final.name}.staging-{os.getpid()}-", dir=final.parent))

    @property
    def env(self) -> dict[str, str]:
        return {str(self.final): str(self.folder)} if self.folder else {}

    def commit(self) -> None:
        """Replace the final folder by the staging one (two renames; a concurrent run of the same notebook
        may commit in between: the last to commit wins, and both wrote the same files)."""
        if self.folder is None or not self.folder.exists():
            return
        if not any(self.folder.iterdir()):   # the run wrote nothing there: keep what is in place
            self.discard()
            return
        os.chmod(self.folder, 0o777 & ~_umask())   # mkdtemp makes 0700
        for _ in range(5):
            old = self.final.parent / f".{self.final.name}.old-{os.getpid()}-{time.monotonic_ns()}"
            try:
                os.replace(self.final, old)
            except FileNotFoundError:
                old = None
            try:
                os.replace(self.folder, self.final)
            except OSError:   # another run committed between our two renames: try again
                continue
            finally:
                if old is not None and old.exists():
                    shutil.rmtree(old, ignore_errors=True)
            self.folder = None
            return
        raise OSError(f"could not move the outputs of this run into {self.final}")

    def discard(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def _sweep_orphans(final: Path) -> list[Path]:
    """Remove the staging and replaced folders beside ``final`` left by runs that were killed outright (SIGKILL,
    power loss: no clean-up ran). Their names carry the process id; a folder whose process still runs belongs to
    a concurrent run and stays. Returns the folders removed."""
    import re
    gone = []
    for f in final.parent.glob(f".{final.name}.*"):
        m = re.fullmatch(rf"\.{re.escape(final.name)}\.(?:staging|old)-(\d+)-.*", f.name)
        if not m or not f.is_dir() or _alive(int(m.group(1))):
            continue
        shutil.rmtree(f, ignore_errors=True)
        gone.append(f)
    return gone


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:   # another user's process
        return True
    return True


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


@contextlib.contextmanager
def _staged_output(final: Path | None):
    """A run's ``output_dir`` staging folder (:class:`_Stage`), removed on any exit unless committed."""
    stage = _Stage(final)
    try:
        yield stage
    finally:
        stage.discard()


#: matplotlib's backend of the notebook kernels (figures are displayed as images in the cell's output)
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


@contextlib.contextmanager
def _run_environment(stem: str, stage: _Stage | None = None):
    """A temporary folder of this run's own, removed on any exit (a failure, SIGINT, SIGTERM): the input log
    (``EBPM_RUN_LOG``), and ``TMPDIR`` of the run and its kernel, so the kernel's connection file and every
    temporary file of the notebook go there and two runs never share a temporary name. Yields the log's path.

    The kernel draws with matplotlib's inline backend whatever the caller's ``MPLBACKEND`` says: with ``Agg``
    (a headless server's setting, and the test suite's) the kernel displays no figure, and the report came out
    without figures, their alt text and their data, and without an error."""
    folder = Path(tempfile.mkdtemp(prefix=f"ebpm-{stem}-"))
    saved = {k: os.environ.get(k) for k in ("EBPM_RUN_LOG", "TMPDIR", "MPLBACKEND", paths.STAGE_ENV)}
    saved_tempdir = tempfile.tempdir
    os.environ["EBPM_RUN_LOG"] = str(folder / "inputs.jsonl")
    os.environ["TMPDIR"] = tempfile.tempdir = str(folder)
    os.environ["MPLBACKEND"] = INLINE_BACKEND
    if stage is not None and stage.env:
        os.environ[paths.STAGE_ENV] = json.dumps(stage.env)
    try:
        yield folder / "inputs.jsonl"
    finally:
        tempfile.tempdir = saved_tempdir
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(folder, ignore_errors=True)


def _record_kpis(layout: Layout, nb, prov: dict, stem: str, directory: Path, log) -> dict:
    """A successful run's KPIs, captured from its executed notebook and appended to the KPI register
    (:mod:`.kpi`); returned for the status record. The report is already in place: a register that cannot be
    written (locked longer than the timeout, disk full) or a bad definitions file is said on the terminal and in
    the status, and the run stays good (the register never holds half a run)."""
    import sqlite3

    from . import kpi
    try:
        got = kpi.record_run(layout.register_path, nb, prov, stem, directory)
    except (sqlite3.Error, OSError, EbpmError) as e:   # a bad definitions file names itself in the message
        log(f"[ebpm] {stem}: KPIs not added to the register {paths.relative(layout.register_path)} "
            f"({type(e).__name__}: {e})")
        got = {"kpis": [], "undefined": [], "run_id": None, "register_error": f"{type(e).__name__}: {e}"}
    if got["undefined"]:
        log(f"[ebpm] {stem}: KPIs without a definition in {paths.relative(directory)}/{prov['notebook']}.yml "
            f"(not registered): {', '.join(got['undefined'])}")
    return {"kpis": got["kpis"], "kpi_undefined": got["undefined"], "kpi_run_id": got["run_id"],
            **({"kpi_register_error": got["register_error"]} if "register_error" in got else {})}


def _card_facts(layout: Layout, nb, prov: dict, stem: str, directory: Path, profile) -> dict:
    """The dashboard card's facts of a good run (:mod:`.index`): theme, 担当課 (a ``department`` parameter of the
    run, else the city profile's, else the notebook's default role, a generic role name marked （想定）), the data's
    as-of date and a small copy of the key figure (``build/thumbs``)."""
    from . import index, kpi
    try:
        theme = kpi.load_theme(prov["notebook"], directory)
    except EbpmError:   # said already by _record_kpis
        theme = None
    facts = kpi.dashboard_facts(theme, prov.get("parameters") or {}, prov["finished"])
    dept = str((prov.get("parameters") or {}).get("department") or "").strip()
    dept = dept or (profile.department_for(prov["notebook"]) if profile is not None else "")
    if dept:
        facts["department"] = dept
    thumb = index.write_thumbnail(nb, facts.get("key_figure", ""), layout.build_dir / "thumbs" / f"{stem}.png")
    facts["thumbnail"] = thumb.name if thumb else ""
    return facts


def _write_status(path: Path, stem, name, variant, fm, status, error, fingerprint, prov, city=None,
                  files_read=None, summary: str = "", audience: str | None = None, extra: dict | None = None,
                  command: str = "", log: str = "", error_line: str = "") -> None:
    """The run's status record. ``error`` is the full message (terminal, status file); ``summary`` (the error
    class and where to look), ``error_line`` (the error's first line where it cannot quote an input file: a build
    check's own message; else the class and the cell, as ``summary``) and ``log`` (the failed run's executed
    notebook, else this status file) are what the dashboard card of a failed build shows: never a message that
    may quote an input file."""
    prev = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    first = (error_line or summary).strip().splitlines()[0] if (error_line or summary).strip() else ""
    first = first[len(stem) + 2:] if first.startswith(f"{stem}: ") else first
    failure = {"error_line": first[:240] + ("…" if len(first) > 240 else ""),
               "log": log or paths.relative(path)} if status == "failed" else {}
    rec = {
        "stem": stem, "notebook": name, "variant": variant,
        "city": (prov or {}).get("city") or city or prev.get("city", ""),
        "city_name": (prov or {}).get("city_name") or prev.get("city_name", ""),
        "command": (prov or {}).get("command") or command or prev.get("command", ""),
        "title": str(fm.get("title", name)), "subtitle": str(fm.get("subtitle", "") or ""),
        "status": status, "error": error, "error_summary": summary,
        "fingerprint": fingerprint if status == "ok" else prev.get("fingerprint"),
        "run_at": (prov or {}).get("finished") or dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "data_nature": (prov or {}).get("data_nature", prev.get("data_nature", "")),
        "audience": (prov or {}).get("audience") or audience or prev.get("audience", "public"),
        "seconds": (prov or {}).get("seconds"),
        "last_ok": (prov or {}).get("finished") if status == "ok" else prev.get("last_ok"),
        # every file the run read, wherever it lives: a changed input file makes the report out of date
        "inputs": [list(x) for x in files_read or []] if status == "ok" else prev.get("inputs", []),
        # the KPIs of the last good run (a failed run keeps them: the index shows the failure beside them)
        **{k: prev[k] for k in ("kpis", "kpi_run_id", "thumbnail", "as_of", "theme", "department", "key_figure")
           if k in prev and status != "ok"},
        **failure,
        **(extra or {}),
    }
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(rec, ensure_ascii=False, indent=1), encoding="utf-8")


def changed_inputs(inputs: list | None) -> list[str]:
    """The input files the last good run read (``[full path, sha256]`` pairs) that changed or disappeared."""
    return [p for p, digest in inputs or [] if not Path(p).is_file() or sha256_file(p) != digest]


def build_plan(only: list[str] | None = None) -> list[tuple[str, str, str | None]]:
    """(notebook, variant, city) of every configured report: each parameter set (default included) and
    each city profile that lists the notebook; a profile of the notebook's default city builds the
    default report."""
    from . import cities
    profiles = cities.list_profiles()
    plan, seen = [], set()
    for name in P.list_notebooks():
        if only and name not in only:
            continue
        runs = [(name, v, None) for v in (P.list_variants(name) or ["default"])]
        runs += [(name, "default", c.code) for c in profiles if c.applies_to(name)]
        for run in runs:
            stem = resolve_run(*run[:2], city=run[2])["stem"]
            if stem not in seen:
                seen.add(stem)
                plan.append(run)
    return plan


#: Thread pools of the numerical libraries the kernels load (OpenBLAS, OpenMP, MKL).
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _share_cores(jobs: int) -> None:
    """Give each of ``jobs`` parallel runs its share of the cores for the numerical libraries' thread pools
    (unless the user set them): every kernel would otherwise start one thread per core, and on a machine as busy
    as its core count those threads wait on each other (3 runs of 06 at once on 2 cores: 39 s each with the
    default pools, 32 s with one thread each). The kernels inherit the environment."""
    share = str(max(1, (os.cpu_count() or 1) // jobs))
    for var in THREAD_VARS:
        os.environ.setdefault(var, share)


def build_all(*, layout: Layout | None = None, force: bool = False, only: list[str] | None = None,
              jobs: int = 1, log=print) -> list[RunResult]:
    """Run every configured report (:func:`build_plan`); continue past failures; return all results in plan order.

    ``jobs`` > 1 runs different notebooks in parallel worker processes. The runs of one notebook (its parameter
    sets and cities) stay in one worker, one after another, because they share the notebook's folders in
    ``data/interim`` and ``data/processed``; different notebooks share only read-only inputs and caches written
    atomically. The longest notebooks (by their last recorded run time) start first.
    """
    from .index import write_index
    if jobs < 1:
        raise EbpmError(f"--jobs {jobs}: expected a whole number of at least 1")
    layout = layout or Layout()
    plan = build_plan(only)
    groups: dict[str, list[tuple[int, tuple]]] = {}
    for i, run in enumerate(plan):
        groups.setdefault(run[0], []).append((i, run))
    done: dict[int, RunResult] = {}
    if jobs == 1 or len(groups) == 1:
        for runs in groups.values():
            done.update(_run_group(runs, layout, force, log))
    else:
        import multiprocessing as mp
        _share_cores(min(jobs, len(groups)))
        order = sorted(groups, key=lambda n: -_last_seconds(layout, [r for _, r in groups[n]]))
        # fork (POSIX) keeps the parent's configuration (paths, test patches, the SIGTERM handler of the CLI);
        # elsewhere spawn. On an interruption the workers are terminated: each removes its partial files.
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        pool = ctx.Pool(processes=min(jobs, len(groups)), maxtasksperchild=1)
        try:
            for part in pool.imap_unordered(_run_group_task, [(groups[n], layout, force) for n in order]):
                done.update(part)
            pool.close()
        except BaseException:
            pool.terminate()
            raise
        finally:
            pool.join()
    if not only:
        prune_stale(layout, {resolve_run(*run[:2], city=run[2])["stem"] for run in plan}, log)
    write_index(layout)
    return [done[i] for i in range(len(plan))]


def prune_stale(layout: Layout, stems: set[str], log=print) -> list[str]:
    """Remove the reports (and their status and executed notebook) of configured runs that are no longer
    configured (a parameter set or city profile removed or renamed), so the index never lists them.
    Custom runs (``--custom-``) are the user's and stay."""
    removed = []
    for status in sorted(layout.status_dir.glob("*.json")) if layout.status_dir.exists() else []:
        stem = status.stem
        if stem in stems or "--custom-" in stem:
            continue
        for f in (layout.reports_dir / f"{stem}.html", layout.executed_dir / f"{stem}.ipynb", status):
            f.unlink(missing_ok=True)
        shutil.rmtree(layout.reports_dir / downloads.folder_name(stem), ignore_errors=True)
        log(f"[ebpm] removed {stem}: no longer configured")
        removed.append(stem)
    return removed


def _run_group_task(task: tuple) -> dict[int, RunResult]:
    runs, layout, force = task
    return _run_group(runs, layout, force, print)


def _run_group(runs: list[tuple[int, tuple]], layout: Layout, force: bool, log) -> dict[int, RunResult]:
    """The runs of one notebook, in order (a worker's task in :func:`build_all`)."""
    out = {}
    for i, (name, variant, city) in runs:
        label = f"{name} ({variant}{', ' + city if city else ''})"
        try:
            r = run_notebook(name, variant, city=city, layout=layout, force=force, log=log)
            if r.status == "skipped":
                log(f"[ebpm] {label}: up to date")
        except EbpmError as e:
            log(f"[ebpm] {label}: FAILED — {e}")
            r = RunResult(name, variant, "failed", error=str(e))
        out[i] = r
    return out


def _last_seconds(layout: Layout, runs: list[tuple]) -> float:
    """Seconds the runs took last time (from their status files; 0 when unknown)."""
    total = 0.0
    for name, variant, city in runs:
        f = layout.status_dir / f"{resolve_run(name, variant, city=city)['stem']}.json"
        if f.exists():
            total += json.loads(f.read_text(encoding="utf-8")).get("seconds") or 0.0
    return total
