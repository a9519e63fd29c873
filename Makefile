# DTR: `make run` starts the registry, `make test` runs every test.
PYTHON ?= python3
# Let Python keep compiled modules: the tests start DTR's command line and servers hundreds
# of times, and each would compile every module again (seconds of CPU each).
unexport PYTHONDONTWRITEBYTECODE
VENV := .venv
BIN := $(VENV)/bin
INSTANCE ?= instance
BIND ?= 0.0.0.0:8443

.PHONY: run test lint format install install-dev system-deps bench bench-auth bench-pages \
	bench-replicas

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

install: $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt

install-dev: $(BIN)/python node_modules/.package-lock.json
	$(BIN)/pip install -q -r requirements-dev.txt

## npm packages (Azurite for the Azure storage tests), again whenever package-lock.json changes.
node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund

## Start DTR on its embedded default: SQLite + filesystem under instance/, HTTPS on 8443.
run: install
	$(BIN)/python app.py serve --bind $(BIND) --instance $(INSTANCE)

## The clients the tests drive (docker, skopeo, podman, buildah) and the reference registry.
system-deps:
	./scripts/install-system-deps.sh

## The integration tests that do not depend on the database (LDAP directory reads, the
## OpenAPI document, TLS and the server's lifecycle, the registry's address, storage backends
## and full disks, SQLite's own limits, the command line, settings pages): run on SQLite only,
## so that the PostgreSQL pass fits CI's time. Everything else runs on both.
PG_SKIP := test_ldap_directory.py test_openapi.py test_server_lifecycle.py \
	test_registry_address.py test_tls_handshake_log.py test_disk_full.py \
	test_database_full.py test_storage_pulls.py test_storage_migrate.py \
	test_storage_settings_api.py test_cli_usability.py test_license_api.py \
	test_general_settings_api.py test_smoke.py

## Install what the tests need and run every test; the integration suite again on PostgreSQL.
test: system-deps install-dev
	$(BIN)/ruff check dtr tests app.py bench
	$(BIN)/python -m pytest -q --durations=25
	DTR_TEST_DATABASE=postgresql $(BIN)/python -m pytest -q --durations=25 tests/integration \
		$(addprefix --ignore=tests/integration/,$(PG_SKIP))

lint: install-dev
	$(BIN)/ruff check dtr tests app.py bench
	$(BIN)/ruff format --check dtr tests app.py bench

format: install-dev
	$(BIN)/ruff format dtr tests app.py bench
	$(BIN)/ruff check --fix dtr tests app.py bench

## DTR and the reference registry side by side (see bench/README.md).
bench: system-deps install-dev
	bench/run.sh --big-upload-gib 1

## Logins: token requests per second by credential, a flood of bad logins (bench/README.md).
bench-auth: system-deps install-dev
	$(BIN)/python bench/bench_auth.py

## Portal pages at 10,000 tags and 10,000 repositories (bench/README.md).
bench-pages: install-dev
	$(BIN)/python bench/bench_pages.py

## 1, 2 and 3 replicas on PostgreSQL behind HAProxy, and one DTR on SQLite (bench/README.md).
bench-replicas: system-deps install-dev
	$(BIN)/python bench/bench_replicas.py
