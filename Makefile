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

.PHONY: help setup setup-serving setup-browser setup-promtool setup-flink run loop serve test test-all test-fast lint bench compile clean terraform-go-tools terraform-tools terraform-check
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

loop: setup setup-serving  ## the monitoring loop end to end on this machine: train, serve, drift, retrain, canary, promote/rollback
	$(BIN)/tabml loop --config $(CONFIG)

serve: setup setup-serving  ## serve the newest model `make run` pushed for CONFIG on 127.0.0.1:8080 (KServe v1 + v2)
	$(BIN)/tabml serve --config $(CONFIG)

lint: setup  ## ruff (lint + format check) and import-linter's layer contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=serving $(BIN)/lint-imports

test: setup setup-serving setup-browser setup-promtool lint terraform-check  ## lint, terraform checks, then the default test suite (includes the end-to-end kfp.local runs)
	$(BIN)/pytest -m "not slow"
	$(SERVING)/bin/pytest tests/serving -m "not slow"

test-all: setup setup-serving setup-browser setup-promtool setup-flink terraform-check  ## every test, the slow ones too (Flink's included)
	$(BIN)/pytest
	$(SERVING)/bin/pytest tests/serving

test-fast: setup setup-serving setup-browser setup-promtool  ## unit tests only (no kfp.local pipeline runs)
	$(BIN)/pytest -m "not slow and not pipeline"
	$(SERVING)/bin/pytest tests/serving -m "not slow"

bench: setup setup-serving  ## the benchmarks (print figures, assert nothing): drift detection, monitoring 100k requests, serving, local run vs its one-process floor
	$(BIN)/python bench/drift.py
	$(BIN)/python bench/monitor.py
	$(SERVING)/bin/python bench/serving_bench.py
	$(SERVING)/bin/python bench/serving_load.py
	$(BIN)/python bench/local_floor.py
	$(BIN)/python bench/pipeline_scale.py --rows $(or $(SCALE_ROWS),100000)  # SCALE_ROWS="100000 1000000"

compile: setup  ## regenerate compiled/ from the pipeline code, for every example
	@for c in $(EXAMPLES); do $(BIN)/tabml compile --config $$c --output-dir compiled || exit 1; done

# terraform/ is checked offline: OpenTofu built from its Go module at a pinned version; the
# providers' schemas (google, helm, kubernetes, pinned in terraform/checks/uv.lock through
# their prebuilt cdktf packages) served by a schema-only stand-in plugin (terraform/checks/
# schemaprovider) from a local plugin dir, since no provider binary past v1.x can be had here.
# The Go build cache keeps the OpenTofu build (about 4 min cold on 2 cores) between runs.
TOFU_VERSION := 1.10.6
TOOLS := .tools
# The OpenTofu binary depends on nothing in the repo: keep it per version outside the clone.
TOFU_HOME ?= $(HOME)/.cache/tabml/opentofu-$(TOFU_VERSION)
TOFU := $(TOFU_HOME)/bin/tofu
TF_PLUGINS := $(TOOLS)/plugins
TF_CHECKS := terraform/checks
TF_PROVIDERS := google:6.50.0 helm:3.1.1 kubernetes:2.38.0
export GOFLAGS := -buildvcs=false

$(TF_CHECKS)/.venv/.synced: $(TF_CHECKS)/uv.lock $(TF_CHECKS)/pyproject.toml | $(UV)
	cd $(TF_CHECKS) && $(UV) sync --frozen --python $(PYTHON)
	@touch $@

GO_CHECK = @command -v go >/dev/null || { echo "The terraform checks build OpenTofu and a provider-schema plugin with Go >= 1.24, and \`go\` is not on PATH: install Go, or build them where it is (make terraform-go-tools; cloudbuild.yaml's go-tools step)" >&2; exit 1; }

