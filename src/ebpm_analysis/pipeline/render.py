"""Render an executed notebook to one self-contained HTML file.

Two engines, same input (the notebook papermill executed; nothing is re-executed):

- **Quarto** when ``quarto`` is on PATH: ``quarto render nb.ipynb --to html`` (no ``--execute``)
  with ``embed-resources``.
- **nbconvert** otherwise (and in tests): a preprocessor honours Quarto's cell options
  (``#| echo/include/output/warning/label/fig-cap/tbl-cap``) and tags (``remove-cell``,
  ``remove-input``, ``remove-output``), the front matter gives title/subtitle/date, code is
  hidden by default (``show_code=True`` shows it), figures are numbered 図1, 図2 … with the
  caption under the figure and ``@fig-x`` references resolved. Images are embedded as data
  URIs and the page has no external scripts, fonts or styles (closed networks).

Both paths sanitise what the notebook produced (:mod:`.sanitise`, nh3) and only then add the
report's own furniture: the page template and CSS, the table of contents, the search-box script
and the (sandboxed) interactive maps.
"""

from __future__ import annotations

import copy
import datetime as dt
import html
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import nbformat
import yaml
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor

from ..io.common import atomic_path
from . import sanitise

TEMPLATE_DIR = Path(__file__).parent / "templates"
REMOVE_CELL_TAGS = {"remove-cell", "remove_cell"}
REMOVE_INPUT_TAGS = {"remove-input", "remove_input", "remove-code", "hide-input", "hide-code"}
REMOVE_OUTPUT_TAGS = {"remove-output", "remove_output", "hide-output"}
OPTION_RE = re.compile(r"^#\|\s?(.*)$")
IMAGE_MIMES = ("image/png", "image/jpeg", "image/svg+xml")


class MissingAltText(ValueError):
    """A figure would reach the page without alt text (nbconvert would write "No description has been provided
    for this image")."""


def figure_alt(number: str, opts: dict, out) -> str:
    """A figure's alt text: its number, the cell's ``fig-alt`` (else its ``fig-cap``) and the key numbers the
    figure carries (:func:`ebpm_analysis.viz.figure_payload`: what its plot function recorded, the titles that
    carry numbers)."""
    from ..mime import FIGURE_MIME
    text = str(opts.get("fig-alt") or opts.get("fig-cap") or "").strip()
    payload = out.get("data", {}).get(FIGURE_MIME) or {}
    if isinstance(payload, str):
        import json
        payload = json.loads(payload)
    keys = [str(k) for k in payload.get("keys", []) if str(k).strip() and str(k).strip() not in text]
    return f"{number}：{text}" + (f"{'' if text.endswith('。') else '。'}主な数値：{'／'.join(keys)}" if keys else "")


class SmallFigureText(ValueError):
    """A figure's text would be shown smaller than :data:`MIN_TEXT_PT` on the page (issue 14: labels ≥ 9 pt at
    the page's width)."""


#: the smallest text size (pt, as the reader sees it) a figure may show
MIN_TEXT_PT = 9.0
#: the window width the reports are checked at (a 1280-px screen, as the issue's screenshots)
WINDOW_PX = 1280
#: a classic vertical scroll bar takes this much of the window (Edge and Chrome on Windows: 17 px; Linux: 15)
SCROLLBAR_PX = 17


def _css_px(css: str, selector: str, prop: str) -> list[float]:
    """The pixel lengths of ``prop`` in the rule for ``selector`` of ``css`` (px or rem at 16 px)."""
    m = re.search(r"(?m)^" + re.escape(selector) + r"\s*\{([^}]*)\}", css)
    decl = re.search(r"(?:^|;)\s*" + re.escape(prop) + r"\s*:\s*([^;]+)", m.group(1)) if m else None
    if decl is None:
        raise ValueError(f"report.css has no {prop} in its {selector} rule: the figure check cannot find the "
                         "page's content width")
    return [float(v) * (16 if unit == "rem" else 1) for v, unit in re.findall(r"([0-9.]+)(px|rem)", decl.group(1))]


