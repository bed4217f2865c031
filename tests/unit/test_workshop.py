"""Workshop kit: answers removed from the student copy, kept for the instructor, source untouched."""

import nbformat

from ebpm_analysis.pipeline import params as P
from ebpm_analysis.pipeline.workshop import STUB, build_workshop


def test_student_and_instructor_copies(tmp_path):
    src = P.notebook_path("00_data_catalog")
    before = src.read_bytes()
    build_workshop(["00_data_catalog"], tmp_path)
    assert src.read_bytes() == before  # the source notebook is never modified
    orig = nbformat.read(src, as_version=4)
    solutions = [c.source for c in orig.cells if "solution" in c.metadata.get("tags", [])]
    assert len(solutions) >= 2
    student = nbformat.read(tmp_path / "00_data_catalog" / "student.ipynb", as_version=4)
    text = "\n".join(c.source for c in student.cells)
    for sol in solutions:
        answer = [ln for ln in sol.splitlines() if not ln.startswith("#")]
        assert answer and all(ln not in text for ln in answer)  # no answer line survives
    stubs = [c for c in student.cells if "exercise" in c.metadata.get("tags", [])]
    assert len(stubs) == len(solutions) and all(STUB in c.source and "# ヒント" in c.source for c in stubs)
    assert not [c for c in student.cells if "workshop" in c.metadata.get("tags", [])
                and "remove-cell" in c.metadata.get("tags", [])]  # exercises visible to students
    teacher = nbformat.read(tmp_path / "00_data_catalog" / "instructor.ipynb", as_version=4)
    assert all(s in "\n".join(c.source for c in teacher.cells) for s in solutions)
    assert (tmp_path / "00_data_catalog" / "params.yml").exists()
