"""The raw SQL baseline: pgbench running a double-entry transfer of the API's shape on plain tables.

Per transfer, in one transaction: lock both balance rows in id order (SELECT ... FOR UPDATE), two
UPDATEs of balance and entry number, INSERT the transaction row, its two postings (numbered per
account, with the balance after) and the idempotency row. The tables carry the ledger's foreign
keys, unique constraints and checks, but no triggers. `spread` picks a random pair among the
customer rows; `hot` pairs one system row (0, like treasury or revenue) with a random customer.

pgbench runs with `-M extended`: one Parse/Bind/Execute per statement and no prepared-statement
reuse, which is what Django's psycopg client-side binding costs the server too.
"""

import statistics
import subprocess
from pathlib import Path

SCHEMA_SQL = """
DROP SCHEMA IF EXISTS bench_raw CASCADE;
CREATE SCHEMA bench_raw;
CREATE TABLE bench_raw.account (id bigint PRIMARY KEY, currency text NOT NULL);
CREATE TABLE bench_raw.balance (
    account_id bigint PRIMARY KEY REFERENCES bench_raw.account (id),
    balance bigint NOT NULL,
    last_entry_number bigint NOT NULL,
    allow_negative boolean NOT NULL,
    CHECK (allow_negative OR balance >= 0)
);
CREATE TABLE bench_raw.txn (
    id uuid PRIMARY KEY,
    owner text NOT NULL,
    reference text NOT NULL,
    kind text NOT NULL,
    created_at timestamptz NOT NULL,
    UNIQUE (owner, reference)
);
CREATE TABLE bench_raw.posting (
    id bigserial PRIMARY KEY,
    txn_id uuid NOT NULL REFERENCES bench_raw.txn (id),
    account_id bigint NOT NULL REFERENCES bench_raw.account (id),
    direction text NOT NULL CHECK (direction IN ('DEBIT', 'CREDIT')),
    amount bigint NOT NULL CHECK (amount > 0),
    entry_number bigint NOT NULL,
    balance_after bigint NOT NULL,
    UNIQUE (account_id, entry_number)
);
CREATE INDEX ON bench_raw.posting (txn_id);
CREATE TABLE bench_raw.idempotency_key (
    id bigserial PRIMARY KEY,
    owner text NOT NULL,
    key text NOT NULL,
    status integer NOT NULL,
    body text NOT NULL,
    created_at timestamptz NOT NULL,
    UNIQUE (owner, key)
);
-- Row 0 is the hot system account (may go negative); rows 1..N are funded customers.
INSERT INTO bench_raw.account SELECT g, 'USD' FROM generate_series(0, __ACCOUNTS__) AS g;
INSERT INTO bench_raw.balance SELECT g, CASE WHEN g = 0 THEN 0 ELSE 1000000000000 END, 0, g = 0
  FROM generate_series(0, __ACCOUNTS__) AS g;
"""

TRANSFER_SQL = """
BEGIN;
SELECT account_id FROM bench_raw.balance WHERE account_id IN (:a, :b) ORDER BY account_id FOR UPDATE;
UPDATE bench_raw.balance SET balance = balance - :amount, last_entry_number = last_entry_number + 1
 WHERE account_id = :a RETURNING last_entry_number AS src_entry, balance AS src_balance \\gset
UPDATE bench_raw.balance SET balance = balance + :amount, last_entry_number = last_entry_number + 1
 WHERE account_id = :b RETURNING last_entry_number AS dst_entry, balance AS dst_balance \\gset
INSERT INTO bench_raw.txn (id, owner, reference, kind, created_at)
 VALUES (gen_random_uuid(), 'bench', gen_random_uuid()::text, 'transfer', now()) RETURNING id AS txn_id \\gset
INSERT INTO bench_raw.posting (txn_id, account_id, direction, amount, entry_number, balance_after)
 VALUES (:txn_id, :a, 'DEBIT', :amount, :src_entry, :src_balance),
        (:txn_id, :b, 'CREDIT', :amount, :dst_entry, :dst_balance);
INSERT INTO bench_raw.idempotency_key (owner, key, status, body, created_at)
 VALUES ('bench', gen_random_uuid()::text, 201, '{"id": "' || :txn_id || '", "amount": ' || :amount || '}', now());
END;
"""

PICK = {
    # A random ordered pair of distinct customers: b = a shifted by 1..N-1 around the ring.
    "spread": "\\set a random(1, __ACCOUNTS__)\n\\set shift random(1, __ACCOUNTS__ - 1)\n"
              "\\set b 1 + (:a - 1 + :shift) % __ACCOUNTS__\n",
    # The hot system row (debited, like treasury on a top-up) and a random customer (credited).
    "hot": "\\set a 0\n\\set b random(1, __ACCOUNTS__)\n",
}


def script(kind: str, accounts: int) -> str:
    text = PICK[kind] + "\\set amount random(1, 100)\n" + TRANSFER_SQL
    return text.replace("__ACCOUNTS__", str(int(accounts)))


def prepare(database_url: str, accounts: int) -> None:
    """(Re)create the baseline's tables with `accounts` funded customers and one hot row."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute(SCHEMA_SQL.replace("__ACCOUNTS__", str(int(accounts))))
        connection.execute("VACUUM ANALYZE bench_raw.account, bench_raw.balance")


def run(*, pgbench: Path, env: dict, workdir: Path, kind: str, accounts: int, clients: int, seconds: float,
        label: str) -> dict:
    """Run pgbench once; return transfers/s and latency percentiles (from its per-transaction log)."""
    script_file = workdir / f"baseline_{kind}.sql"
    script_file.write_text(script(kind, accounts))
    log_dir = workdir / f"pgbench_{label}"
    log_dir.mkdir()
    command = [str(pgbench), "-n", "-M", "extended", "-c", str(clients), "-j", str(min(clients, 2)),
               "-T", str(max(1, round(seconds))), "-f", str(script_file), "--log",
               f"--log-prefix={log_dir}/tx"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 120, cwd=workdir)
    if result.returncode != 0:
        raise RuntimeError(f"pgbench failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    latencies = []
    for log_file in log_dir.iterdir():
        for line in log_file.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[2].isdigit():
                latencies.append(int(fields[2]))
    processed = failed = 0
    tps = None
    for line in result.stdout.splitlines():
        line = line.strip()
        if line.startswith("number of transactions actually processed:"):
            processed = int(line.split(":")[1].split("/")[0].strip())
        elif line.startswith("number of failed transactions:"):
            failed = int(line.split(":")[1].split()[0])
        elif line.startswith("tps =") and tps is None:
            tps = float(line.split("=")[1].split()[0])
    aborted = "aborted" in result.stderr
    return {
        "requests": processed,
        "rps": tps or 0.0,
        "p50_ms": percentile(latencies, 50) / 1000,
        "p99_ms": percentile(latencies, 99) / 1000,
        "errors": failed + (1 if aborted else 0),
        "statuses": {},
        "detail": result.stderr.strip()[-500:] if aborted else "",
    }


def percentile(values: list[int], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return float(values[0])
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]
