# The two commands of the README:  make run  |  make test
SHELL := /bin/bash
PY := .venv/bin/python
STACK := PYTHONPATH=$(CURDIR) $(PY) -m devstack
# ruff (lint + format), mypy, and the import contracts of pyproject.toml (import-linter)
LINT := $(PY) -m ruff check . && $(PY) -m ruff format --check . && $(PY) -m mypy && PYTHONPATH=$(CURDIR) .venv/bin/lint-imports


.PHONY: help setup up down status run smoke reproduce test test-unit lint lock clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup:  ## venv from the lock + lakeFS binary (cached under ~/.cache/retrain-dags)
	@bash scripts/setup.sh

up: setup  ## start lakeFS, MLflow, S3 landing, Ray and Airflow on loopback
	@$(STACK) up

down:  ## stop every service of the local stack
	@if [ -x $(PY) ]; then $(STACK) down; else echo "Nothing running (no venv)."; fi

status:  ## state and URL of each service
	@$(STACK) status

run: up  ## setup + up + nightly retraining of 3 generated dates, then print the summaries
	@$(STACK) run

smoke: up  ## setup + up + the platform smoke DAG (one object through every service)
	@$(STACK) smoke

reproduce: up  ## reproduce a registered model with DVC: make reproduce MODEL=pump_fleet VERSION=2
	@test -n "$(MODEL)" -a -n "$(VERSION)" || { echo "usage: make reproduce MODEL=<name> VERSION=<n>" >&2; exit 2; }
	@$(STACK) reproduce --model $(MODEL) --version $(VERSION)

test: setup  ## lint, then every test layer (unit, dags, static, integration, e2e) against real services
	@$(LINT)
	@PYTHONPATH=$(CURDIR) $(PY) -m pytest $(PYTEST_ARGS)

test-unit: setup  ## only the fast layers (no services)
	@PYTHONPATH=$(CURDIR) $(PY) -m pytest -m "unit or dags or static" $(PYTEST_ARGS)

lint: setup  ## ruff + mypy + import contracts (the product never imports the dev stack; layers; no cycles)
	@$(LINT)

lock:  ## re-resolve requirements.txt into constraints.txt in ONE pip run
	@bash scripts/lock.sh

clean: down  ## remove local state (.local); keeps the cached venv and lakeFS binary
	rm -rf .local
