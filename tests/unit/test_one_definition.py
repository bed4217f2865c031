"""Each shared concept has ONE definition (issue 10): a second ``erlang_c``, ``mclp``, Gi*, ``WEEKDAY_JA``,
holiday function, distance matrix or row-number helper anywhere in ``src/`` or a notebook fails here,
and so does a class name used for two different things (two ``CountModel`` classes once lived here).

The check walks the syntax tree of every module under ``src/ebpm_analysis`` and every notebook code cell:
- definitions (functions, classes, module-level names) whose name matches a concept must exist exactly
  once, in the concept's home module;
- hand-written versions of a concept are caught by their shape (``(np.flatnonzero(mask) + 2).tolist()``,
  ``import jpholiday`` / ``esda.getisord`` / ``spopt.locate`` outside the home module, ...).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "src" / "ebpm_analysis"


@dataclass(frozen=True)
class Concept:
    pattern: str        # regex on a defined name
    home: str           # module (relative to src/ebpm_analysis) that holds the one definition
    count: int | None = 1   # definitions expected in total; None: any number, all in ``home``


CONCEPTS = {
    "row numbers for error messages": Concept(r"^bad_rows$", "io/common.py"),
    "row error raise helper": Concept(r"^raise_bad_rows$", "io/common.py"),
    "Erlang B": Concept(r"^erlang_?b$", "stats/queueing.py"),
    "Erlang C": Concept(r"^erlang_?c$", "stats/queueing.py"),
    "M/M/c mean wait": Concept(r"^mean_wait(_min)?$", "stats/queueing.py"),
    "servers for a wait target": Concept(r"^staff_needed$", "stats/queueing.py"),
    "opening-hours simulation": Concept(r"^simulate_session_waits$", "stats/queueing.py"),
    "Getis-Ord Gi*": Concept(r"^(gi_?star|getis_?ord|g_?local|local_g)$", "stats/hotspots.py"),
    "weekday names": Concept(r"^WEEKDAYS?_JA$", "jpcalendar.py"),
    "holiday functions": Concept(r"holiday", "jpcalendar.py", count=None),
    "year-end closure": Concept(r"year_end_closure|new_year", "jpcalendar.py", count=None),
    "day type": Concept(r"^day_types?$", "jpcalendar.py"),
    "distance matrix": Concept(r"^(distance_matrix|dist_matrix|pairwise_distances?|cost_matrix)$", "location.py"),
    "maximal covering location": Concept(r"mclp", "location.py", count=None),
    "p-median": Concept(r"p_?median", "location.py", count=None),
    "coverage of sites": Concept(r"^(coverage|coverage_matrix|greedy_max_coverage|mean_nearest)$", "location.py",
                                 count=None),
    "is this run internal (庁内限り)?": Concept(r"^is_internal$", "audience.py"),
    "office days": Concept(r"^(is_open|office_calendar|closed_weekdays|office_days?|is_office_day)$", "jpcalendar.py",
                           count=None),
}

#: Library imports that belong to one home module only (the library is used through it).
IMPORT_HOMES = {
    "esda.getisord": "stats/hotspots.py",
    "jpholiday": "jpcalendar.py",
    "spopt": "location.py",
    "pulp": "location.py",
}
#: Library names that belong to one home module only, however they are reached (``esda.G_Local``).
NAME_HOMES = {
    "G_Local": "stats/hotspots.py",
}


def _sources(root: Path) -> list[tuple[str, str]]:
    """(label, python source) for every module under src/ebpm_analysis and every notebook code cell."""
    out = []
    for p in sorted((root / "src" / "ebpm_analysis").rglob("*.py")):
        out.append((p.relative_to(root / "src" / "ebpm_analysis").as_posix(), p.read_text(encoding="utf-8")))
    for nb in sorted((root / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        for i, c in enumerate(cells):
            if c["cell_type"] != "code":
                continue
            src = "".join(c["source"])
            src = "\n".join("" if ln.lstrip().startswith(("%", "!")) else ln for ln in src.splitlines())
            out.append((f"notebooks/{nb.name}#cell{i}", src))
    return out


def _definitions(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
    body = tree.body if isinstance(tree, ast.Module) else []
    for node in body:  # module-level constants
        if isinstance(node, ast.Assign):
            targets = node.targets
        else:
            targets = [node.target] if isinstance(node, ast.AnnAssign) else []
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def _is_weekday_literal(node: ast.AST) -> bool:
    """A hand-written list/tuple of weekday names (``["月", "火", "水", ...]``)."""
    if not isinstance(node, (ast.List, ast.Tuple)) or len(node.elts) < 3:
        return False
    vals = [e.value if isinstance(e, ast.Constant) else None for e in node.elts[:3]]
    return vals in (["月", "火", "水"], ["日", "月", "火"])


def _is_hypot_matrix(node: ast.AST) -> bool:
    """``np.hypot(a[:, None, 0] - b[None, :, 0], ...)``: a hand-written distance matrix."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "hypot"):
        return False
    for sub in ast.walk(node):
        if isinstance(sub, ast.Subscript) and isinstance(sub.slice, ast.Tuple):
            if any(isinstance(e, ast.Constant) and e.value is None for e in sub.slice.elts):
                return True
    return False


