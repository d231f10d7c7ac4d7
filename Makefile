# One entry point for people and CI. `make dev` and `make test` bootstrap .venv themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export XDG_RUNTIME_DIR ?= $(CURDIR)/.data/run
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
# Bytecode caches on, even where the environment turns them off (many container images do):
# the suite starts about a hundred Python processes, and without them each one compiles
# everything it imports from source again, pytest's assertion rewriting included.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: dev test browser lint fmt typecheck migrate lock clean help synth deploy-lambda deploy-lambda-mi deploy-fargate deploy-ec2 destroy

help:
	@echo "make dev      start PostgreSQL, S3/SQS (moto) and the API on http://127.0.0.1:8000"
	@echo "make test     ruff, mypy and the whole pytest suite (with coverage)"
	@echo "make lint     ruff + mypy only"
	@echo "make fmt      format and auto-fix with ruff"
	@echo "make migrate  apply Alembic migrations to DATABASE_URL (or the local .data/pg)"
	@echo "make lock     re-resolve every requirements*.lock from pyproject.toml"
	@echo "make fuzz     the reliability suite (tests/reliability), longer: more examples and load"
	@echo "make audit    pip-audit of the locks, then cdk-nag + cfn-lint (via make synth) summarised"
	@echo "make synth    CDK: all five stacks into cdk.out/ (cdk-nag + cfn-lint), no AWS account needed"
	@echo "make deploy-lambda|deploy-lambda-mi|deploy-fargate|deploy-ec2  npx cdk deploy Trident-Shared + that target"
	@echo "make lambda-bundle  Lambda packages for api + jobs in build/lambda/ (size report, zips)"
	@echo "make lambda-dev     the API through its Lambda handler (emulated) on http://127.0.0.1:9000"
	@echo "make importtime     -X importtime top 20 of the API handler's init (the Lambda Python, bundle)"
	@echo "make bench    cold start, load, cost per target: bench/results/<date>-<sha>/report.md"
	@echo "make bench-smoke    every bench stage, as short as possible, into build/bench-smoke/"
	@echo "make smoke URL=...  prove a running Trident works end to end (default make dev's URL)"
	@echo "make clean    remove .venv, .data, caches and build output"

# Re-installs only when a lock file or pyproject.toml changes. pip compiles bytecode one file at
# a time; compileall on every core after it takes about a quarter less (68 s instead of 90 s).
$(STAMP): requirements-dev.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-compile -r requirements-dev.lock
	$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

dev: $(STAMP)
	$(BIN)/python -m app.local

