# trainyard — the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# checkov pins old boto3/botocore, so it lives in a venv of its own
CHECKOV := $(VENV)/checkov/bin/checkov
SUDO := $(if $(filter 0,$(shell id -u)),,sudo -n)

.PHONY: env demo test lint typecheck layers unit integration e2e bench manifests proto up clean

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

demo: $(STAMP) proto
	$(BIN)/python examples/demo.py

up: $(STAMP) proto
	$(BIN)/trainyard up

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP) proto
	$(BIN)/mypy --strict functions sdk predictor

layers: $(STAMP)
	$(BIN)/lint-imports

$(CHECKOV):
	$(PYTHON) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/python -m pip install --quiet checkov==3.3.30

test: lint typecheck layers proto $(CHECKOV)
	TRAINYARD_CHECKOV=$(CHECKOV) $(BIN)/pytest -q

unit: $(STAMP) proto
	$(BIN)/pytest -q tests/unit

integration: $(STAMP) proto
	$(BIN)/pytest -q tests/integration

e2e: $(STAMP) proto
	$(BIN)/pytest -q tests/e2e

# pip install .[devstack] into a scratch venv, then `trainyard up` to /healthz (minutes: not in `make test`)
install-test: $(STAMP)
	TRAINYARD_TEST_INSTALL=1 $(BIN)/pytest -q -rs tests/integration/packaging

bench: $(STAMP) proto
	@command -v wrk >/dev/null 2>&1 && command -v h2load >/dev/null 2>&1 || \
	  { $(SUDO) apt-get install -y -qq wrk nghttp2-client >/dev/null 2>&1 \
	    || echo "warning: wrk/h2load unavailable: the benchmark falls back to Python load generators"; }
	$(BIN)/python -m bench.run

manifests: $(STAMP)
	$(BIN)/python -m functions.deploy.manifests

clean:
	rm -rf $(VENV) .trainyard .mypy_cache .ruff_cache .pytest_cache predictor/generated
