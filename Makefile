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
	bench-replicas bench-oidc

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

## The integration tests run again on PostgreSQL: those whose SQL differs there or that took
## a database-specific path (every API service through test_api; registry writes, deletion and
## GC; several processes on one database; login throttling; hostile input, NUL among it;
## webhooks, usage and quotas, retention, restore, pull statistics; /metrics; pull-through
## and replication; single sign-on). The others (portal pages, LDAP, TLS, storage backends,
## signatures, logs...) run on SQLite only, so that CI stays within its time;
## tests/e2e/test_replicas.py runs on PostgreSQL regardless.
PG_TESTS := test_api.py test_hostile_client.py test_manifests.py test_blobs_and_uploads.py \
	test_gc.py test_deletion.py test_shared_database.py test_uploads_across_processes.py \
	test_workers.py test_login_security.py test_webhooks.py test_storage_usage.py \
	test_retention.py test_tag_restore.py test_pull_statistics.py test_metrics.py \
	test_pull_through.py test_replication.py test_oidc_login.py

## Install what the tests need and run every test; the database-bound ones again on PostgreSQL.
test: system-deps install-dev
	$(BIN)/ruff check dtr tests app.py bench
	$(BIN)/python -m pytest -q --durations=25
	DTR_TEST_DATABASE=postgresql $(BIN)/python -m pytest -q --durations=25 \
		$(addprefix tests/integration/,$(PG_TESTS))

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

## Single sign-on: a whole sign-in with a real OpenID provider; floods of its endpoints.
bench-oidc: system-deps install-dev
	$(BIN)/python bench/bench_oidc.py
