# One entry point for people and CI. `make dev` and `make test` bootstrap .venv themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export XDG_RUNTIME_DIR ?= $(CURDIR)/.data/run
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true

.PHONY: dev test lint fmt typecheck migrate lock clean help

help:
	@echo "make dev      start PostgreSQL, S3/SQS (moto) and the API on http://127.0.0.1:8000"
	@echo "make test     ruff, mypy and the whole pytest suite (with coverage)"
	@echo "make lint     ruff + mypy only"
	@echo "make fmt      format and auto-fix with ruff"
	@echo "make migrate  apply Alembic migrations to DATABASE_URL (or the local .data/pg)"
	@echo "make lock     re-resolve requirements*.lock from pyproject.toml"
	@echo "make clean    remove .venv, .data, caches and build output"

# Re-installs only when a lock file or pyproject.toml changes.
$(STAMP): requirements-dev.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

dev: $(STAMP)
	$(BIN)/python -m app.local

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest --cov --cov-report=term $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrate: $(STAMP)
	$(BIN)/python -m app.local migrate

lock: $(STAMP)
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml
	$(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links --extra dev -o requirements-dev.lock pyproject.toml

clean:
	rm -rf $(VENV) .data cdk.out build .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
