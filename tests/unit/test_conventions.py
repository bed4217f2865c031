"""One convention for loaders and generators (issue 10): every ``io`` loader takes a keyword-only
``encoding`` whose detect spelling is ``"auto"`` and resolves its path through ``io.common.input_path``;
every ``synth.ensure_<case>(seed, *, city_code, out_dir=None, …)`` returns the folder of its ``FILES``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import ebpm_analysis.io as io_pkg
import ebpm_analysis.synth as synth_pkg


def _functions(pkg, prefix):
    for m in pkgutil.iter_modules(pkg.__path__):
        mod = importlib.import_module(f"{pkg.__name__}.{m.name}")
        for name, fn in inspect.getmembers(mod, inspect.isfunction):
            if name.startswith(prefix) and fn.__module__ == mod.__name__:
                yield f"{m.name}.{name}", fn


LOADERS = dict(_functions(io_pkg, "read_"))
GENERATORS = dict(_functions(synth_pkg, "ensure_"))


def test_there_are_loaders_and_generators():
    assert {"dispatch_log.read_dispatch_log", "counter_log.read_counter_log", "jma.read_jma_daily",
            "school_fixes.read_fixes", "stations.read_stations"} <= set(LOADERS)
    assert {"emergency.ensure_emergency", "school_routes.ensure_school_routes",
            "counter.ensure_counter"} <= set(GENERATORS)


@pytest.mark.parametrize("name", sorted(n for n, f in LOADERS.items() if "encoding" in inspect.signature(f).parameters))
def test_loader_encoding_is_keyword_only_and_auto_is_the_detect_spelling(name):
    p = inspect.signature(LOADERS[name]).parameters["encoding"]
    assert p.kind is inspect.Parameter.KEYWORD_ONLY, f"{name}: encoding must be keyword-only"
    assert isinstance(p.default, str) and p.default.strip(), f"{name}: default {p.default!r}; detect is spelled 'auto'"
    src = inspect.getsource(LOADERS[name])
    assert "detect_encoding(" not in src, f"{name}: use io.common.resolve_encoding(path, encoding)"


@pytest.mark.parametrize("name", sorted(LOADERS))
def test_loader_paths_go_through_the_project_root(name):
    src = inspect.getsource(LOADERS[name])
    assert "Path(path)" not in src, f"{name}: resolve the path with io.common.input_path (or paths.resolve)"


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generator_signature_and_files(name):
    fn = GENERATORS[name]
    params = inspect.signature(fn).parameters
    first = next(iter(params.values()))
    assert first.name == "seed", f"{name}: the seed comes first"
    for kw in ("city_code", "out_dir"):
        assert kw in params and params[kw].kind is inspect.Parameter.KEYWORD_ONLY, f"{name}: keyword-only {kw}"
    assert params["out_dir"].default is None
    mod = importlib.import_module(fn.__module__)
    assert isinstance(getattr(mod, "FILES", None), dict) and mod.FILES, f"{fn.__module__}: FILES"