def content_width_px(window_px: int = WINDOW_PX) -> float:
    """Width (CSS px) of the report's main column in a window ``window_px`` wide with a vertical scroll bar, from
    report.css: the layout's max-width less its side padding, the table of contents and the gap, capped by the main
    column's max-width. A figure wider than this is scaled down to it (``img { max-width: 100% }``)."""
    css = (TEMPLATE_DIR / "report.css").read_text(encoding="utf-8")
    layout = min(window_px - SCROLLBAR_PX, _css_px(css, ".ebpm-layout", "max-width")[0])
    pad = _css_px(css, ".ebpm-layout", "padding")
    side = pad[1] if len(pad) > 1 else pad[0]
    toc = _css_px(css, ".ebpm-toc", "flex")[0]
    gap = _css_px(css, ".ebpm-layout", "gap")[0]
    return min(_css_px(css, ".ebpm-main", "max-width")[0], layout - 2 * side - toc - gap)


def _png_width(data: str) -> int | None:
    """Pixel width of a base64 PNG (its IHDR chunk)."""
    import base64
    head = base64.b64decode(str(data)[:44].replace("\n", "") + "==")[:24]
    return int.from_bytes(head[16:20], "big") if head[:8] == b"\x89PNG\r\n\x1a\n" else None


def shown_text_pt(size_pt: float, dpi: float, png_px: int, content_px: float) -> float:
    """The size (CSS pt) at which text of ``size_pt`` in a figure rendered at ``dpi`` into a PNG ``png_px`` wide
    appears in a column ``content_px`` wide: the image is shown at its own pixel size, scaled down to the column
    when wider (CSS: 96 px an inch)."""
    return size_pt * dpi / 96 * min(1.0, content_px / png_px)


def small_texts(nb, *, content_px: float | None = None, min_pt: float = MIN_TEXT_PT) -> list[str]:
    """The shown figures whose smallest text is under ``min_pt`` as the page shows it (one line a figure: cell,
    figure width, the text and its size in the figure and on the page)."""
    from ..mime import FIGURE_MIME
    content_px = content_width_px() if content_px is None else content_px
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = out.get("data", {})
            payload = data.get(FIGURE_MIME) or {}
            if isinstance(payload, str):
                import json
                payload = json.loads(payload)
            width = _png_width(data["image/png"]) if "image/png" in data else None
            if not width or not payload.get("text_sizes"):
                continue
            dpi = float(payload.get("dpi") or 100)
            small = [(float(size), text) for size, text in payload["text_sizes"]
                     if shown_text_pt(float(size), dpi, width, content_px) < min_pt - 1e-9]
            if small:
                first = (cell.source.strip().splitlines() or [""])[0][:60]
                texts = ", ".join(f"{text!r} at {size:g} pt → {shown_text_pt(size, dpi, width, content_px):.1f} pt"
                                  for size, text in small[:4])
                found.append(f"cell {i + 1} ({first!r}), a figure {width / dpi:.1f} in wide "
                             f"(≤ {content_px / 96 * small[0][0] / min_pt:.1f} in for its smallest text, which must "
                             f"be ≥ {min_pt * 96 / dpi:.2f} pt): {texts}")
    return found


def check_text_sizes(nb, **kw) -> None:
    """The build check of issue 14: no figure text under :data:`MIN_TEXT_PT` at the page's width."""
    small = small_texts(nb, **kw)
    if small:
        raise SmallFigureText(f"{len(small)} figure(s) have text under {MIN_TEXT_PT:g} pt as the page shows them "
                              f"(main column {content_width_px():.0f} px in a {WINDOW_PX}-px window): "
                              + "; ".join(small[:8]) + ". Make the text larger or the figure narrower.")


def figures_without_alt(nb) -> list[str]:
    """The shown figures that have no alt text (cells named by their position and first source line)."""
    missing = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            for mime in IMAGE_MIMES:
                alt = str(out.get("metadata", {}).get(mime, {}).get("alt", "")).strip()
                if mime in out.get("data", {}) and not alt:
                    first = (cell.source.strip().splitlines() or [""])[0][:60]
                    missing.append(f"cell {i + 1} ({first!r})")
    return missing


def parse_front_matter(nb) -> dict:
    """YAML front matter from the first raw cell ('---' … '---'), or {}."""
    if not nb.cells or nb.cells[0].cell_type != "raw":
        return {}
    src = nb.cells[0].source.strip()
    if not src.startswith("---"):
        return {}
    body = src[3:]
    end = body.find("\n---")
    body = body[:end] if end >= 0 else body
    data = yaml.safe_load(body) or {}
    return data if isinstance(data, dict) else {}


