#!/usr/bin/env python3
"""Benchmark `manage.py reconcile` on a ledger of 1,000,000 postings (PostgreSQL).

    .venv/bin/python bench/reconcile_bench.py [--transactions 500000] [--accounts 10000] [--runs 3]
                                              [--database-url postgresql://...]

Without --database-url it starts a private throwaway cluster (scripts/with_postgres.py). It builds
the ledger in SQL in a few seconds: `--accounts` customer accounts each opened by a deposit from
cash, then transfers between customers up to `--transactions` transactions of two postings each,
with gapless entry numbers, running `balance_after` and balance rows computed by window
functions, so the books are clean. The ledger's triggers are skipped for the load only
(session_replication_role = replica: the rows are correct by construction and the per-row checks
would take hours). Then it runs `manage.py reconcile` in a child process `--runs` times and reports
each run's wall time and the child's peak RSS (from wait4), and fails if a run finds drift or
misses the targets (30 s, 200 MB). Finally it damages one balance and checks reconcile exits 1.
"""

import argparse
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script: make `bench` importable
from bench.system import load_with_postgres  # noqa: E402

TARGET_SECONDS = 30.0
TARGET_RSS_MB = 200.0


def django_env(database_url: str) -> dict:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mintguard_site.settings",
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "MINTGUARD_PROVIDER_WEBHOOK_SECRET": secrets.token_hex(16),
        "MINTGUARD_METRICS_TOKEN": secrets.token_urlsafe(32),
        "MINTGUARD_PAYMENT_PROVIDER": "simulator",
        "MINTGUARD_HTTPS": "false",
        "ALLOWED_HOSTS": "localhost",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
    }


LOAD_SQL = """
SET session_replication_role = replica;
SET work_mem = '256MB';
SET maintenance_work_mem = '512MB';

TRUNCATE ledger_posting, ledger_balancebucket, ledger_transaction, ledger_account, ledger_reconciliationrun CASCADE;

-- Accounts: 0 is the USD cash account (a system asset); 1..N are customers (liabilities).
INSERT INTO ledger_account (id, owner, name, currency, kind, is_system, allow_negative, managed_by, created_at)
SELECT md5('bench-account-' || a)::uuid,
       CASE WHEN a = 0 THEN '' ELSE 'bench-client' END,
       CASE WHEN a = 0 THEN 'cash' ELSE 'customer ' || a END,
       'USD',
       CASE WHEN a = 0 THEN 'asset' ELSE 'liability' END,
       a = 0, a = 0, '', now()
  FROM generate_series(0, __ACCOUNTS__) AS a;

-- Legs: transaction t (1..T). The first N open customer t with 1,000,000 from cash (DR cash,
-- CR customer); the rest move 1..100 from one customer to another (DR source, CR destination).
-- A customer sends at most ~T/N transfers of <= 100, far below its opening: never negative.
CREATE TEMP TABLE bench_legs AS
SELECT t, leg, account, direction, amount
  FROM (
    SELECT t,
           CASE WHEN t <= __ACCOUNTS__ THEN 0 ELSE 1 + (t * 7919) % __ACCOUNTS__ END AS source,
           CASE WHEN t <= __ACCOUNTS__ THEN t
                ELSE 1 + ((t * 7919) % __ACCOUNTS__ + 1 + (t % (__ACCOUNTS__ - 1))) % __ACCOUNTS__
           END AS destination,
           CASE WHEN t <= __ACCOUNTS__ THEN 1000000 ELSE 1 + t % 100 END AS amount
      FROM generate_series(1::bigint, __TRANSACTIONS__) AS t
  ) AS txn
  CROSS JOIN LATERAL (VALUES (1, source, 'DEBIT'), (2, destination, 'CREDIT')) AS legs(leg, account, direction);

INSERT INTO ledger_transaction (id, owner, namespace, reference, kind, description, metadata, created_at)
SELECT md5('bench-txn-' || t)::uuid, 'bench-client', 'client', 'bench-' || t,
       CASE WHEN t <= __ACCOUNTS__ THEN 'deposit' ELSE 'transfer' END, '', '{}'::jsonb,
       now() - make_interval(secs => __TRANSACTIONS__ - t)
  FROM generate_series(1, __TRANSACTIONS__) AS t;

-- Entry numbers and running balances per account, in posting order, on the normal side.
INSERT INTO ledger_posting (transaction_id, account_id, direction, amount, currency, bucket, entry_number,
                            balance_after)
SELECT md5('bench-txn-' || t)::uuid, md5('bench-account-' || account)::uuid, direction, amount, 'USD', 0,
       row_number() OVER w,
       sum(CASE WHEN (direction = 'DEBIT') = (account = 0) THEN amount ELSE -amount END) OVER w
  FROM bench_legs
WINDOW w AS (PARTITION BY account ORDER BY t, leg ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
 ORDER BY t, leg;

INSERT INTO ledger_balancebucket (account_id, bucket, balance, last_entry_number, allow_negative)
SELECT md5('bench-account-' || a)::uuid, 0, coalesce(totals.balance, 0), coalesce(totals.entries, 0), a = 0
  FROM generate_series(0, __ACCOUNTS__) AS a
  LEFT JOIN (
    SELECT account, count(*) AS entries,
           sum(CASE WHEN (direction = 'DEBIT') = (account = 0) THEN amount ELSE -amount END) AS balance
      FROM bench_legs GROUP BY account
  ) AS totals ON totals.account = a;

DROP TABLE bench_legs;
SET session_replication_role = DEFAULT;
"""