# The browser comes first: a machine that cannot have one stops before anything runs. Temporary
# files go under .data/pytest: another checkout's pytest resets /tmp/pytest-of-$USER to 0700,
# which locks out the PostgreSQL clusters (their own system user) started under it. mypy
# (about a minute with a cold cache) runs beside pytest and reports after it; pytest runs on
# workers, because much of the suite waits on subprocesses and queues (tests/conftest.py).
PYTEST_WORKERS ?= 4
test: browser $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@mkdir -p .data
	@echo "$(BIN)/mypy > .data/mypy.log &"; $(BIN)/mypy > .data/mypy.log 2>&1 & mypy=$$!; \
	CHROMIUM="$$(.ci/chromium)" $(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup \
		--basetemp=$(CURDIR)/.data/pytest --cov --cov-report=term $(PYTEST_ARGS); tests=$$?; \
	wait $$mypy; typed=$$?; echo "$(BIN)/mypy"; cat .data/mypy.log; \
	exit $$(( tests || typed ))

browser:
	@.ci/chromium >/dev/null

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

migrate: $(STAMP)
	$(BIN)/python -m app.local migrate

# One lock per way of running the app (pyproject.toml's extras): containers, the Lambda
# functions, the migrate function, and development (everything). A new lock starts from the
# containers' pins, so every lock names the same versions.
PIP_COMPILE = $(BIN)/pip-compile --quiet --strip-extras --no-emit-index-url --no-emit-find-links
lock: $(STAMP)
	$(PIP_COMPILE) --extra aws --extra server -o requirements.lock pyproject.toml
	for lock in requirements-lambda.lock requirements-migrate.lock; do \
		test -f $$lock || cp requirements.lock $$lock; done
	$(PIP_COMPILE) --extra lambda -o requirements-lambda.lock pyproject.toml
	$(PIP_COMPILE) --extra lambda --extra migrate -o requirements-migrate.lock pyproject.toml
	$(PIP_COMPILE) --all-extras -o requirements-dev.lock pyproject.toml

# --- CDK (cdk/): the CLI is pinned in package.json; `python` in cdk.json is the venv's.
CDK := PATH="$(CURDIR)/$(BIN):$$PATH" npx --no-install cdk
CDK_FLAGS ?=

node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# Bundles are cached in cdk.out by source hash; lint reads only the stacks just synthesized.
synth: $(STAMP) node_modules/.package-lock.json
	$(CDK) synth --quiet --no-notices $(CDK_FLAGS)
	$(BIN)/python -m cdk.lint cdk.out

# STAGE=dev|prod (deployment/settings.py STAGES) deploys the stage's stacks, Trident-<stage>-*.
STAGE ?=
STACKS := Trident$(if $(STAGE),-$(STAGE))
# Stack suffixes: lambda -> Lambda, lambda-mi -> LambdaMI, fargate -> Fargate, ec2 -> Ec2.
deploy-lambda deploy-lambda-mi deploy-fargate deploy-ec2: deploy-%: $(STAMP) node_modules/.package-lock.json
	$(CDK) deploy --no-notices $(if $(STAGE),-c stage=$(STAGE)) $(CDK_FLAGS) $(STACKS)-Shared $(STACKS)-$(subst ec2,Ec2,$(subst fargate,Fargate,$(subst lambda,Lambda,$(subst lambda-mi,LambdaMI,$*))))

destroy: $(STAMP) node_modules/.package-lock.json
	$(CDK) destroy --no-notices $(CDK_FLAGS) --all

# --- Lambda (deployment/lambda_bundle.py; CDK's local bundling runs the same command).
.PHONY: lambda-bundle lambda-dev importtime
LAMBDA_SOURCES := requirements-lambda.lock $(wildcard deployment/*.py) \
	$(shell find app handlers -type f -not -path '*/__pycache__/*' 2>/dev/null)

build/lambda/%.zip: $(STAMP) $(LAMBDA_SOURCES)
	$(BIN)/python -m deployment.lambda_bundle --function $* --out build/lambda/$*

lambda-bundle: build/lambda/api.zip build/lambda/jobs.zip

lambda-dev: build/lambda/api.zip
	$(BIN)/python -m bench.lambda_dev

importtime: build/lambda/api.zip
	$(BIN)/python -m bench coldstart --importtime build/lambda/api

# --- Reliability and security (tests/reliability; results in the README).
.PHONY: fuzz audit
# The same tests as `make test`, with more examples, bigger bursts and more reloads.
fuzz: $(STAMP)
	TRIDENT_FUZZ=1 $(BIN)/pytest tests/reliability -p no:cacheprovider $(PYTEST_ARGS)

# pip-audit on both locks (says so plainly when the vulnerability service is out of reach),
# then the CDK checks: `make synth` fails on unacknowledged cdk-nag or cfn-lint findings, and
# the summary lists every acknowledgment and fails on one without a reason.
audit: $(STAMP)
	$(BIN)/python -m tests.reliability.audit requirements.lock requirements-dev.lock
	@if [ -f cdk.json ]; then \
		$(MAKE) --no-print-directory synth && $(BIN)/python -m tests.reliability.audit --cdk cdk.out; \
	else echo "audit: no CDK app (cdk.json): cdk-nag and cfn-lint skipped"; fi

# --- Bench (bench/): about two minutes on two cores; long reliability runs are `make fuzz`.
.PHONY: bench bench-smoke smoke
bench: $(STAMP)
	$(BIN)/python -m bench all

bench-smoke: $(STAMP)
	$(BIN)/python -m bench all --quick --out build/bench-smoke

# One client's whole journey against a running Trident (make dev, or a deployed ApiUrl).
URL ?= http://127.0.0.1:8000
SMOKE_FLAGS ?=
smoke: $(STAMP)
	$(BIN)/python -m bench smoke --url $(URL) $(SMOKE_FLAGS)

clean:
	rm -rf $(VENV) .data cdk.out build .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
