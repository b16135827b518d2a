"""Benchmark balances at an instant on a big ledger (PostgreSQL): `make bench-history`.

    .venv/bin/python -m bench.history [--whale 1000000] [--accounts 2000] [--deposits 50] [--samples 200]

On a private throwaway cluster it builds, in SQL, a ledger where one customer account (the
"whale") has `--whale` postings (deposits and withdrawals against USD cash, spread over 16 cash
buckets and a year of `posted_at`) and `--accounts` more customers have `--deposits` deposits each:
with the defaults 1,000,000 whale postings and 2,200,000 postings in all. Entry numbers,
`balance_after`, `posted_at` and the balance rows are computed by window functions, so the books
are clean (the triggers are skipped for the load only; `manage.py reconcile` checks the result).
Then, through the real Django stack in this process (the test Client, persistent connection):

- `GET /api/v1/accounts/{whale}?as_of=` at `--samples` random instants: p50 (target < 20 ms), each
  of the first few checked against a plain SUM over the postings up to the instant;
- `GET /api/v1/ledger/trial-balance?as_of=` of the whole ledger (target < 2 s), JSON and CSV;
- the peak RSS of a child process that streams the dashboard's CSV export of the whale's
  statement (`ledger:account-statement-csv`, every line; target < 100 MB), read from wait4.

It prints a table of each figure against its target and writes it to docs/benchmarks-history.md.
Exit status 0 only if every target is met and the ledger reconciles.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.system import REPO, load_with_postgres, manage, production_env

TARGET_AS_OF_MS = 20.0
TARGET_TRIAL_BALANCE_S = 2.0
TARGET_CSV_RSS_MB = 100.0
BUCKETS = 16
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
WHALE_SPACING_S = 30  # one whale posting every 30 s: 1,000,000 of them span a year
REPORT = REPO / "docs" / "benchmarks-history.md"
# The id every process derives for USD cash (ledger.posting.system_account_id), without Django.
CASH_USD = uuid.uuid5(uuid.UUID("6d1b7a8e-5c2f-4f0e-9a51-0b7c1e2d3f40"), "cash:USD")

LOAD_SQL = """
SET session_replication_role = replica;
SET work_mem = '512MB';
SET maintenance_work_mem = '1GB';

INSERT INTO ledger_account (id, owner, name, currency, kind, is_system, allow_negative, managed_by, created_at)
VALUES ('__CASH__'::uuid, '', 'cash', 'USD', 'asset', true, true, '', '__EPOCH__'::timestamptz);
-- Customer 0 is the whale; 1..N the others.
INSERT INTO ledger_account (id, owner, name, currency, kind, is_system, allow_negative, managed_by, created_at)
SELECT md5('hist-account-' || c)::uuid, '__OWNER__', CASE WHEN c = 0 THEN 'Whale' ELSE 'Customer ' || c END,
       'USD', 'liability', false, false, '', '__EPOCH__'::timestamptz
  FROM generate_series(0, __ACCOUNTS__) AS c;

-- Transactions: 1..W the whale's (every third a withdrawal smaller than any deposit, so its balance
-- never goes negative), then D deposits for each other customer, spread over the same year.
CREATE TEMP TABLE hist_txn AS
SELECT t, '__EPOCH__'::timestamptz + make_interval(secs => t * __SPACING__) AS created_at,
       CASE WHEN t % 3 = 0 THEN 'withdrawal' ELSE 'deposit' END AS kind, 0 AS customer,
       CASE WHEN t % 3 = 0 THEN 1 + t % 99 ELSE 100 + t % 100 END AS amount
  FROM generate_series(1, __WHALE__) AS t
UNION ALL
SELECT t, '__EPOCH__'::timestamptz + make_interval(secs => ((t - __WHALE__) * 7919) % (__WHALE__ * __SPACING__) + 7),
       'deposit', 1 + (t - __WHALE__ - 1) % __ACCOUNTS__, 1 + t % 1000
  FROM generate_series(__WHALE__ + 1, __WHALE__ + __ACCOUNTS__ * __DEPOSITS__) AS t;

