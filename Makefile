# MintGuard developer tasks. `make` alone lists them.

VENV := .venv/.installed
PYTHON := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: help run migrate shell test test-sqlite test-postgres lint reliability bench bench-history profile clean

help: ## List the targets
	@awk -F ':.*## ' '/^[a-z-]+:.*## / { printf "  %-14s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

$(VENV): requirements.txt requirements-dev.txt
	python3 -m venv .venv
	.venv/bin/pip install -r requirements-dev.txt
	touch $@

run: export DEBUG = true
# The worker (manage.py run_worker) runs the webhook deliveries and the schedule; Ctrl-C stops both.
run: $(VENV) ## Migrate, seed demo data (prints the API key and login), serve on 127.0.0.1:8000 with a task worker
	$(PYTHON) manage.py migrate
	$(PYTHON) manage.py seed_demo
	$(PYTHON) scripts/with_worker.py -- $(PYTHON) manage.py runserver 127.0.0.1:8000

migrate: $(VENV) ## Apply migrations to DATABASE_URL (default: SQLite under var/)
	$(PYTHON) manage.py migrate

shell: $(VENV) ## Django shell
	$(PYTHON) manage.py shell

test: $(VENV) ## Run the test suite on SQLite, then on a throwaway PostgreSQL
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres

# env -u: an exported DATABASE_URL must not turn the SQLite run into something else.
test-sqlite: $(VENV) ## Tests on SQLite (PYTEST_ARGS="-k ..." to narrow)
	env -u DATABASE_URL .venv/bin/pytest $(PYTEST_ARGS)

test-postgres: $(VENV) ## Tests on a private PostgreSQL cluster started for this run
	$(PYTHON) scripts/with_postgres.py -- .venv/bin/pytest $(PYTEST_ARGS)

# settings_test: its test-only secrets let Django start without a production environment.
lint: $(VENV) ## Ruff (pycodestyle, pyflakes, isort, bugbear, security, Django rules), bandit, no missing migration
	.venv/bin/ruff check .
	.venv/bin/bandit -c pyproject.toml -q -r .
	DJANGO_SETTINGS_MODULE=mintguard_site.settings_test $(PYTHON) manage.py makemigrations --check --dry-run

# RELIABILITY_ARGS="--ops 50000 --seed 2" to vary it; `.venv/bin/python -m bench.bank --help` lists the knobs.
reliability: $(VENV) ## Bank test: 20,000 ops over gunicorn, 10 worker SIGKILLs, 1 PostgreSQL restart, 0 violations
	$(PYTHON) -m bench.bank --ops 20000 --kills 10 --pg-restarts 1 --json var/reliability-report.json $(RELIABILITY_ARGS)

# BENCH_ARGS="--quick" (1 run x 3 s per scenario, written to var/bench-quick/) to iterate;
# BENCH_ARGS="--only healthz,transfers,replay" to narrow. Installs Debian's wrk when missing (root + apt-get).
bench: $(VENV) ## Benchmark: issue 15's targets, API vs raw SQL (pgbench) on private PostgreSQL + gunicorn; writes docs/benchmarks.md (balances as of an instant: make bench-history)
	$(PYTHON) -m bench.throughput $(BENCH_ARGS)

# HISTORY_ARGS="--whale 100000" for a quicker run; `.venv/bin/python -m bench.history --help` lists the knobs.
bench-history: $(VENV) ## Balances at an instant on a 1,000,000-posting account: as_of p50, trial balance, CSV export RSS; writes docs/benchmarks-history.md
	$(PYTHON) -m bench.history $(HISTORY_ARGS)

# PROFILE_ARGS="replay --no-profile" for another scenario (transfer, topup, spend, pay, replay, statement, batch, healthz).
profile: $(VENV) ## In-process CPU per request, its SQL and a cProfile, on a private PostgreSQL (default: transfer)
	$(PYTHON) bench/profile_request.py $(PROFILE_ARGS)

clean: ## Remove local databases, collected static files and caches (keeps .venv)
	rm -rf var/*.sqlite3 var/*.sqlite3-* staticfiles .pytest_cache .ruff_cache .hypothesis test-results
	find . -path ./.venv -prune -o -name __pycache__ -type d -exec rm -rf {} +