def split_cell_options(source: str) -> tuple[dict, str]:
    """Leading ``#|`` lines parsed as YAML, and the source without them (as Quarto does)."""
    lines = source.splitlines()
    opts_lines = []
    i = 0
    while i < len(lines):
        m = OPTION_RE.match(lines[i])
        if not m:
            break
        opts_lines.append(m.group(1))
        i += 1
    if not opts_lines:
        return {}, source
    try:
        opts = yaml.safe_load("\n".join(opts_lines)) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"cell options are not valid YAML: {opts_lines!r} ({e})") from None
    return (opts if isinstance(opts, dict) else {}), "\n".join(lines[i:])


class QuartoOptionsPreprocessor(Preprocessor):
    """Apply Quarto cell options and visibility tags for the nbconvert path."""

    def __init__(self, defaults: dict | None = None, **kw):
        super().__init__(**kw)
        self.defaults = {"echo": False, "warning": False, "output": True, "include": True}
        self.defaults.update(defaults or {})
        self.fig_numbers: dict[str, int] = {}
        self.tbl_numbers: dict[str, int] = {}

    def preprocess(self, nb, resources):
        cells = []
        # Number figures/tables first so that references anywhere resolve. A labelled cell that drew
        # nothing (a section a run cannot show, e.g. 03 without police records) takes no number.
        for cell in nb.cells:
            if cell.cell_type == "code" and cell.get("outputs"):
                opts, _ = split_cell_options(cell.source)
                label = str(opts.get("label", ""))
                if label.startswith("fig-") and label not in self.fig_numbers:
                    self.fig_numbers[label] = len(self.fig_numbers) + 1
                if label.startswith("tbl-") and label not in self.tbl_numbers:
                    self.tbl_numbers[label] = len(self.tbl_numbers) + 1
        for idx, cell in enumerate(nb.cells):
            if idx == 0 and cell.cell_type == "raw":
                continue  # front matter goes to the title block
            tags = set(cell.get("metadata", {}).get("tags", []))
            if tags & REMOVE_CELL_TAGS:
                continue
            if cell.cell_type == "markdown":
                cell.source = self._resolve_refs(cell.source)
                cells.append(cell)
                continue
            if cell.cell_type != "code":
                if cell.cell_type == "raw" and cell.get("metadata", {}).get("raw_mimetype", "") in ("text/html",):
                    cells.append(cell)
                continue
            opts, source = split_cell_options(cell.source)
            o = {**self.defaults, **opts}
            if o.get("include") is False:
                continue
            cell.source = source
            if o.get("echo") is False or tags & REMOVE_INPUT_TAGS:
                cell.metadata.setdefault("transient", {})["remove_source"] = True
            if o.get("output") is False or tags & REMOVE_OUTPUT_TAGS:
                cell.outputs = []
            if o.get("warning") is False:
                cell.outputs = [out for out in cell.outputs
                                if not (out.get("output_type") == "stream" and out.get("name") == "stderr")]
            label = str(opts.get("label", ""))
            if label.startswith("fig-") and "fig-cap" in opts and cell.outputs:
                n = self.fig_numbers[label]
                cell.metadata["ebpm_figure"] = f"図{n}"
                cap = (f'<div class="ebpm-figcaption" id="{html.escape(label)}">'
                       f'図{n}：{html.escape(str(opts["fig-cap"]))}</div>')
                for out in cell.outputs:   # nbconvert writes metadata[mime].alt as the image's alt
                    for mime in IMAGE_MIMES:
                        if mime in out.get("data", {}):
                            out.setdefault("metadata", {}).setdefault(mime, {})["alt"] = figure_alt(
                                f"図{n}", opts, out)
                cell.outputs.append(nbformat.v4.new_output("display_data", data={"text/html": cap}))
            elif cell.outputs and (opts.get("fig-alt") or opts.get("fig-cap")):
                for out in cell.outputs:
                    for mime in IMAGE_MIMES:
                        if mime in out.get("data", {}):
                            out.setdefault("metadata", {}).setdefault(mime, {})["alt"] = figure_alt("図", opts, out)
            if label.startswith("tbl-") and "tbl-cap" in opts and cell.outputs:
                n = self.tbl_numbers[label]
                cell.metadata["ebpm_table"] = f"表{n}：{opts['tbl-cap']}"   # the download's name (pipeline.downloads)
                cap = (f'<div class="ebpm-tblcaption" id="{html.escape(label)}">'
                       f'表{n}：{html.escape(str(opts["tbl-cap"]))}</div>')
                cell.outputs.insert(0, nbformat.v4.new_output("display_data", data={"text/html": cap}))
            cells.append(cell)
        nb.cells = cells
        return nb, resources

    def _resolve_refs(self, text: str) -> str:
        def fig(m):
            label = m.group(1)
            if label in self.fig_numbers:
                return f"[図{self.fig_numbers[label]}](#{label})"
            if label in self.tbl_numbers:
                return f"[表{self.tbl_numbers[label]}](#{label})"
            return m.group(0)
        return re.sub(r"@((?:fig|tbl)-[A-Za-z0-9_-]+)", fig, text)


