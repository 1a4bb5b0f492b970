# Relay: `make run` serves a local install, `make test` runs every check.
# Needs only Python 3.11 or newer and access to PyPI.

# The first interpreter on PATH that is Python 3.11 or newer; override with `make PYTHON=...`.
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11; do \
	if $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then \
	echo $$p; break; fi; done)

VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --quiet --disable-pip-version-check

.DEFAULT_GOAL := help
.PHONY: help run test lint fmt clean

help:
	@echo "make run    install, migrate var/relay.db, load clients/, print demo logins, serve"
	@echo "make test   install the dev dependencies, then ruff, mypy, lint-imports and the whole pytest suite"
	@echo "make lint   ruff, mypy and lint-imports only"
	@echo "make fmt    format and auto-fix with ruff"
	@echo "make clean  remove .venv and caches (keeps var/)"

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "make: Relay needs Python 3.11 or newer on PATH (or make PYTHON=...)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# Stamp files: reinstall only when pyproject.toml changes (the install is editable, so code
# changes need no reinstall).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) install -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP) install -e '.[dev]'
	@touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/relay db upgrade
	$(BIN)/relay clients sync --if-empty clients/
	$(BIN)/relay demo
	exec $(BIN)/relay serve

test: $(VENV)/.installed-dev
	$(BIN)/ruff check
	$(BIN)/ruff format --check
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check
	$(BIN)/ruff format --check
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: $(VENV)/.installed-dev
	$(BIN)/ruff format
	$(BIN)/ruff check --fix

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
