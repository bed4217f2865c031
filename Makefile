# ebpm-analysis — `make help` lists the targets.
# Two commands for a new user: `make reports` (builds every report) and `make test`.

SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PY := $(BIN)/python
EBPM := $(BIN)/ebpm

NOTEBOOKS := $(wildcard notebooks/*.ipynb)
PARAMS := $(shell find notebooks/params notebooks/cities -name '*.yml' 2>/dev/null)
SOURCES := $(shell find src -type f \( -name '*.py' -o -name '*.css' -o -name '*.html' -o -name '*.js' -o -name '*.yml' \) 2>/dev/null)
DATA := $(shell find data/raw data/catalog -type f 2>/dev/null)

.PHONY: help venv kernel reports run test test-fast bench workshop lab clean distclean lock

help: ## List the targets
	@echo "ebpm-analysis — make targets"
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required (found " + sys.version.split()[0] + "); set PYTHON=python3.11"'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name ebpm --display-name "Python (ebpm)" >/dev/null
	@touch $@

venv: $(STAMP) ## Create .venv from requirements.lock and register the `ebpm` Jupyter kernel

kernel: $(STAMP) ## (Re)register the project kernel `ebpm` inside .venv
	$(PY) -m ipykernel install --sys-prefix --name ebpm --display-name "Python (ebpm)"

build/.reports-done: $(STAMP) $(NOTEBOOKS) $(PARAMS) $(SOURCES) $(DATA)
	@mkdir -p build
	$(EBPM) build-all $(if $(JOBS),--jobs $(JOBS))
	$(EBPM) audit   # disclosure audit of every built report and export: fails naming file, column and row
	@touch $@

reports: build/.reports-done ## Build every report (reports/*.html + reports/index.html) on the bundled data, then run the disclosure audit (ebpm audit); no work if nothing changed; JOBS=N notebooks in parallel (default: all cores)

run: $(STAMP) ## Run one notebook: make run NB=01_census_commuting [CITY=16201] [PARAMS=estat_table]
	@test -n "$(NB)" || (echo "usage: make run NB=<notebook> [CITY=<code or name>] [PARAMS=<variant or file.yml>]"; exit 2)
	$(EBPM) run $(NB) --params $(or $(PARAMS),default) $(if $(CITY),--city $(CITY))

# two pytest workers on two cores: one thread each for the numerical libraries in every kernel they start
# (their default of one thread per core makes busy runs wait on each other: pipeline.execute._share_cores)
TEST_THREADS := OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

# Files are handed to the two workers in collection order (--no-loadscope-reorder): tests/national and
# tests/notebooks (the notebook runs, the longest files) first, nbval's notebooks (10-20 s each) last, so that the
# workers finish together. xdist's default order (most tests per file first) left the files with few but long
# tests (the Spark report, test_run_all, the national runs) for the end.
test: $(STAMP) ## Run all tests: unit tests, nbval over notebooks/, and every notebook through the CLI
	@sh .ci/browser
	$(TEST_THREADS) $(BIN)/pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=40

test-fast: $(STAMP) ## Unit tests only (no notebook execution)
	$(TEST_THREADS) $(BIN)/pytest -n 2 --dist loadfile -m "not notebooks" tests/unit

bench: $(STAMP) ## Benchmarks (speed and memory) → build/bench/*.json and build/bench/summary.md
	$(PY) -m ebpm_analysis.bench $(BENCH_ARGS)

workshop: $(STAMP) ## Workshop kit: student (answers removed) and instructor copies → build/workshop/<notebook>/
	$(EBPM) workshop

lab: $(STAMP) ## Start JupyterLab (pinned in requirements.lock) on notebooks/ with the project kernel `ebpm`
	$(BIN)/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

clean: ## Remove build products (reports, executed notebooks, processed and generated data; keeps the KPI register)
	rm -rf build reports/*.html reports/*_files data/interim/*
	find data/processed -mindepth 1 -maxdepth 1 ! -name kpi_register.sqlite ! -name .gitkeep -exec rm -rf {} +
	@touch reports/.gitkeep data/processed/.gitkeep data/interim/.gitkeep

distclean: clean ## Also remove the virtual environment
	rm -rf $(VENV)

lock: ## Re-resolve requirements.lock from pyproject.toml in a scratch venv (maintainers)
	rm -rf build/lockenv && $(PYTHON) -m venv build/lockenv
	build/lockenv/bin/pip install --quiet --upgrade pip && build/lockenv/bin/pip install --quiet . pytest-xdist
	build/lockenv/bin/pip freeze --exclude-editable | grep -v '^ebpm-analysis' > requirements.lock
	rm -rf build/lockenv
