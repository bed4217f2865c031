"""environment.yml (conda route) lists the same packages as pyproject.toml (pip route)."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[2]
CONDA_TO_PYPI = {"python-duckdb": "duckdb"}
CONDA_ONLY = {"python", "quarto", "pip"}


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ \[]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_matches_pyproject():
    pp = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = {_name(d) for d in pp["dependencies"]}
    for extra in pp.get("optional-dependencies", {}).values():
        wanted |= {_name(d) for d in extra}
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    have = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            have |= {_name(d) for d in dep["pip"] if not d.startswith("-e")}
        else:
            n = _name(dep)
            if n not in CONDA_ONLY:
                have.add(CONDA_TO_PYPI.get(n, n))
    assert have == wanted, \
        f"only in environment.yml: {sorted(have - wanted)}; only in pyproject: {sorted(wanted - have)}"


def test_lock_pins_every_dependency_exactly():
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8").splitlines()
    pinned = {_name(line) for line in lock if "==" in line}
    assert all("==" in line for line in lock if line.strip() and not line.startswith("#"))
    pp = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    missing = {_name(d) for d in pp["dependencies"]} - pinned
    assert not missing, f"requirements.lock lacks {sorted(missing)}"