CREATE TEMP TABLE hist_legs AS
SELECT x.t, x.created_at, l.leg, l.account_id, l.bucket, l.direction, x.amount,
       CASE WHEN (l.direction = 'DEBIT') = l.is_cash THEN x.amount ELSE -x.amount END AS signed
  FROM hist_txn x
 CROSS JOIN LATERAL (VALUES
     (1, '__CASH__'::uuid, (x.t % __BUCKETS__)::smallint, CASE WHEN x.kind = 'deposit' THEN 'DEBIT' ELSE 'CREDIT' END,
      true),
     (2, md5('hist-account-' || x.customer)::uuid, 0::smallint,
      CASE WHEN x.kind = 'deposit' THEN 'CREDIT' ELSE 'DEBIT' END, false)
 ) AS l(leg, account_id, bucket, direction, is_cash);

INSERT INTO ledger_transaction (id, owner, namespace, reference, kind, description, metadata, created_at)
SELECT md5('hist-txn-' || t)::uuid, '__OWNER__', 'client', 'hist-' || t, kind, '', '{}'::jsonb, created_at
  FROM hist_txn;

-- Per (account, bucket), in time order: gapless entry numbers and the running balance.
INSERT INTO ledger_posting (transaction_id, account_id, direction, amount, currency, bucket, entry_number,
                            balance_after, posted_at)
SELECT md5('hist-txn-' || t)::uuid, account_id, direction, amount, 'USD', bucket, row_number() OVER w,
       sum(signed) OVER w, created_at
  FROM hist_legs
