# `make run` and `make test` work on a fresh machine: they install uv with pip when it is
# missing, then build .venv from uv.lock (never re-resolving it).
SHELL := /bin/bash
PYTHON ?= python3.11
UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/uv
endif
export UV_PYTHON_DOWNLOADS := never
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 2
VENV := .venv
BIN := $(VENV)/bin
# The serving environment is separate: kserve needs pandas>=2.2, the TFX libraries pandas<2.
SERVING := serving/.venv
# `make run EXAMPLE=penguins` runs another example; `make run CONFIG=my/config.yaml` your own.
EXAMPLE ?= chicago_taxi
CONFIG ?= examples/$(EXAMPLE)/config.yaml
EXAMPLES := $(sort $(wildcard examples/*/config.yaml))

.PHONY: help setup setup-serving setup-browser run serve test test-all test-fast lint compile clean
help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

setup: $(VENV)/.synced  ## create .venv from uv.lock

$(SERVING)/.synced: serving/uv.lock serving/pyproject.toml | $(UV)
	cd serving && $(UV) sync --frozen --python $(PYTHON)
	@touch $@

setup-serving: $(SERVING)/.synced  ## create serving/.venv from serving/uv.lock

run: setup  ## run the whole pipeline locally on an example (EXAMPLE=chicago_taxi) or CONFIG=...
	$(BIN)/tabml run-local --config $(CONFIG)

serve: setup setup-serving  ## serve the newest model `make run` pushed for CONFIG on 127.0.0.1:8080 (KServe v1 + v2)
	$(BIN)/tabml serve --config $(CONFIG)

lint: setup  ## ruff (lint + format check) and import-linter's layer contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=serving $(BIN)/lint-imports

test: setup setup-serving setup-browser lint  ## lint, then the default test suite (includes the end-to-end kfp.local runs)
	$(BIN)/pytest -m "not slow"
	$(SERVING)/bin/pytest tests/serving -m "not slow"

test-all: setup setup-serving setup-browser  ## every test, the slow ones too
	$(BIN)/pytest
	$(SERVING)/bin/pytest tests/serving

test-fast: setup setup-serving setup-browser  ## unit tests only (no kfp.local pipeline runs)
	$(BIN)/pytest -m "not slow and not pipeline"
	$(SERVING)/bin/pytest tests/serving -m "not slow"

compile: setup  ## regenerate compiled/ from the pipeline code, for every example
	@for c in $(EXAMPLES); do $(BIN)/tabml compile --config $$c --output-dir compiled || exit 1; done

clean:  ## remove run artifacts (keeps .venv)
	rm -rf artifacts

# The report test opens the evaluation report in headless Chromium (Debian's package).
setup-browser:  ## install Debian's chromium when it is missing (the report test uses it)
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
