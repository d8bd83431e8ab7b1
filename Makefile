# Tessera developer commands. Everything installs into ./.venv from pinned versions.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PROTO_FILES := $(shell find proto -name '*.proto')

.DEFAULT_GOAL := help
.PHONY: help run test fuzz lint format proto proto-check bench helm clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=23.2"
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP) ## Start PostgreSQL, NATS and every service; prints the gateway URL
	sh services/devstack/ensure-xmlsec1.sh
	$(BIN)/python -m services.devstack run

test: $(STAMP) ## Run the whole suite against real PostgreSQL, nats-server and Chromium
	sh tests/ensure-chromium.sh
	sh services/devstack/ensure-xmlsec1.sh
	sh tests/ensure-oidc-provider.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

fuzz: $(STAMP) ## schemathesis with 50 examples per operation (the suite runs 3)
	TESSERA_FUZZ_EXAMPLES=50 $(BIN)/python -m pytest tests/e2e/test_schemathesis.py $(PYTEST_ARGS)

lint: $(STAMP) ## ruff + mypy
	$(BIN)/ruff check services tests bench
	$(BIN)/ruff format --check services tests bench
	$(BIN)/mypy

format: $(STAMP) ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix services tests bench
	$(BIN)/ruff format services tests bench

proto: $(STAMP) ## Regenerate the gRPC stubs under proto/
	$(BIN)/python -m services.devstack.protogen proto

bench: $(STAMP) ## wrk drives the gateway and two baselines over 100,000 records; the cost of authorization; another tenant's cookie requests under a wrong-password login flood; a 1,000,000-row import and export; runs/s of a three-step workflow; a saved query against a bare external API and webhook deliveries/s; realtime fan-out to 1,000 subscribers on two gateways
	sh bench/ensure-wrk.sh
	$(BIN)/python -m bench.records
	$(BIN)/python -m bench.authz
	$(BIN)/python -m bench.logins
	$(BIN)/python -m bench.transfer
	$(BIN)/python -m bench.workflows
	$(BIN)/python -m bench.connectors
	$(BIN)/python -m bench.realtime

helm: ## Render the Helm chart (arrives with the operators issue)
	@echo "deploy/helm/ is filled in by the operators issue"

clean: ## Remove the virtualenv and local data
	rm -rf $(VENV) .data
