"""Parameter sets: YAML files beside the notebooks, validated against the notebook's
``parameters`` cell (names and types of its defaults).

Codes stay strings: a YAML value ``43100`` (a number) for a parameter whose default is the
string ``"43100"`` is an error that says to quote it — papermill's ``-p`` would silently turn
``"01100"`` into ``1100``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import yaml

from .. import audience, paths
from ..errors import EbpmError, ParameterError

TYPE_NAMES = {str: "string", int: "integer", float: "number", bool: "true/false", list: "list",
              dict: "mapping", type(None): "None"}


class NotebookNotFound(EbpmError):
    def __init__(self, name: str, where: str, valid: str):
        super().__init__(f"notebook {name!r} not found in {where}/. Expected one of: {valid}")


@dataclass(frozen=True)
class Parameter:
    name: str
    default: Any
    comment: str = ""

    @property
    def type_name(self) -> str:
        return TYPE_NAMES.get(type(self.default), type(self.default).__name__)


def list_notebooks(notebooks_dir: Path | None = None) -> list[str]:
    d = notebooks_dir or paths.NOTEBOOKS_DIR
    return sorted(p.stem for p in d.glob("*.ipynb") if not p.stem.startswith("_"))


def notebook_path(name: str, notebooks_dir: Path | None = None) -> Path:
    """``name`` is a notebook in notebooks/ (with or without .ipynb) or a path to an .ipynb file."""
    if name.endswith(".ipynb") and Path(name).exists():
        return Path(name).resolve()
    d = notebooks_dir or paths.NOTEBOOKS_DIR
    stem = Path(name).stem if name.endswith(".ipynb") else name
    p = d / f"{stem}.ipynb"
    if not p.exists():
        valid = ", ".join(list_notebooks(d)) or "(none)"
        raise NotebookNotFound(name, paths.relative(d), valid)
    return p


def list_variants(name: str, params_dir: Path | None = None) -> list[str]:
    d = (params_dir or paths.PARAMS_DIR) / Path(name).stem
    return sorted(p.stem for p in d.glob("*.yml"))


def params_file(name: str, variant: str, params_dir: Path | None = None) -> Path | None:
    """Resolve a variant name (``default``) or a path to a YAML file.

    A notebook with no parameter sets at all runs with its own defaults for ``default``.
    """
    p = Path(variant)
    if p.suffix in (".yml", ".yaml"):
        p = paths.resolve(p)
        if not p.exists():
            raise ParameterError("--params", f"file {variant!r} not found", expected="a YAML parameter file")
        return p
    d = (params_dir or paths.PARAMS_DIR) / Path(name).stem
    p = d / f"{variant}.yml"
    if variant == "default" and not p.exists() and not list_variants(name, params_dir):
        return None
    if not p.exists():
        valid = ", ".join(list_variants(name, params_dir)) or "(none)"
        raise ParameterError("--params", f"no parameter set {variant!r} for {name}",
                             expected=f"one of: {valid}, or a path to a .yml file")
    return p


def _parameters_cell(nb) -> tuple[int, Any]:
    found = [(i, c) for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(found) != 1:
        raise ParameterError("parameters", f"the notebook has {len(found)} cells tagged 'parameters'",
                             expected="exactly one code cell tagged 'parameters'")
    return found[0]


def inspect_parameters(nb_path: Path) -> dict[str, Parameter]:
    """Names, defaults and trailing comments of the notebook's ``parameters`` cell."""
    nb = nbformat.read(nb_path, as_version=4)
    _, cell = _parameters_cell(nb)
    src = cell.source
    lines = src.splitlines()
    tree = ast.parse(src)
    out: dict[str, Parameter] = {}
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    try:
                        value = ast.literal_eval(node.value)
                    except ValueError:
                        raise ParameterError(t.id, "default is not a plain literal",
                                             expected="str/int/float/bool/list literals "
                                                      "in the parameters cell") from None
                    line = lines[node.lineno - 1]
                    comment = line.split("#", 1)[1].strip() if "#" in line and not line.lstrip().startswith("#") else ""
                    out[t.id] = Parameter(t.id, value, comment)
    return out


