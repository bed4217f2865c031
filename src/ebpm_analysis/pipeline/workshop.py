"""Workshop kit: student and instructor copies of a notebook from one source, by cell tags.

In the source notebook, exercise cells carry the tag ``workshop`` (and ``remove-cell``, so the
reports do not show them); cells whose code is the answer also carry ``solution``. Then:

- ``instructor.ipynb`` — the notebook as is (answers included), outputs cleared;
- ``student.ipynb`` — each ``solution`` cell replaced by a stub that keeps the cell's leading
  comment lines (the hint) and asks for code; ``remove-cell`` dropped from workshop cells so that
  students see the exercises.

Copies are always written to new paths; the source notebook is never modified.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

from .. import paths
from ..io.common import atomic_path
from . import params as P

STUB = "# ここにコードを書いてください（Write your code here）\n"


def _clear(nb):
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs = []
            c.execution_count = None
    return nb


def instructor_copy(nb):
    """Answers kept; exercise cells made visible (``remove-cell`` dropped from ``workshop`` cells)."""
    nb = _clear(nbformat.from_dict(nb))
    for c in nb.cells:
        tags = c.metadata.get("tags", [])
        if "workshop" in tags:
            c.metadata["tags"] = [t for t in tags if t != "remove-cell"]
    return nb


def student_copy(nb):
    """As the instructor's, with each ``solution`` cell replaced by a stub keeping its hint comments."""
    nb = instructor_copy(nb)
    for c in nb.cells:
        if "solution" in c.metadata.get("tags", []) and c.cell_type == "code":
            hint = [ln for ln in c.source.splitlines() if ln.startswith("#") and not ln.startswith("#|")]
            c.source = "\n".join(hint) + ("\n" if hint else "") + STUB
            c.metadata["tags"] = [t for t in c.metadata["tags"] if t != "solution"] + ["exercise"]
    return nb


def build_workshop(names: list[str] | None = None, out_dir: Path | None = None) -> list[Path]:
    out_dir = out_dir or paths.BUILD_DIR / "workshop"
    written = []
    for name in names or P.list_notebooks():
        src = P.notebook_path(name)
        nb = nbformat.read(src, as_version=4)
        n_ex = sum("workshop" in c.metadata.get("tags", []) for c in nb.cells)
        d = out_dir / src.stem
        d.mkdir(parents=True, exist_ok=True)
        for fname, make in (("student.ipynb", student_copy), ("instructor.ipynb", instructor_copy)):
            with atomic_path(d / fname) as tmp:
                nbformat.write(make(nb), tmp)
            written.append(d / fname)
        params = P.params_file(src.stem, "default")
        if params:
            shutil.copy2(params, d / "params.yml")
        (d / "README.md").write_text(
            f"# ワークショップ: {src.stem}\n\n演習セル {n_ex} 個。`student.ipynb` を受講者に、"
            f"`instructor.ipynb`（解答付き）を講師に配ります。\nJupyterLab でカーネル `Python (ebpm)` を選び、"
            f"上から順に実行します。\n", encoding="utf-8")
    return written
