# MintGuard developer tasks. `make` alone lists them.

VENV := .venv/.installed
PYTHON := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: help run migrate shell test test-sqlite test-postgres lint clean

help: ## List the targets
	@awk -F ':.*## ' '/^[a-z-]+:.*## / { printf "  %-14s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

$(VENV): requirements.txt requirements-dev.txt
	python3 -m venv .venv
	.venv/bin/pip install -r requirements-dev.txt
	touch $@

run: export DEBUG = true
run: $(VENV) ## Migrate, seed demo data (prints the API key and login), serve on 127.0.0.1:8000
	$(PYTHON) manage.py migrate
	$(PYTHON) manage.py seed_demo
	$(PYTHON) manage.py runserver 127.0.0.1:8000

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

lint: $(VENV) ## Ruff (pycodestyle, pyflakes, isort, bugbear, security, Django rules) and bandit
	.venv/bin/ruff check .
	.venv/bin/bandit -c pyproject.toml -q -r .

clean: ## Remove local databases, collected static files and caches (keeps .venv)
	rm -rf var/*.sqlite3 var/*.sqlite3-* staticfiles .pytest_cache .ruff_cache .hypothesis test-results
	find . -path ./.venv -prune -o -name __pycache__ -type d -exec rm -rf {} +
