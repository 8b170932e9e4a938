# outcomes: two commands for a newcomer, `make report` and `make test`.
# Both create .venv on first use, install the kit (editable) and a Jupyter kernel named `outcomes`.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SCALE  ?= 1
SEED   ?= 42
PYTEST_ARGS ?= -n 2 --dist loadfile --no-loadscope-reorder --durations=30

.PHONY: setup demo ingest report lint test test-fast bench bench-refresh docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name outcomes --display-name "Python (outcomes)"
	touch $(STAMP)

setup: $(STAMP)  ## create .venv, install the kit and the `outcomes` kernel

demo: setup  ## generate the demo company's exports into data/raw
	$(BIN)/outcomes demo --scale $(SCALE) --seed $(SEED) --out data/raw

ingest: demo  ## load the exports into data/warehouse.duckdb
	$(BIN)/outcomes ingest --sources params/sources.yaml

report: ingest  ## run the monthly report pack on the demo data
	$(BIN)/outcomes run --config params/monthly.yaml

lint: setup  ## ruff check of the package, the tests and the recipes (rules in pyproject.toml)
	$(BIN)/ruff check lib tests docs/recipes

test: setup lint  ## the whole test suite (what .ci/run calls): ruff, unit, pipeline and browser tests, then every notebook under nbval
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	$(BIN)/python -m pytest -n 2 --dist loadfile --nbval-lax --nbval-current-env notebooks/

test-fast: setup  ## the unit tests only: no report packs, browser or Spark (see CONTRIBUTING.md)
	$(BIN)/python -m pytest $(PYTEST_ARGS) -m "not slow and not spark and not browser"

bench: setup  ## benchmarks (measurements, never assertions)
	$(BIN)/python benchmarks/run_pack.py --scale $(or $(BENCH_SCALE),10) $(BENCH_ARGS)

bench-refresh: setup  ## a monthly refresh of the warehouse against a full ingest (benchmarks/ingest_refresh.py)
	$(BIN)/python benchmarks/ingest_refresh.py --scale $(or $(BENCH_SCALE),10)

docs: setup  ## regenerate generated docs (data model, metric glossary)
	$(BIN)/outcomes docs

clean:
	rm -rf $(VENV) data/raw data/rejects data/warehouse.duckdb
