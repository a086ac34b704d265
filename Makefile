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

test: $(VENV)/.stamp-test
	$(BIN)/python -m pytest -q

test-slow: $(VENV)/.stamp-test
	$(BIN)/python -m pytest -q -m slow -p no:randomly

lint: $(VENV)/.stamp-test
	$(BIN)/ruff check client broker tests bench
	$(BIN)/ruff format --check client broker tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(VENV)/.stamp-test
	$(BIN)/python -m pytest bench/micro --benchmark-only -q

clean:
	rm -rf $(VENV) odradek-data