def _is_rows_arith(node: ast.AST) -> bool:
    """``(np.flatnonzero(m) + k).tolist()`` or ``(df.index[m] + k).tolist()``: hand-made row numbers."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "tolist"):
        return False
    inner = node.func.value
    if not (isinstance(inner, ast.BinOp) and isinstance(inner.op, ast.Add)):
        return False
    left = inner.left
    if isinstance(left, ast.Call) and isinstance(left.func, ast.Attribute) and left.func.attr == "flatnonzero":
        return True
    return isinstance(left, ast.Subscript) and isinstance(left.value, ast.Attribute) and left.value.attr == "index"


def violations(root: Path = ROOT) -> list[str]:
    """Every breach of the one-definition rule, as readable lines (empty = all good)."""
    found: dict[str, list[str]] = {k: [] for k in CONCEPTS}
    classes: dict[str, list[str]] = {}
    problems = []
    for label, src in _sources(root):
        tree = ast.parse(src, filename=label)
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                classes.setdefault(node.name, []).append(label)
        for name in _definitions(tree):
            for key, c in CONCEPTS.items():
                if re.search(c.pattern, name):
                    found[key].append(f"{label}:{name}")
        for node in ast.walk(tree):
            if _is_rows_arith(node) and label != CONCEPTS["row numbers for error messages"].home:
                problems.append(f"{label}:{node.lineno}: hand-made row numbers; use io.common.bad_rows")
            if _is_hypot_matrix(node) and label != CONCEPTS["distance matrix"].home:
                problems.append(f"{label}:{node.lineno}: hand-written distance matrix; use location.distance_matrix")
            if _is_weekday_literal(node) and label != CONCEPTS["weekday names"].home:
                problems.append(f"{label}:{node.lineno}: hand-written weekday names; use jpcalendar.WEEKDAY_JA")
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                mods = [node.module]
            for m in mods:
                for lib, home in IMPORT_HOMES.items():
                    if (m == lib or m.startswith(lib + ".")) and label != home:
                        problems.append(f"{label}:{node.lineno}: imports {m}; use {home} instead")
            used = (node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute)
                    else node.name if isinstance(node, ast.alias) else None)
            if used in NAME_HOMES and label != NAME_HOMES[used]:
                problems.append(f"{label}:{getattr(node, 'lineno', '?')}: uses {used}; use {NAME_HOMES[used]} instead")
    for name, where in classes.items():
        if len(where) > 1:
            problems.append(f"class {name} defined in {', '.join(where)}: distinct models need distinct names")
    for key, c in CONCEPTS.items():
        defs = found[key]
        homes = [d for d in defs if d.split(":")[0] == c.home]
        if c.count is None:
            if not homes or len(homes) != len(defs):
                problems.append(f"{key}: expected definitions only in {c.home}, found {defs or 'none'}")
        elif len(defs) != c.count or len(homes) != c.count:
            problems.append(f"{key}: expected {c.count} definition(s) in {c.home}, found {defs or 'none'}")
    return problems


def test_each_shared_concept_has_one_definition():
    assert violations() == []


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    (tmp_path / "notebooks").mkdir(exist_ok=True)
    return tmp_path


def _home_files() -> dict[str, str]:
    """The real home modules, copied: a tree that passes before a second definition is added."""
    homes = {c.home for c in CONCEPTS.values()} | set(IMPORT_HOMES.values()) | set(NAME_HOMES.values())
    return {f"src/ebpm_analysis/{h}": (PKG / h).read_text(encoding="utf-8") for h in homes}


@pytest.mark.parametrize("extra, expect", [
    ("def bad_rows(mask):\n    return []\n", "row numbers for error messages"),
    ("import numpy as np\ndef f(bad):\n    return (np.flatnonzero(bad) + 2).tolist()\n", "hand-made row numbers"),
    ("def f(df, bad):\n    return (df.index[bad] + 2).tolist()\n", "hand-made row numbers"),
    ("class Q:\n    def erlang_c(self, a, c):\n        return 1.0\n", "Erlang C"),
    ("def simulate_session_waits(n, c):\n    return 0\n", "opening-hours simulation"),
    ("def getis_ord(v, w):\n    return v\n", "Getis-Ord Gi*"),
    ("from esda.getisord import G_Local\n", "imports esda.getisord"),
    ("import esda\ndef f(y, w):\n    return esda.G_Local(y, w, star=True)\n", "uses G_Local"),
    ("WEEKDAY_JA = ['月', '火', '水', '木', '金']\n", "weekday names"),
    ("DAYS = ('月', '火', '水', '木', '金', '土', '日')\n", "hand-written weekday names"),
    ("def f(d):\n    import jpholiday\n    return jpholiday.is_holiday(d)\n", "imports jpholiday"),
    ("def is_national_holiday(d):\n    return False\n", "holiday functions"),
    ("def new_year(d):\n    return (d.month == 1) & (d.day <= 3)\n", "year-end closure"),
    ("class GiStar:\n    pass\n", "class GiStar defined in"),
    ("import numpy as np\ndef f(a, b):\n"
     "    return np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])\n",
     "hand-written distance matrix"),
    ("def distance_matrix(a, b):\n    return a - b\n", "distance matrix"),
    ("def solve_mclp(cost, w, r, p):\n    return None\n", "maximal covering location"),
    ("def solve_pmedian(cost, w, p):\n    return None\n", "p-median"),
    ("def f():\n    from spopt.locate import MCLP\n    return MCLP\n", "imports spopt.locate"),
])
def test_checker_catches_a_second_definition(tmp_path, extra, expect):
    files = _home_files()
    assert violations(_tree(tmp_path / "clean", files)) == []
    files["src/ebpm_analysis/cases/extra.py"] = extra
    found = violations(_tree(tmp_path / "dirty", files))
    assert found and any(expect in v for v in found), found


def test_checker_reads_notebook_cells(tmp_path):
    files = _home_files()
    root = _tree(tmp_path, files)
    cell = {"cell_type": "code", "source": ["%matplotlib inline\n", "def bad_rows(m):\n", "    return m\n"],
            "metadata": {}, "outputs": [], "execution_count": None}
    (root / "notebooks" / "x.ipynb").write_text(json.dumps({"cells": [cell]}), encoding="utf-8")
    assert any("notebooks/x.ipynb#cell0:bad_rows" in v for v in violations(root))
