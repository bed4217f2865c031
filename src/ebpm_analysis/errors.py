"""Errors that tell the user what is wrong and what is expected, in one paragraph."""

from __future__ import annotations

import os


class EbpmError(Exception):
    """Base class: every message names the file/column/parameter and what is expected."""


class InputFileError(EbpmError, ValueError):
    """A data file is missing, unreadable or does not match its expected format."""

    def __init__(self, path: str | os.PathLike, problem: str, *, expected: str | None = None,
                 column: str | None = None, rows: list | None = None):
        self.path = str(path)
        self.problem = problem
        self.expected = expected
        self.column = column
        self.rows = rows
        where = f"{self.path}"
        if column is not None:
            where += f", column '{column}'"
        msg = f"{where}: {problem}"
        if rows:
            shown = ", ".join(str(r) for r in rows[:5])
            more = f" (and {len(rows) - 5} more)" if len(rows) > 5 else ""
            msg += f" (rows {shown}{more})"
        if expected:
            msg += f". Expected: {expected}"
        super().__init__(msg)


class ParameterError(EbpmError, ValueError):
    """A notebook parameter is unknown, of the wrong type or out of range."""

    def __init__(self, name: str, problem: str, *, expected: str | None = None):
        self.name = name
        msg = f"parameter '{name}': {problem}"
        if expected:
            msg += f". Expected: {expected}"
        super().__init__(msg)


def require_choice(name: str, value, choices) -> None:
    """Raise :class:`ParameterError` naming parameter ``name`` unless ``value`` is one of ``choices``."""
    choices = tuple(choices)
    if value not in choices:
        raise ParameterError(name, f"got {value!r}", expected=" or ".join(repr(c) for c in choices))
