"""City profiles: one small YAML per city in ``notebooks/cities/<code>.yml``.

::

    code: "16201"                 # 5-digit 標準地域コード (quoted); the name comes from the boundary file
    name: 富山市                   # optional, for humans; checked against the code
    department: 企画管理部 スマートシティ推進課   # optional 担当課 (the dashboard card; notebooks that declare
                                  # `department` get it too), or one per notebook:
                                  # department: {03_probe_slowdowns: 道路計画課, 05_school_routes: 学校安全課}
    notebooks:                    # the notebooks `make reports` builds for this city, each with values
      03_probe_slowdowns:         #   for that notebook only (empty = none)
      05_school_routes: {n_schools: 6}
    params:                       # the city's real inputs and figures; every notebook takes those it declares
      accidents_path: data/raw/npa-accidents-toyama/npa_accidents_2019-2021_pref50_toyama.gpkg

A run's parameters are: the notebook's defaults < the profile's values the notebook declares (``city_code``
from ``code``, ``params``, then the notebook's own entry) < a ``--params`` set < ``-p`` overrides.
A city without a profile runs from its code alone (``ebpm run NB --city 12204``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import paths
from ..errors import ParameterError
from . import params as P

KEYS = {"code", "name", "department", "notebooks", "params"}


@dataclass(frozen=True)
class CityProfile:
    code: str
    name: str
    department: str | dict = ""   # 担当課: one for every notebook, or {notebook: 担当課}
    notebooks: dict[str, dict] = field(default_factory=dict)  # notebook → its own values
    params: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def applies_to(self, notebook: str) -> bool:
        return notebook in self.notebooks

    def department_for(self, notebook: str) -> str:
        """The 担当課 the profile names for ``notebook`` ("" when none)."""
        if isinstance(self.department, dict):
            return str(self.department.get(notebook) or "")
        return self.department

    def values_for(self, nb_path: Path) -> dict[str, Any]:
        """The profile's values that the notebook declares, validated against its parameters."""
        spec = P.inspect_parameters(nb_path)
        if "city_code" not in spec:
            raise ParameterError("--city", f"{nb_path.stem} takes no city (no `city_code` parameter)",
                                 expected="a notebook with a city_code parameter")
        dept = self.department_for(nb_path.stem)
        base = {"city_code": self.code} | ({"department": dept} if dept else {})
        values = {k: v for k, v in (base | self.params).items() if k in spec}
        values |= self.notebooks.get(nb_path.stem) or {}
        where = paths.relative(self.path) if self.path else f"city {self.code}"
        try:
            return P.validate(nb_path, values)
        except ParameterError as e:
            raise ParameterError(where, str(e)) from None


def _load(path: Path) -> CityProfile:
    from .. import geo
    where = paths.relative(path)
    data = P.load_params_file(path)
    unknown = set(data) - KEYS
    if unknown:
        raise ParameterError(where, f"unknown keys {sorted(unknown)}", expected=f"keys among {sorted(KEYS)}")
    code = data.get("code")
    if not isinstance(code, str):
        raise ParameterError(where, f"code is {code!r}",
                             expected='the 5-digit 標準地域コード as a quoted string, e.g. code: "16201"')
    ref = geo.resolve_city(code, param=f"{where}: code")
    if ref.code != code:
        raise ParameterError(where, f"code {code!r} is {ref.code} {ref.name}", expected="the 5-digit code")
    if path.stem != code:
        raise ParameterError(where, f"file name does not match code {code}", expected=f"notebooks/cities/{code}.yml")
    name = data.get("name")
    if name is not None and name not in (ref.name, ref.full_name):
        raise ParameterError(where, f"name {name!r} does not match code {code} ({ref.full_name})",
                             expected=f"name: {ref.name}, or no name")
    notebooks = data.get("notebooks") or {}
    if isinstance(notebooks, list):
        notebooks = {n: {} for n in notebooks}
    if not isinstance(notebooks, dict):
        raise ParameterError(where, "notebooks is not a list or mapping",
                             expected="notebook names (with optional values)")
    valid = P.list_notebooks()
    for nb, vals in notebooks.items():
        if nb not in valid:
            raise ParameterError(where, f"unknown notebook {nb!r}", expected=f"one of {', '.join(valid)}")
        if vals is not None and not isinstance(vals, dict):
            raise ParameterError(where, f"values for {nb} are not a mapping", expected="name: value lines")
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise ParameterError(where, "params is not a mapping", expected="name: value lines")
    declared = {k for nb in valid for k in P.inspect_parameters(P.notebook_path(nb))}
    stray = sorted(set(params) - declared)
    if stray:
        raise ParameterError(where, f"params {stray} are declared by no notebook",
                             expected="names of notebook parameters (ebpm list -v)")
    dept = data.get("department") or ""
    if isinstance(dept, dict):
        bad = sorted(set(dept) - set(valid))
        if bad:
            raise ParameterError(where, f"department names unknown notebooks {bad}",
                                 expected=f"department: {{notebook: 課名}} with notebooks among {', '.join(valid)}")
        dept = {k: str(v) for k, v in dept.items()}
    elif not isinstance(dept, str):
        raise ParameterError(where, f"department is {dept!r}", expected="a 課名, or a mapping notebook: 課名")
    return CityProfile(code, ref.name, dept,
                       {k: dict(v or {}) for k, v in notebooks.items()}, dict(params), path)


def cities_dir() -> Path:
    """``notebooks/cities`` (follows ``paths.NOTEBOOKS_DIR``)."""
    return paths.NOTEBOOKS_DIR / "cities"


def list_profiles(directory: Path | None = None) -> list[CityProfile]:
    d = directory or cities_dir()
    return [_load(p) for p in sorted(d.glob("*.yml"))]


def profile(city: str, directory: Path | None = None) -> CityProfile:
    """The profile of ``city`` (code or name): its YAML file, or a bare profile (the code alone)."""
    from .. import geo
    ref = geo.resolve_city(city, param="--city")
    p = (directory or cities_dir()) / f"{ref.code}.yml"
    return _load(p) if p.exists() else CityProfile(ref.code, ref.name)