def _toc(body: str) -> tuple[str, str]:
    """Add ids to h2/h3 headings and build a table of contents."""
    items = []
    counter = {"n": 0}

    def repl(m):
        level, attrs, inner = m.group(1), m.group(2), m.group(3)
        idm = re.search(r'id="([^"]+)"', attrs)
        counter["n"] += 1
        hid = idm.group(1) if idm else f"sec-{counter['n']}"
        text = re.sub(r"<[^>]+>", "", inner).replace("¶", "").strip()
        items.append((int(level), hid, text))
        if not idm:
            attrs = f'{attrs} id="{hid}"'
        return f"<h{level}{attrs}>{inner}</h{level}>"

    body = re.sub(r"<h([23])([^>]*)>(.*?)</h\1>", repl, body, flags=re.S)
    if len(items) < 2:
        return body, ""
    lis = "".join(f'<li class="toc-h{lv}"><a href="#{hid}">{html.escape(t)}</a></li>' for lv, hid, t in items)
    return body, f'<nav class="ebpm-toc"><div class="ebpm-toc-title">目次</div><ul>{lis}</ul></nav>'


def _format_date(value, run_date: str | None) -> str:
    if value in (None, "", "today", "now", "last-modified"):
        return run_date or dt.date.today().isoformat()
    return str(value)


def check_alt_text(nb) -> None:
    """The build check of issue 14: every figure on the page has alt text (give its cell ``#| fig-cap`` and a
    ``#| label: fig-…``, or ``#| fig-alt``)."""
    missing = figures_without_alt(nb)
    if missing:
        raise MissingAltText(f"{len(missing)} figure(s) would have no alt text: {'; '.join(missing[:5])}. Give "
                             "each figure cell '#| label: fig-…' with '#| fig-cap: …' (or '#| fig-alt: …').")


