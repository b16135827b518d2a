"""A Jepsen-style bank test: real clients, real faults, and a checker that trusts nothing.

    .venv/bin/python -m bench.bank [--ops 20000] [--clients 8] [--workers 3] [--kills 10]
                                   [--pg-restarts 1] [--seed 1] [--json report.json]

It starts a private PostgreSQL (scripts/with_postgres.py) and gunicorn (gunicorn.conf.py, sync
workers, a free loopback port), opens customer accounts in two currencies funded with a known
total, then runs concurrent clients doing deposits, withdrawals, transfers, orders, pays, partial
refunds, holds (short and long expiries; captured whole or in part, voided, captured too late) and
order authorizations (authorized, captured whole or in part, voided, expired: the server runs with a
short MINTGUARD_AUTHORIZATION_TTL) over HTTP, while `manage.py expire_holds` and
`expire_authorizations` run every few seconds as cron would. Clients
behave like real ones: every POST carries an Idempotency-Key, and on a timeout, a cut connection,
a 5xx, a 429 or 409 `idempotency_key_in_use` they send the same request again (same key, same
body) until they get a definitive answer. Meanwhile a fault
injector SIGKILLs gunicorn workers while requests are in flight and restarts PostgreSQL
(`pg_ctl restart -m fast`). At the end `checker` compares the database and the API with what the
clients were told (see docs/reliability.md), and the report counts operations, retries, faults,
violations (must be 0) and throughput.

Modules: `cluster` (PostgreSQL, gunicorn), `faults`, `workload`, `holds` and `orders` (clients,
their operations), `history`, `jobs` (expiry jobs, `available` reader), `checker`, `check_holds`
and `check_orders`.
"""