def build_ledger(database_url: str, *, transactions: int, accounts: int) -> dict:
    import psycopg

    started = time.monotonic()
    with psycopg.connect(database_url, autocommit=True) as connection:
        # Several statements in one execute need the simple query protocol: no bound parameters,
        # so the two integers are formatted in (they are ints, parsed by argparse).
        sql = LOAD_SQL.replace("__TRANSACTIONS__", str(int(transactions))).replace("__ACCOUNTS__", str(int(accounts)))
        with connection.transaction():
            connection.execute(sql)
        connection.execute("VACUUM ANALYZE ledger_account, ledger_balancebucket, ledger_transaction, ledger_posting")
        postings = connection.execute("SELECT count(*) FROM ledger_posting").fetchone()[0]
        size = connection.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
    return {"postings": postings, "transactions": transactions, "accounts": accounts + 1,
            "load_seconds": round(time.monotonic() - started, 1), "database_size": size}


def measured_reconcile(env: dict, *args: str) -> dict:
    """Run manage.py reconcile as a child; return its exit status, wall time and peak RSS.

    The child is reaped with wait4 on its own pid, which gives its rusage alone
    (RUSAGE_CHILDREN would report the largest of every child so far, migrate included).
    """
    with tempfile.TemporaryFile() as err:
        started = time.monotonic()
        child = subprocess.Popen([sys.executable, "manage.py", "reconcile", *args], cwd=REPO, env=env,
                                 stdout=subprocess.PIPE, stderr=err)
        out = child.stdout.read()  # until EOF; stderr goes to a file, so neither pipe can fill up
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.monotonic() - started
        child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: tell Popen
        child.stdout.close()
        err.seek(0)
        stderr = err.read().decode()
    return {
        "exit": child.returncode,
        "seconds": round(elapsed, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux reports kilobytes
        "stdout": out.decode(),
        "stderr": stderr,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transactions", type=int, default=500_000)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", help="a throwaway PostgreSQL database: its ledger tables, and every "
                                               "table referencing them, are emptied")
    args = parser.parse_args()
    if args.transactions < args.accounts:
        parser.error("--transactions must be at least --accounts (each account opens with a deposit)")

    with ExitStack() as stack:
        url = args.database_url
        if not url:
            pg = stack.enter_context(load_with_postgres().private_postgres())
            url = pg.url
        env = django_env(url)
        migrate = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=REPO, env=env,
                                 capture_output=True, text=True)
        if migrate.returncode:
            print(migrate.stderr, file=sys.stderr)
            return 2
        ledger = build_ledger(url, transactions=args.transactions, accounts=args.accounts)
        print(f"built: {json.dumps(ledger)}", flush=True)

        runs = []
        for number in range(1, args.runs + 1):
            result = measured_reconcile(env, "--json")
            runs.append(result)
            checks = ", ".join(f"{c['name']} {c['duration_ms']} ms" for c in json.loads(result["stdout"])["checks"])
            print(f"reconcile run {number}: exit {result['exit']}, {result['seconds']} s, "
                  f"peak RSS {result['peak_rss_mb']} MB ({checks})", flush=True)
            if result["exit"] != 0:
                print(result["stdout"][-4000:], result["stderr"][-4000:], file=sys.stderr)
                return 1

        import psycopg

        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("UPDATE ledger_balancebucket SET balance = balance + 1 "
                               "WHERE account_id = md5('bench-account-1')::uuid")
        damaged = measured_reconcile(env, "--json")
        found = json.loads(damaged["stdout"])["drift_count"] if damaged["stdout"].strip() else None
        print(f"after damaging one balance: exit {damaged['exit']}, {found} drift(s), {damaged['seconds']} s")

    worst_seconds = max(run["seconds"] for run in runs)
    worst_rss = max(run["peak_rss_mb"] for run in runs)
    summary = {
        "postings": ledger["postings"],
        "reconcile_seconds": [run["seconds"] for run in runs],
        "peak_rss_mb": [run["peak_rss_mb"] for run in runs],
        "targets": {"seconds": TARGET_SECONDS, "peak_rss_mb": TARGET_RSS_MB},
        "cpu_count": os.cpu_count(),
        "max_rss_self_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(summary))
    ok = worst_seconds < TARGET_SECONDS and worst_rss < TARGET_RSS_MB and damaged["exit"] == 1 and found == 2
    print("PASS" if ok else "FAIL: a target was missed or the damage went unnoticed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
