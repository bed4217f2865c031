"""Shared test setup: a non-interactive matplotlib backend and the project root."""

import os
import sys
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")

# The helpers of tests/national (the national sample and the prose check) are imported by the notebook
# tests too (tests/notebooks/test_run_all.py checks every default report's prose with them).
sys.path.insert(0, str(Path(__file__).parent / "national"))


def _nbval_at_small_sizes() -> None:
    """nbval (``--nbval-lax`` over ``notebooks/``) checks that every notebook runs cell by cell in the ``ebpm``
    kernel. The default sizes are executed already by tests/notebooks/test_run_all.py (through the CLI, with the
    baseline tables), so nbval runs each notebook at the national sample's small sizes instead: a cell that
    assigns them is inserted after the ``parameters`` cell, as papermill injects parameters. Same code paths,
    fewer generated rows; about half of make test's notebook time was these duplicate default runs.

    nbval reads the notebook with ``nbformat.read`` inside its collector and offers no hook for parameters, so
    its module's ``nbformat`` is wrapped (only ``read`` changes)."""
    import json

    import nbformat
    try:
        import nbval.plugin
    except ImportError:   # nbval not installed: nothing to adapt
        return
    import national_sample

    #: 07 is not in the national sample (it needs its prefecture's police file): fewer months and grid points.
    #: 01 keeps its default size (n_employed 0: from 熊本市's population): 8,000 employed make 熊本市's district
    #: table sparse, and its interval protection costs more than the whole default run (16 against 11 CPU-s).
    extra = {"07_policy_evaluation": {"months_post": [12], "n_grid": [20, 40]},
             "01_census_commuting": {"n_employed": 0}}

    class _Nbformat:
        def __getattr__(self, name):
            return getattr(nbformat, name)

        @staticmethod
        def read(path, as_version, **kwargs):
            nb = nbformat.read(path, as_version=as_version, **kwargs)
            p = Path(str(path))
            sizes = {**national_sample.SMALL.get(p.stem, {}), **extra.get(p.stem, {})}
            if p.parent.name != "notebooks" or not sizes:
                return nb
            at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
            src = "\n".join(f"{k} = {json.loads(json.dumps(v))!r}" for k, v in sizes.items())
            cell = nbformat.v4.new_code_cell("# injected by tests/conftest.py: small sizes\n" + src)
            cell.metadata["tags"] = ["injected-parameters"]
            nb.cells.insert(at + 1, cell)
            return nb

    nbval.plugin.nbformat = _Nbformat()


_nbval_at_small_sizes()