def render_nbconvert(nb_path: Path, out_path: Path, *, show_code: bool = False, downloads=None,
                     require_alt: bool = False) -> Path:
    nb = nbformat.read(nb_path, as_version=4)
    fm = parse_front_matter(nb)
    ex = fm.get("execute", {}) if isinstance(fm.get("execute"), dict) else {}
    defaults = {k: ex[k] for k in ("echo", "warning", "output") if k in ex}
    if show_code:
        defaults["echo"] = True
    pre = QuartoOptionsPreprocessor(defaults=defaults)
    nb, _ = pre.preprocess(nb, {})
    if require_alt:
        check_alt_text(nb)
        check_text_sizes(nb)
    if downloads is not None and downloads.items:
        from .downloads import add_links
        add_links(nb, downloads)
    maps = sanitise.MapSlots()
    sanitise.prepare_outputs(nb, maps)
    exporter = HTMLExporter(template_name="basic")
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nb)
    body = sanitise.clean(body)  # once more over the whole body (markdown cells too); furniture comes after
    body = body.replace('<a class="anchor-link"', '<a class="anchor-link" hidden')
    body, toc = _toc(body)
    body = maps.restore(body)
    scripts = ""
    if 'type="search"' in body:  # the search box of report.searchable_table
        js = (TEMPLATE_DIR / "search.js").read_text(encoding="utf-8")
        scripts = f"<script>{js}</script>"
    prov = nb.metadata.get("ebpm", {})
    run_date = (prov.get("finished") or "")[:10] or None
    title = str(fm.get("title", nb_path.stem))
    subtitle = str(fm.get("subtitle", "") or "")
    date = _format_date(fm.get("date"), run_date)
    css = (TEMPLATE_DIR / "report.css").read_text(encoding="utf-8")
    page = (TEMPLATE_DIR / "report.html").read_text(encoding="utf-8")
    page = (page.replace("{{title}}", html.escape(title))
                .replace("{{subtitle}}", html.escape(subtitle))
                .replace("{{date}}", html.escape(date))
                .replace("{{css}}", css)
                .replace("{{toc}}", toc)
                .replace("{{nature}}", html.escape(prov.get("data_nature", "")))
                .replace("{{scripts}}", scripts)
                .replace("{{body}}", body))
    with atomic_path(out_path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out_path


def quarto_alt_options(nb) -> None:
    """Quarto reads a figure's alt text from the cell option ``fig-alt``: write the same alt text as the
    nbconvert path (caption and key numbers) into each figure cell's options."""
    for cell in nb.cells:
        if cell.cell_type != "code" or not cell.get("outputs"):
            continue
        opts, source = split_cell_options(cell.source)
        if not (opts.get("fig-cap") or opts.get("fig-alt")):
            continue
        image = next((o for o in cell.outputs if any(m in o.get("data", {}) for m in IMAGE_MIMES)), None)
        if image is None:
            continue
        alt = figure_alt("", opts, image).lstrip("：")
        opts["fig-alt"] = alt
        lines = [f"#| {line}" for line in yaml.safe_dump(opts, allow_unicode=True, sort_keys=False,
                                                           width=10**6).splitlines()]
        cell.source = "\n".join(lines) + "\n" + source


def render_quarto(nb_path: Path, out_path: Path, *, show_code: bool = False, downloads=None,
                  require_alt: bool = False) -> Path:
    """Quarto path: render the executed notebook as is (no --execute), self-contained."""
    with tempfile.TemporaryDirectory() as d:
        work = Path(d) / nb_path.name
        nb = nbformat.read(nb_path, as_version=4)
        if require_alt:
            check = copy.deepcopy(nb)
            QuartoOptionsPreprocessor().preprocess(check, {})
            check_alt_text(check)
            check_text_sizes(check)
        quarto_alt_options(nb)
        if downloads is not None and downloads.items:
            from .downloads import add_links
            add_links(nb, downloads)
        maps = sanitise.MapSlots()
        sanitise.prepare_outputs(nb, maps)  # Quarto's own page is not sanitised afterwards
        nbformat.write(nb, work)
        cmd = ["quarto", "render", str(work), "--to", "html", "-M", "embed-resources:true",
               "-M", f"echo:{'true' if show_code else 'false'}", "-M", "warning:false"]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"quarto render failed for {nb_path}: {res.stderr.strip()[-2000:]}")
        produced = work.with_suffix(".html")
        page = maps.restore(produced.read_text(encoding="utf-8"))
        with atomic_path(out_path) as tmp:
            tmp.write_text(page, encoding="utf-8")
    return out_path


def quarto_available() -> bool:
    return shutil.which("quarto") is not None and os.environ.get("EBPM_RENDERER", "auto") != "nbconvert"


def render(nb_path: Path, out_path: Path, *, show_code: bool = False, engine: str = "auto",
           downloads=None, require_alt: bool = False) -> tuple[Path, str]:
    """Render with Quarto when available (``engine='auto'``), else nbconvert. Returns (path, engine used).
    ``downloads``: the run's :class:`~.downloads.Manifest`, linked under each table and listed in the page.
    ``require_alt``: refuse a page with a figure without alt text (:func:`check_alt_text`; every ``ebpm run``)."""
    kw = {"show_code": show_code, "downloads": downloads, "require_alt": require_alt}
    if engine == "quarto" or (engine == "auto" and quarto_available()):
        return render_quarto(nb_path, out_path, **kw), "quarto"
    return render_nbconvert(nb_path, out_path, **kw), "nbconvert"