#: The key of a parameter set (notebooks/params/<nb>/<set>.yml) that is not a parameter but words the report's
#: title gains in parentheses, so that two reports of one notebook are told apart by their titles
#: (``title_note: e-Stat の集計表から`` in the estat_table set of 01).
TITLE_NOTE = "title_note"


def _read_params_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ParameterError(str(path), f"not valid YAML ({e})", expected="key: value lines") from None
    if not isinstance(data, dict):
        raise ParameterError(str(path), "is not a mapping", expected="key: value lines")
    return data


def load_params_file(path: Path) -> dict[str, Any]:
    """The parameters of a parameter set (its :data:`TITLE_NOTE`, not a parameter, left out)."""
    data = _read_params_file(path)
    data.pop(TITLE_NOTE, None)
    return data


def title_note(path: Path | None) -> str | None:
    """The parameter set's :data:`TITLE_NOTE` (None without one)."""
    if path is None:
        return None
    note = _read_params_file(path).get(TITLE_NOTE)
    if note is not None and (not isinstance(note, str) or not note.strip()):
        raise ParameterError(f"{path}: {TITLE_NOTE}", f"got {note!r}",
                             expected="a short text the title gains, e.g. e-Stat の集計表から")
    return note.strip() if note else None


def _type_ok(value: Any, default: Any) -> bool:
    if default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, type(default))


def validate(nb_path: Path, values: dict[str, Any], *, check_paths: bool = True) -> dict[str, Any]:
    """Check names, types and path existence; return the values (floats given as ints converted)."""
    spec = inspect_parameters(nb_path)
    out = {}
    for name, value in values.items():
        if name not in spec:
            valid = ", ".join(f"{p.name} ({p.type_name})" for p in spec.values())
            raise ParameterError(name, f"unknown parameter for {nb_path.stem}", expected=f"one of: {valid}")
        default = spec[name].default
        if not _type_ok(value, default):
            got = f"{TYPE_NAMES.get(type(value), type(value).__name__)} {value!r}"
            hint = ""
            if isinstance(default, str) and isinstance(value, (int, float)):
                hint = f' — quote it in YAML, e.g. {name}: "{default}"'
            raise ParameterError(name, f"got {got}{hint}", expected=f"{spec[name].type_name} (like {default!r})")
        if isinstance(default, float) and isinstance(value, int):
            value = float(value)
        if name == audience.PARAMETER:
            audience.check(value)   # public or internal (庁内限り), nothing else
        if name.startswith("output") and name.endswith("_dir") and isinstance(value, str) and not value.strip():
            raise ParameterError(name, "is empty (the exports would land in the project root)",
                                 expected=f"a folder relative to the project root, like {default!r}")
        if name == "city_code" and isinstance(value, str):
            from .. import geo
            geo.resolve_city(value, param=name)   # a wrong code fails before the notebook starts
        if check_paths and isinstance(value, str) and value and name.endswith(("_path", "_dir", "_file")) \
                and not name.startswith("output"):
            p = paths.resolve(value)
            if not p.exists():
                raise ParameterError(name, f"input {value!r} does not exist (resolved to {p})",
                                     expected="a path relative to the project root, "
                                              "or an empty string for the bundled/synthetic data")
        out[name] = value
    return out


def parse_overrides(items: list[str], nb_path: Path) -> dict[str, Any]:
    """``key=value`` strings from the command line, typed by the parameter's default."""
    spec = inspect_parameters(nb_path)
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ParameterError(item, "is not key=value", expected="-p name=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        if key not in spec:
            valid = ", ".join(spec)
            raise ParameterError(key, f"unknown parameter for {nb_path.stem}", expected=f"one of: {valid}")
        default = spec[key].default
        if isinstance(default, str):
            out[key] = raw  # strings stay strings: "01100" stays "01100"
            continue
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw
        if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        out[key] = value
    return out
