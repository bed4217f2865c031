"""Report text must not point readers at things they cannot open or do not know (issue 14): files of
this repository (``docs/…``, ``notebooks/…``, ``src/…``), the old research notes' section marks and the notebook's
own parameter names, and software libraries by name. A department head reads the report offline; the sources are
written out in words and the parameters and package versions are listed in the provenance section, which is not
checked here.

Checked: markdown cells, the Markdown a code cell displays (``report.md``, ``bullets``) and the captions and
alt text of its cell options (``fig-cap``, ``tbl-cap``, ``fig-alt``), of cells that stay in the report (cells
tagged ``remove-cell``, e.g. workshop exercises, are not). Tables and figures are data: a facility called
``min_cell`` in an input file is not the report's wording.
"""

from __future__ import annotations

import re

REMOVED_TAGS = {"remove-cell", "workshop"}

#: (pattern, what it is) — each a reference a reader of the report cannot follow.
PATTERNS = [
    (re.compile(r"\bdocs/[\w./#-]*"), "a document of the repository"),
    (re.compile(r"\bnotebooks/[\w./<>#-]*"), "a file of the repository"),
    (re.compile(r"\bdata/(?:processed|interim)/[\w./<>#-]*"), "a working folder of the repository"),
    (re.compile(r"\bsrc/ebpm_analysis[\w./-]*"), "the package's source"),
    (re.compile(r"\bebpm_analysis(?:\.\w+)+"), "a module of the package"),
    # the old research notes' name, spelled in two parts (tests/unit/test_sources.py keeps it out of the repository)
    (re.compile(r"\b" + "FAC" + r"TS\b(?:\s*§[\d.–-]+)?"), "an internal note"),
    (re.compile(r"パラメータ\s*`?[A-Za-z_][A-Za-z0-9_]*"), "a parameter name"),
    # 05 told department heads 「公開前に `ebpm audit` が…確認しています」: what the command does is said in words
    (re.compile(r"(?<![\w/.-])ebpm\s+(?:audit|run|build-all|render|workshop|anonymise|kpi|index|list)\b"),
     "a command of the package"),
    # the method is said in words; which library computed it is in the provenance section (package versions)
    (re.compile(r"(?<![A-Za-z0-9_.-])(?:statsmodels|esda|PySAL|libpysal|spopt|scipy|SciPy|DuckDB|duckdb|pandas|geopandas|"
                r"mapclassify|pyfixest|folium|matplotlib|scikit-learn|sklearn|highspy|papermill|nbconvert)(?![A-Za-z0-9_-])"),
     "a software library's name"),
]

#: Cell options whose text the report shows (captions and alt text of figures and tables).
CAPTION_OPTIONS = ("fig-cap", "tbl-cap", "fig-alt")


def _texts(nb):
    for i, cell in enumerate(nb.cells):
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & REMOVED_TAGS:
            continue
        if cell.cell_type == "markdown":
            yield i, cell.source
        elif cell.cell_type == "code":
            from .render import split_cell_options
            opts, _ = split_cell_options(cell.source)
            for key in CAPTION_OPTIONS:
                if isinstance(opts.get(key), str):
                    yield i, opts[key]
            for out in cell.get("outputs", []):
                md = out.get("data", {}).get("text/markdown")
                if md:
                    yield i, md if isinstance(md, str) else "".join(md)


def references_in(text: str) -> list[str]:
    """The internal references (:data:`PATTERNS`) in one text, e.g. a figure's source note."""
    return [f"'{m.group(0).strip()}' ({what})" for rx, what in PATTERNS for m in rx.finditer(text)]


def internal_references(nb, parameter_names=()) -> list[str]:
    """One line per internal reference in the report text of the executed notebook ``nb``:
    ``cell N: '<text>' (<what it is>)``. ``parameter_names``: the notebook's parameters (whole words)."""
    names = sorted({p for p in parameter_names if "_" in p and len(p) > 3}, key=len, reverse=True)
    name_re = re.compile(r"(?<![\w/.])(" + "|".join(map(re.escape, names)) + r")(?![\w])") if names else None
    found = []
    for i, text in _texts(nb):
        spans = []
        for rx, what in PATTERNS:
            for m in rx.finditer(text):
                spans.append(m.span())
                found.append(f"cell {i}: '{m.group(0).strip()}' ({what})")
        if name_re:   # a name inside a reference already found (パラメータ input_kind) is that reference
            found += [f"cell {i}: '{m.group(0)}' (the parameter name)" for m in name_re.finditer(text)
                      if not any(a <= m.start() < b for a, b in spans)]
    return found