$(TOFU):
	$(GO_CHECK)
	@mkdir -p $(TOFU_HOME)/bin
	go mod download github.com/opentofu/opentofu@v$(TOFU_VERSION)
	rm -rf $(TOFU_HOME)/src && cp -r "$$(go env GOMODCACHE)/github.com/opentofu/opentofu@v$(TOFU_VERSION)" $(TOFU_HOME)/src
	chmod -R u+w $(TOFU_HOME)/src
	@# its go.mod has replace directives, so `go install module@version` refuses it: build in place
	@# dev=no: a release build (`tofu version` says 1.10.6, not 1.10.6-dev), as OpenTofu's own release
	cd $(TOFU_HOME)/src && go build -ldflags "-X github.com/opentofu/opentofu/version.dev=no" -o $(TOFU).tmp ./cmd/tofu \
	  && mv $(TOFU).tmp $(TOFU)
	rm -rf $(TOFU_HOME)/src
	$(TOFU) version

$(TOOLS)/bin/schema-stand-in: $(wildcard $(TF_CHECKS)/schemaprovider/*)
	$(GO_CHECK)
	cd $(TF_CHECKS)/schemaprovider && go build -o $(abspath $@) .

$(TF_PLUGINS)/.built: $(TF_CHECKS)/.venv/.synced $(TF_CHECKS)/provider_schema.py $(TOOLS)/bin/schema-stand-in
	@mkdir -p $(TOOLS)/schemas
	$(TF_CHECKS)/.venv/bin/python $(TF_CHECKS)/provider_schema.py $(TOOLS)/schemas
	@for p in $(TF_PROVIDERS); do n=$${p%%:*}; v=$${p##*:}; \
	  d=$(TF_PLUGINS)/registry.opentofu.org/hashicorp/$$n/$$v/linux_amd64; mkdir -p $$d; \
	  cp $(TOOLS)/bin/schema-stand-in $$d/terraform-provider-$${n}_v$$v; cp $(TOOLS)/schemas/$$n.json $$d/schema.json; done
	@touch $@

terraform-go-tools: $(TOFU) $(TOOLS)/bin/schema-stand-in  ## the Go builds alone: OpenTofu and the schema plugin

terraform-tools: $(TOFU) $(TF_PLUGINS)/.built  ## build OpenTofu and the provider-schema plugin dir for the terraform checks

terraform-check: terraform-tools  ## terraform/: tofu fmt, validate, tofu test (mock providers), checkov
	TOFU=$(abspath $(TOFU)) TF_PLUGIN_DIR=$(abspath $(TF_PLUGINS)) $(TF_CHECKS)/.venv/bin/pytest tests/terraform

clean:  ## remove run artifacts (keeps .venv)
	rm -rf artifacts

# FlinkRunner starts Beam's Flink job server from a jar (--flink_job_server_jar). The registry
# here serves no job-server shadow jar: mvn fetches the runner's modules (images/flink-job-server.pom.xml)
# and a launcher jar names them on its manifest's Class-Path (one per line: a line holds 72 bytes).
FLINK_JOB_SERVER := .cache/beam/beam-runners-flink-1.19-job-server-2.62.0.jar
$(FLINK_JOB_SERVER): images/flink-job-server.pom.xml
	@command -v mvn >/dev/null && command -v jar >/dev/null || { echo "setup-flink needs Maven and a JDK (mvn, jar) on PATH" >&2; exit 1; }
	rm -rf $(@D)/lib && mkdir -p $(@D)/lib
	mvn -q -f $< dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(abspath $(@D))/lib
	{ echo "Main-Class: org.apache.beam.runners.flink.FlinkJobServerDriver"; echo "Class-Path: ."; \
	  for j in $(@D)/lib/*.jar; do echo "  lib/$${j##*/}"; done; } > $(@D)/manifest.txt
	jar cfm $@.tmp $(@D)/manifest.txt && mv $@.tmp $@

setup-flink: $(FLINK_JOB_SERVER)  ## fetch Beam's Flink job server with mvn (FlinkRunner's --flink_job_server_jar)

# The report test opens the evaluation report in headless Chromium (Debian's package).
setup-browser:  ## install Debian's chromium when it is missing (the report test uses it)
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# The serving tests check the Prometheus rules with promtool (Debian's prometheus package).
setup-promtool:  ## install Debian's prometheus (for promtool) when promtool is missing
	@command -v promtool >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus; }