WINDOW w AS (PARTITION BY account_id, bucket ORDER BY created_at, t ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
 ORDER BY created_at, t, leg;

INSERT INTO ledger_balancebucket (account_id, bucket, balance, last_entry_number, allow_negative, held)
SELECT a.id, b.bucket, coalesce(s.balance, 0), coalesce(s.entries, 0), a.is_system, 0
  FROM ledger_account a
 CROSS JOIN LATERAL generate_series(0, CASE WHEN a.is_system THEN __BUCKETS__ - 1 ELSE 0 END) AS b(bucket)
  LEFT JOIN (SELECT account_id, bucket, sum(signed) AS balance, count(*) AS entries
               FROM hist_legs GROUP BY account_id, bucket) s ON s.account_id = a.id AND s.bucket = b.bucket
 WHERE a.id = '__CASH__'::uuid OR a.owner = '__OWNER__';

DROP TABLE hist_legs;
DROP TABLE hist_txn;
SET session_replication_role = DEFAULT;
"""


def build_ledger(url: str, *, owner: str, whale: int, accounts: int, deposits: int) -> dict:
    import psycopg

    started = time.monotonic()
    values = {"__CASH__": str(CASH_USD), "__EPOCH__": EPOCH.isoformat(), "__OWNER__": owner,
              "__ACCOUNTS__": str(int(accounts)), "__WHALE__": str(int(whale)), "__DEPOSITS__": str(int(deposits)),
              "__SPACING__": str(WHALE_SPACING_S), "__BUCKETS__": str(BUCKETS)}
    sql = LOAD_SQL
    for name, value in values.items():
        sql = sql.replace(name, value)
    with psycopg.connect(url, autocommit=True) as connection:
        with connection.transaction():
            connection.execute(sql)  # simple protocol: several statements, no parameters (all formatted above)
        connection.execute("VACUUM ANALYZE ledger_account, ledger_balancebucket, ledger_transaction, ledger_posting")
        postings = connection.execute("SELECT count(*) FROM ledger_posting").fetchone()[0]
        size = connection.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
    return {"postings": postings, "whale_postings": whale, "accounts": accounts + 2,
            "load_seconds": round(time.monotonic() - started, 1), "database_size": size}


def whale_id() -> str:
    import hashlib

    return str(uuid.UUID(hashlib.md5(b"hist-account-0", usedforsecurity=False).hexdigest()))  # an id, as md5() in SQL


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def measure_as_of(client, headers: dict, url: str, *, whale: int, samples: int) -> dict:
    """p50/p95 of GET /accounts/{whale}?as_of= over random instants; the first few checked by SUM."""
    from django.db import connection

    rng = random.Random(42)  # noqa: S311  # nosec B311 - reproducible instants, not secrets
    span = whale * WHALE_SPACING_S
    instants = [EPOCH + timedelta(seconds=rng.uniform(0, span), microseconds=rng.randrange(10**6))
                for _ in range(samples)]
    for instant in instants[:20]:  # warm-up: plans, caches, connection
        client.get(url, {"as_of": instant.isoformat()}, **headers)
    timings, checked = [], 0
    for number, instant in enumerate(instants):
        started = time.perf_counter()
        response = client.get(url, {"as_of": instant.isoformat()}, **headers)
        timings.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"as_of: {response.status_code} {response.content[:300]!r}")
        if number < 5:
            with connection.cursor() as cursor:
                cursor.execute("SELECT coalesce(sum(CASE WHEN direction = 'CREDIT' THEN amount ELSE -amount END), 0) "
                               "FROM ledger_posting WHERE account_id = %s AND posted_at <= %s", [whale_id(), instant])
                expected = cursor.fetchone()[0]
            if response.json()["balance"] != expected:
                raise SystemExit(f"as_of {instant}: API says {response.json()['balance']}, postings sum to {expected}")
            checked += 1
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN SELECT balance_after FROM ledger_posting WHERE account_id = %s AND bucket = 0 "
                       "AND posted_at <= %s ORDER BY posted_at DESC, entry_number DESC LIMIT 1",
                       [whale_id(), instants[0]])
        plan = " / ".join(row[0].strip() for row in cursor.fetchall()[:2])
    return {"p50_ms": round(statistics.median(timings), 2), "p95_ms": round(percentile(timings, 95), 2),
            "max_ms": round(max(timings), 2), "samples": samples, "checked_by_sum": checked, "plan": plan}


def measure_trial_balance(client, headers: dict, *, whale: int, runs: int = 3) -> dict:
    mid = EPOCH + timedelta(seconds=whale * WHALE_SPACING_S / 2, microseconds=1)
    timings, csv_timings, body = [], [], None
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get("/api/v1/ledger/trial-balance", {"as_of": mid.isoformat()}, **headers)
        timings.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise SystemExit(f"trial balance: {response.status_code} {response.content[:300]!r}")
        body = response.json()
        started = time.perf_counter()
        response = client.get("/api/v1/ledger/trial-balance", {"as_of": mid.isoformat(), "format": "csv"}, **headers)
        lines = b"".join(response.streaming_content).count(b"\n")
        csv_timings.append(time.perf_counter() - started)
    started = time.perf_counter()
    now = client.get("/api/v1/ledger/trial-balance", **headers)
    now_seconds = time.perf_counter() - started
    usd = body["currencies"]["USD"]
    return {"seconds": round(max(timings), 3), "csv_seconds": round(max(csv_timings), 3), "csv_lines": lines,
            "now_seconds": round(now_seconds, 3), "now_balanced": now.json()["balanced"],
            "balanced": body["balanced"], "accounts": len(usd["accounts"]), "debits": usd["debits"]}


def measure_csv_export(env: dict, account_id: str) -> dict:
    """Run the streaming child; return its result and its own peak RSS (wait4: this child alone)."""
    with tempfile.TemporaryFile() as err:
        started = time.monotonic()
        child = subprocess.Popen([sys.executable, "-m", "bench.history", "--csv-child", account_id], cwd=REPO,
                                 env=env, stdout=subprocess.PIPE, stderr=err)
        out = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        child.stdout.close()
        err.seek(0)
        if child.returncode:
            raise SystemExit(f"CSV child failed: {err.read().decode()[-3000:]}")
    result = json.loads(out)
    result.update(peak_rss_mb=round(usage.ru_maxrss / 1024, 1), wall_seconds=round(time.monotonic() - started, 1))
    return result


def csv_child(account_id: str) -> int:
    """In a fresh process: stream the whale's statement CSV, keeping nothing; print what was streamed."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import NoReverseMatch, reverse

    started = time.monotonic()
    lines = size = 0
    try:
        url = reverse("ledger:account-statement-csv", args=[account_id])
    except NoReverseMatch:
        url = None
    if url is not None:
        user = get_user_model().objects.create_superuser("bench-history", password=None)
        client = Client(SERVER_NAME="127.0.0.1")
        client.force_login(user)
        response = client.get(url)
        if response.status_code != 200 or not response.streaming:
            print(f"{url}: {response.status_code}", file=sys.stderr)
            return 1
        chunks, how = response.streaming_content, f"GET {url.replace(account_id, '<whale>')} (dashboard, streamed)"
    else:  # the dashboard's export is not there: stream the selector's rows through csv_lines
        from ledger import selectors
        from ledger.models import Account
        from mintguard_site.csv_export import csv_lines

        account = Account.objects.get(pk=account_id)
        chunks = (line.encode() for line in csv_lines(
            selectors.STATEMENT_CSV_HEADER, selectors.statement_export_rows(account=account)))
        how = "ledger.selectors.statement_export_rows -> csv_lines (dashboard URL missing)"
    import resource

    # What the process holds before the first line: Django, the apps and the connection.
    before_mb = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    for chunk in chunks:
        lines += chunk.count(b"\n")
        size += len(chunk)
    print(json.dumps({"lines": lines, "bytes": size, "seconds": round(time.monotonic() - started, 1), "how": how,
                      "rss_before_stream_mb": before_mb}))
    return 0


def reconcile(env: dict) -> dict:
    started = time.monotonic()
    result = manage(env, "reconcile", "--json", timeout=1800)
    report = json.loads(result.stdout) if result.stdout.strip().startswith("{") else {}
    return {"exit": result.returncode, "seconds": round(time.monotonic() - started, 1),
            "drift_count": report.get("drift_count")}


def write_report(rows: list[tuple], ledger: dict, extra: list[str]) -> str:
    lines = [
        "# Balances at an instant: benchmark",
        "",
        f"`make bench-history` (`.venv/bin/python -m bench.history`), {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{platform.machine()}, {os.cpu_count()} CPUs, private PostgreSQL on the same machine.",
        "",
        f"Ledger: {ledger['postings']:,} postings ({ledger['whale_postings']:,} on one customer account, the "
        f"\"whale\", and as many on USD cash over {BUCKETS} buckets), {ledger['accounts']:,} accounts, "
        f"{ledger['database_size']}; built in SQL in {ledger['load_seconds']} s.",
        "",
        "| measure | figure | target | |",
        "| --- | --- | --- | --- |",
        *[f"| {name} | {figure} | {target} | {'pass' if ok else 'FAIL'} |" for name, figure, target, ok in rows],
        "",
        *extra,
        "",
    ]
    text = "\n".join(lines)
    REPORT.write_text(text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--whale", type=int, default=1_000_000, help="postings on the measured account")
    parser.add_argument("--accounts", type=int, default=2_000, help="other customer accounts")
    parser.add_argument("--deposits", type=int, default=50, help="deposits per other customer account")
    parser.add_argument("--samples", type=int, default=200, help="as_of requests measured")
    parser.add_argument("--no-reconcile", action="store_true", help="skip manage.py reconcile over the built ledger")
    parser.add_argument("--csv-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.csv_child:
        return csv_child(args.csv_child)

    with ExitStack() as stack:
        pg = stack.enter_context(load_with_postgres().private_postgres())
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-history-")))
        (workdir / "metrics").mkdir()
        env = production_env(database_url=pg.url, workdir=workdir, workers=1, api_rate="100000000/min",
                             MINTGUARD_SYSTEM_BALANCE_BUCKETS=str(BUCKETS))
        migrated = manage(env, "migrate", "--noinput", "-v0", timeout=600)
        if migrated.returncode:
            print(migrated.stderr, file=sys.stderr)
            return 2
        os.environ.update(env)
        import django

        django.setup()
        from django.test import Client

        from mintguard_site.api.services import api_client_create

        api_client, key = api_client_create(name="bench-history")
        print("building the ledger...", flush=True)
        ledger = build_ledger(pg.url, owner=api_client.owner, whale=args.whale, accounts=args.accounts,
                              deposits=args.deposits)
        print(f"built: {json.dumps(ledger)}", flush=True)
        checked = {"exit": None, "seconds": None, "drift_count": None}
        if not args.no_reconcile:
            checked = reconcile(env)
            print(f"reconcile: {json.dumps(checked)}", flush=True)

        client = Client(SERVER_NAME="127.0.0.1")
        headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
        as_of = measure_as_of(client, headers, f"/api/v1/accounts/{whale_id()}", whale=args.whale,
                              samples=args.samples)
        print(f"as_of: {json.dumps(as_of)}", flush=True)
        trial = measure_trial_balance(client, headers, whale=args.whale)
        print(f"trial balance: {json.dumps(trial)}", flush=True)
        export = measure_csv_export(env, whale_id())
        print(f"statement CSV: {json.dumps(export)}", flush=True)

    rows = [
        (f"`GET /accounts/{{id}}?as_of=` p50 ({as_of['samples']} random instants; p95 {as_of['p95_ms']} ms)",
         f"{as_of['p50_ms']} ms", f"< {TARGET_AS_OF_MS:g} ms", as_of["p50_ms"] < TARGET_AS_OF_MS),
        (f"`GET /ledger/trial-balance?as_of=` JSON, worst of 3 ({trial['accounts']} USD accounts)",
         f"{trial['seconds']} s", f"< {TARGET_TRIAL_BALANCE_S:g} s",
         trial["seconds"] < TARGET_TRIAL_BALANCE_S and trial["balanced"]),
        ("the same as CSV (`?format=csv`), worst of 3", f"{trial['csv_seconds']} s",
         f"< {TARGET_TRIAL_BALANCE_S:g} s", trial["csv_seconds"] < TARGET_TRIAL_BALANCE_S),
        (f"statement CSV export of the whale, {export['lines'] - 1:,} lines: peak RSS of the process",
         f"{export['peak_rss_mb']} MB", f"< {TARGET_CSV_RSS_MB:g} MB",
         export["peak_rss_mb"] < TARGET_CSV_RSS_MB and export["lines"] - 1 >= args.whale),
    ]
    if not args.no_reconcile:
        rows.append(("`manage.py reconcile` over the built ledger", f"exit {checked['exit']}, "
                     f"{checked['drift_count']} drifts, {checked['seconds']} s", "exit 0", checked["exit"] == 0))
    extra = [
        f"- `as_of`: p95 {as_of['p95_ms']} ms, max {as_of['max_ms']} ms; the first {as_of['checked_by_sum']} answers "
        "were checked against a plain `SUM` of the whale's postings up to the instant. The per-bucket probe's plan: "
        f"`{as_of['plan']}`.",
        f"- Trial balance: balanced {trial['balanced']}, {trial['csv_lines']} CSV lines; \"now\" (no `as_of`, "
        f"read from the balance rows) {trial['now_seconds']} s, balanced {trial['now_balanced']}.",
        f"- Statement CSV: {export['how']}; {export['bytes'] / 1e6:.0f} MB streamed in {export['seconds']} s. "
        f"The process held {export['rss_before_stream_mb']} MB before its first line (Django, the apps, the "
        "connection): streaming added the difference.",
        "- Measured in-process through Django's test Client (the whole middleware and DRF stack, one "
        "persistent database connection), not over a socket.",
    ]
    text = write_report(rows, ledger, extra)
    print()
    print(text)
    return 0 if all(ok for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
