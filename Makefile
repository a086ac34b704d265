# Quick start: `make run` (broker on the embedded default) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test test-slow lint bench venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Stamps record which extras are installed and are redone when pyproject.toml changes.
$(VENV)/.stamp-base: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.stamp-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(VENV)/.stamp-base $@

venv: $(VENV)/.stamp-base

run: $(VENV)/.stamp-base
	$(BIN)/odradek broker start

# The suite runs on PYTEST_WORKERS processes (pytest-xdist): most tests wait on brokers,
# clients and timeouts, so 2 workers halve the run on 2 cores.  PYTEST_WORKERS=0 runs it in
# this process (e.g. to use a debugger).
PYTEST_WORKERS ?= 2
PYTEST_PARALLEL = $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS))

# `make test` runs the suite in two pytest runs, the pure core's tests (unit, simulation,
# fuzz) then the rest: together every test, as one `pytest` would, but measured 8.5 min
# against 13-14 min in one run (the long-lived workers of a single run slow down as they go).
CORE_TESTS = tests/unit tests/sim tests/fuzz

test: $(VENV)/.stamp-test
	$(BIN)/python -m pytest -q $(PYTEST_PARALLEL) $(CORE_TESTS)
	$(BIN)/python -m pytest -q $(PYTEST_PARALLEL) $(addprefix --ignore=,$(CORE_TESTS))

test-slow: $(VENV)/.stamp-test
	$(BIN)/python -m pytest -q -m slow -p no:randomly $(PYTEST_PARALLEL)

lint: $(VENV)/.stamp-test
	$(BIN)/ruff check client broker tests bench
	$(BIN)/ruff format --check client broker tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	@# Every test module imports (ruff and mypy do not check names imported from tests/).
	$(BIN)/python -m pytest --collect-only -q -m 'slow or not slow' > /dev/null

# Micro benchmarks (bench/micro/README.md).  Runs are saved under bench/baselines/<machine id>/;
# bench and bench-check compare with BENCH_BASELINE (default: the newest run saved for this
# machine id, else the newest of any).  BENCH_ARGS adds pytest options (e.g. -k replication).
BENCH_STORAGE := bench/baselines
BENCH_NAME ?= baseline
BENCH_FAIL ?= median:30%
BENCH_BASELINE ?= $(shell $(BIN)/python -m bench.micro.baseline $(BENCH_STORAGE))
BENCH_RUN = $(BIN)/python -m pytest bench/micro -q -p no:randomly --benchmark-enable \
	--benchmark-only --benchmark-storage=file://$(BENCH_STORAGE) \
	--benchmark-columns=min,median,mean,iqr,outliers,rounds $(BENCH_ARGS)
BENCH_COMPARE = $(if $(BENCH_BASELINE),--benchmark-compare=$(BENCH_BASELINE) \
	--benchmark-group-by=name)

.PHONY: bench-save bench-check

bench: $(VENV)/.stamp-test
	$(BENCH_RUN) $(BENCH_COMPARE)

bench-save: $(VENV)/.stamp-test
	$(BENCH_RUN) --benchmark-save=$(BENCH_NAME)

bench-check: $(VENV)/.stamp-test
	$(if $(BENCH_BASELINE),,$(error no saved run under $(BENCH_STORAGE): make bench-save first))
	$(BENCH_RUN) $(BENCH_COMPARE) --benchmark-compare-fail=$(BENCH_FAIL)

clean:
	rm -rf $(VENV) odradek-data
