# trainyard — the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov pins old boto3/botocore, so it lives in a venv of its own
CHECKOV := $(VENV)/checkov/bin/checkov
# the benchmark's peer, MLServer, pins its own versions, so it too lives in a venv of its own
MLSERVER := $(VENV)/mlserver/bin/mlserver
SUDO := $(if $(filter 0,$(shell id -u)),,sudo -n)

.PHONY: env demo test lint typecheck layers unit integration e2e bench bench-platform manifests proto up clean chromium \
	terraform

$(STAMP): requirements.lock pyproject.toml
	@command -v bwrap >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq bubblewrap; } >/dev/null 2>&1 \
	  || echo "warning: could not install bubblewrap: local trainers will run unsandboxed (TRAINYARD_SANDBOX=auto)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)
	@echo 'the `trainyard` command is in $(CURDIR)/$(BIN): put it on your PATH with  eval "$$(make -s env)"'

# Prints the line that puts the venv's `trainyard` on PATH:  eval "$(make -s env)"
env: $(STAMP)
	@echo 'export PATH="$(CURDIR)/$(BIN):$$PATH"'

proto: $(STAMP)
	$(BIN)/python -m predictor.build_proto

DEMO_ARGS ?=
demo: $(STAMP) proto
	$(BIN)/python examples/demo.py $(DEMO_ARGS)

up: $(STAMP) proto
	$(BIN)/trainyard up

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP) proto
	$(BIN)/mypy --strict functions sdk predictor

layers: $(STAMP)
	$(BIN)/lint-imports

$(CHECKOV):
	$(PYTHON) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/python -m pip install --quiet checkov==3.3.30

# the web UI's browser tests drive Debian's chromium; without it they skip, saying why
chromium:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; } >/dev/null 2>&1 \
	  || echo "warning: could not install chromium: the web UI's browser tests will be skipped"

test: lint typecheck layers proto chromium $(CHECKOV)
	TRAINYARD_CHECKOV=$(CHECKOV) $(BIN)/pytest -q

unit: $(STAMP) proto
	$(BIN)/pytest -q tests/unit

integration: $(STAMP) proto
	$(BIN)/pytest -q tests/integration

e2e: $(STAMP) proto chromium
	$(BIN)/pytest -q tests/e2e

# pip install .[devstack] into a scratch venv, then `trainyard up` to /healthz (minutes: not in `make test`)
install-test: $(STAMP)
	TRAINYARD_TEST_INSTALL=1 $(BIN)/pytest -q -rs tests/integration/packaging

$(MLSERVER):
	$(PYTHON) -m venv $(VENV)/mlserver
	# uvloop 0.21: 1.7.1's workers call asyncio.get_event_loop() before a loop exists, which newer uvloop refuses
	$(VENV)/mlserver/bin/python -m pip install --quiet mlserver==1.7.1 uvloop==0.21.0 \
	  || echo "warning: could not install MLServer 1.7.1: the benchmark runs without its side-by-side table"

bench: $(STAMP) proto $(MLSERVER)
	@command -v wrk >/dev/null 2>&1 && command -v h2load >/dev/null 2>&1 || \
	  { $(SUDO) apt-get install -y -qq wrk nghttp2-client >/dev/null 2>&1 \
	    || echo "warning: wrk/h2load unavailable: the benchmark falls back to Python load generators"; }
	$(BIN)/python -m bench.run

# terraform fmt -check and validate with the offline AWS provider (TF_PLUGIN_DIR); `make test` also
# applies the dev configuration to moto (tests/integration/terraform). Skipped where terraform is absent.
TF_PLUGIN_DIR ?= /opt/tf-plugins
terraform:
	@command -v terraform >/dev/null 2>&1 || { echo "terraform not installed: skipping terraform fmt/validate"; exit 0; }; \
	  set -e; work=$$(mktemp -d); cp -r terraform/. $$work; \
	  terraform -chdir=terraform fmt -check -recursive; \
	  TF_CLI_CONFIG_FILE=/dev/null terraform -chdir=$$work init -backend=false -plugin-dir=$(TF_PLUGIN_DIR) -input=false >/dev/null; \
	  TF_CLI_CONFIG_FILE=/dev/null terraform -chdir=$$work validate; rm -rf $$work

# The platform at scale: admission, sweep items read, fairness, comparison, bursts, ingress
bench-platform: $(STAMP)
	$(BIN)/python -m bench.platform_run $(BENCH_ARGS)

manifests: $(STAMP)
	$(BIN)/python -m functions.deploy.manifests

clean:
	rm -rf $(VENV) .trainyard .mypy_cache .ruff_cache .pytest_cache predictor/generated
