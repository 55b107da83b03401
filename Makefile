# jobdeck: `make run` brings everything up; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	mkdir -p var
	$(BIN)/jobdeck run

test: $(VENV)/.installed-dev
	$(BIN)/pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Figures, not tests: each prints a table beside its same-run baseline (docs/performance.md).
bench: $(VENV)/.installed-dev
	$(BIN)/python bench/fanout.py
	$(BIN)/python bench/progress_overhead.py
	$(BIN)/python bench/history.py
	$(BIN)/python bench/import_users.py
	$(BIN)/python bench/crash_recovery.py

clean:
	rm -rf var .pytest_cache
