# Trestle: `make run` serves the portal, `make test` runs the suite. `make help` lists the rest.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
PORT ?= 5000
HTMX_VERSION := 2.0.11
export PYTHONDONTWRITEBYTECODE := 1

.DEFAULT_GOAL := help
.PHONY: help run test test-fast test-real worker lint format migrate seed lock vendor-htmx bench screenshots clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Trestle needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	touch $@

install: $(VENV)/.installed ## Create .venv and install the pinned dependencies

migrate: $(VENV)/.installed ## Apply database migrations
	$(FLASK) db upgrade

seed: migrate ## Seed the demo data (idempotent) and print the demo logins
	$(FLASK) demo seed

run: seed ## Install, migrate, seed and serve on http://127.0.0.1:$(PORT)
	$(FLASK) serve --port $(PORT)

worker: $(VENV)/.installed ## Run the outbox relay, RQ workers and cron (needs REDIS_URL)
	$(FLASK) jobs work

test: $(VENV)/.installed ## Run the test suite (fast tier; plus the real tier when PostgreSQL and Redis answer)
	$(BIN)/python tests/run.py

test-fast: $(VENV)/.installed ## Run only the fast tier (SQLite, in-process jobs)
	$(BIN)/python tests/run.py --tier fast

test-real: $(VENV)/.installed ## Run only the real tier (PostgreSQL, Redis, RQ workers)
	$(BIN)/python tests/run.py --tier real

lint: $(VENV)/.installed ## Check style with ruff
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed ## Format the code with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(VENV)/.installed ## Run the benchmark harness (needs PostgreSQL)
	$(BIN)/python bench/run.py

screenshots: $(VENV)/.installed ## Retake the README's screenshots from a fresh demo (needs Chromium)
	$(BIN)/python tests/journeys/readme_screenshots.py

lock: ## Re-resolve requirements.lock from pyproject.toml in a scratch venv
	rm -rf /tmp/trestle-lock && $(PYTHON) -m venv /tmp/trestle-lock
	/tmp/trestle-lock/bin/pip install --quiet '.[dev]'
	/tmp/trestle-lock/bin/pip freeze --exclude trestle > requirements.lock

vendor-htmx: ## Fetch htmx $(HTMX_VERSION) from npm into static/vendor
	cd /tmp && npm pack htmx.org@$(HTMX_VERSION) && tar xzf htmx.org-$(HTMX_VERSION).tgz
	cp /tmp/package/dist/htmx.min.js static/vendor/htmx-$(HTMX_VERSION).min.js

clean: ## Remove the virtualenv and local data
	rm -rf $(VENV) instance .pytest_cache
