# Quick start: `make run` serves the API with demo data; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
STAMP := $(VENV)/.installed
export FEDERATION_DATABASE_URL ?= sqlite:///$(CURDIR)/instance/federation.db

.PHONY: run test test-sqlite test-postgresql lint format openapi bench bench-recurrence bench-scale \
	bench-federation clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Links in feeds, pages and signed federation objects name this origin: follow PORT.
run: export FEDERATION_BASE_URL ?= http://127.0.0.1:$(PORT)
run: $(STAMP)
	mkdir -p instance
	$(BIN)/flask --app wsgi db upgrade
	$(BIN)/flask --app wsgi load-demo
	@echo
	@echo "  API:  http://127.0.0.1:$(PORT)/api/v1/events   (OpenAPI: /api/openapi.json)"
	@echo "  Mint an instance-admin token in another terminal with:"
	@echo "      $(BIN)/flask --app wsgi create-admin-token"
	@echo
	$(BIN)/flask --app wsgi run --host 127.0.0.1 --port $(PORT)

# The SQLite leg always runs. The PostgreSQL leg runs when FEDERATION_TEST_DATABASE_URL names a
# server (each run creates and drops its own database there); in CI it is mandatory.
test: $(STAMP) lint test-sqlite test-postgresql

test-sqlite: $(STAMP)
	FEDERATION_TEST_BACKEND=sqlite $(BIN)/pytest

test-postgresql: $(STAMP)
	@if [ -n "$$FEDERATION_TEST_DATABASE_URL" ]; then \
		FEDERATION_TEST_BACKEND=postgresql $(BIN)/pytest; \
	elif [ "$$CI" = "true" ]; then \
		echo "FEDERATION_TEST_DATABASE_URL is not set: the PostgreSQL leg is mandatory in CI" >&2; exit 1; \
	else \
		echo "NOTE: PostgreSQL leg not run; set FEDERATION_TEST_DATABASE_URL, e.g." \
		     "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Benchmarks print their figures against a baseline measured in the same run.
bench: $(STAMP)
	$(BIN)/python bench/feeds.py

BENCH_POSTGRESQL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres

# Windows on old and new series, the home page with 1,000 series, 500 exdates (SQLite, ~2 min).
bench-recurrence: $(STAMP)
	$(BIN)/python bench/recurrence.py

# The same requests with and without a million past actions (PostgreSQL, ~3 min).
bench-scale: $(STAMP)
	$(BIN)/python bench/scale.py --server $(BENCH_POSTGRESQL)

# Two instances pulling 50,000 events over HTTP: needs a PostgreSQL server on which it may create
# (and drop) databases, and a few minutes; hence not part of `make bench`.
bench-federation: $(STAMP)
	$(BIN)/python bench/federation_sync.py --server $(BENCH_POSTGRESQL)

openapi: $(STAMP)
	FEDERATION_BASE_URL=http://127.0.0.1:5000 $(BIN)/flask --app wsgi openapi write --format=yaml openapi.yaml

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
