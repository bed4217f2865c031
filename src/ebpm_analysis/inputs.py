"""Real file given, or synthetic data generated: one rule for every input of every notebook.

Each ``*_path`` / ``*_dir`` parameter of a notebook goes through :func:`resolve_input`:

- empty (``""`` or ``None``) → the case's seeded generator writes its set (once, cached) and the
  input is the file ``name`` inside that folder, labelled ``"synthetic"``, with the planted truth
  (``truth.json``) beside it;
- otherwise → :func:`ebpm_analysis.paths.resolve` (relative to the project root) and an existence
  check; a missing file is a :class:`~ebpm_analysis.errors.ParameterError` naming the parameter.

``together`` lists the parameters that only make sense with this one (e.g. real checkup sheets need
the real facility list): leaving this input empty while one of them is given is an error, never a
silent mix of real and synthetic files.

Example (a notebook's input cell)::

    gen = lambda: synth.ensure_dental(seed, city_code=city_code, n_children=n_children)
    sheets_in = resolve_input(checkups_path, param="checkups_path", generate=gen, name="checkups.csv")
    fac_in = resolve_input(facilities_path, param="facilities_path", generate=gen, name="facilities.csv",
                           together={"checkups_path": checkups_path})
    sheets = dental_sheet.read_checkup_sheets(sheets_in.path, nature=sheets_in.nature)
    truth = synth.read_truth(sheets_in.truth) if sheets_in.truth else None
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal, Mapping

from . import paths
from .errors import ParameterError

__all__ = ["ResolvedInput", "resolve_input", "resolve_inputs"]

TRUTH_FILE = "truth.json"


@dataclass(frozen=True)
class ResolvedInput:
    """Where one input comes from.

    Attributes
    ----------
    path : Path
        The file or folder to read (absolute).
    nature : {"real", "synthetic"}
        ``"synthetic"`` when the generator wrote it; reports label such data 合成データ.
    truth : Path or None
        The planted truth (``truth.json``) of a synthetic input, ``None`` for real data.
        Read it with :func:`ebpm_analysis.synth.read_truth`.
    param : str
        The parameter the input came from (for messages).
    """

    path: Path
    nature: Literal["real", "synthetic"]
    truth: Path | None
    param: str

    @property
    def synthetic(self) -> bool:
        """True when the input was generated."""
        return self.nature == "synthetic"


def _given(value) -> bool:
    return value is not None and str(value).strip() != ""


def resolve_input(given: str | os.PathLike | None, *, param: str, generate: Callable[[], Path],
                  name: str, kind: Literal["file", "dir", "any"] = "any",
                  together: Mapping[str, str | os.PathLike | None] | None = None) -> ResolvedInput:
    """Resolve one input parameter to a real file or to the generated synthetic one.

    Parameters
    ----------
    given : str, path or None
        The parameter's value. Empty or ``None`` means "generate synthetic data".
    param : str
        The parameter's name, used in error messages.
    generate : callable
        Called without arguments only when synthetic data are needed; returns the folder the
        generator wrote (``synth.ensure_<case>(...)``, cached, so calling it once per input is cheap).
    name : str
        The input's file (or sub-folder) inside the generated folder.
    kind : {"any", "file", "dir"}
        What a real path must be.
    together : mapping of str to str, optional
        Other parameters (name → value) this one must accompany: if any of them is given while
        ``given`` is empty, a :class:`ParameterError` is raised.

    Returns
    -------
    ResolvedInput

    Raises
    ------
    ParameterError
        The given path does not exist or is not of ``kind``, or this input is empty while a
        parameter of ``together`` is given.
    """
    if _given(given):
        path = paths.resolve(Path(str(given).strip()))
        if not path.exists():
            raise ParameterError(param, f"file not found: {given} (resolved to {path})",
                                 expected="an existing path, absolute or relative to the project root; "
                                          "empty for synthetic data")
        if kind == "file" and not path.is_file():
            raise ParameterError(param, f"{given} is a folder", expected="a file")
        if kind == "dir" and not path.is_dir():
            raise ParameterError(param, f"{given} is not a folder", expected="a folder")
        return ResolvedInput(path=path, nature="real", truth=None, param=param)
    others = [k for k, v in (together or {}).items() if _given(v)]
    if others:
        raise ParameterError(param, f"is empty while {', '.join(others)} is given",
                             expected=f"{param} together with {', '.join(others)} (real data), "
                                      "or all of them empty (synthetic data)")
    folder = Path(generate())
    path = folder / name
    if not path.exists():
        raise FileNotFoundError(f"the generator did not write {name} into {folder}")
    truth = folder / TRUTH_FILE
    if not truth.exists() and (folder / "truth" / TRUTH_FILE).exists():
        truth = folder / "truth" / TRUTH_FILE
    return ResolvedInput(path=path, nature="synthetic", truth=truth if truth.exists() else None, param=param)


def resolve_inputs(given: Mapping[str, tuple[str, str | os.PathLike | None]], *, names: Mapping[str, str],
                   generate: Callable[[], Path],
                   kind: Literal["file", "dir", "any"] = "any") -> dict[str, ResolvedInput]:
    """Resolve inputs that come as a set (all real or all synthetic) with :func:`resolve_input`.

    Parameters
    ----------
    given : mapping of str to (str, str or path or None)
        Input key → (parameter name, parameter value), e.g. ``{"log": ("dispatch_log_path", dispatch_log_path)}``.
    names : mapping of str to str
        Input key → its file inside the generated folder (the generator's ``FILES``).
    generate : callable
        As for :func:`resolve_input`.
    kind : {"any", "file", "dir"}
        What each real path must be.

    Returns
    -------
    dict of str to ResolvedInput
        By input key, in the order of ``given``.

    Raises
    ------
    ParameterError
        As :func:`resolve_input`; in particular when some of the inputs are given and others are empty
        (each input lists all the others as ``together``).
    """
    values = {param: value for param, value in given.values()}
    return {key: resolve_input(value, param=param, generate=generate, name=names[key], kind=kind,
                               together={p: v for p, v in values.items() if p != param})
            for key, (param, value) in given.items()}
