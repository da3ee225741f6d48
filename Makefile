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
CONFIG ?= configs/chicago_taxi.yaml

.PHONY: help setup run test test-all test-fast compile clean
help:  ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

setup: $(VENV)/.synced  ## create .venv from uv.lock

run: setup  ## run the whole pipeline locally on the embedded taxi sample
	$(BIN)/taxi-pipeline run-local --config $(CONFIG)

test: setup  ## the default test suite (includes one end-to-end kfp.local run)
	$(BIN)/pytest -m "not slow"

test-all: setup  ## every test, the slow ones too
	$(BIN)/pytest

test-fast: setup  ## unit tests only (no kfp.local pipeline runs)
	$(BIN)/pytest -m "not slow and not pipeline"

compile: setup  ## regenerate compiled/ from the pipeline code
	$(BIN)/taxi-pipeline compile --config $(CONFIG) --output-dir compiled

clean:  ## remove run artifacts (keeps .venv)
	rm -rf artifacts
