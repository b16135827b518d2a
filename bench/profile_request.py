#!/usr/bin/env python3
"""Show where the time of one API request goes: its SQL queries and a cProfile of many of them.

    .venv/bin/python bench/profile_request.py [transfer|topup|spend|pay|replay|statement|batch]
                                              [--requests 300] [--top 35] [--sort cumulative|tottime]

Starts a private PostgreSQL (scripts/with_postgres.py), migrates, seeds a few accounts, wallets and
orders through the services, then sends the requests in-process through Django's test Client (the
whole middleware stack, DRF, idempotency, the services and the database; no gunicorn, no sockets)
with production settings (DEBUG off). It prints the queries of one request (after a warm-up), the
mean wall time per request, and the profile of `--requests` requests. Everything is thrown away
at the end.
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import secrets
import sys
import time
import uuid
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script: make `bench` importable
from bench.system import load_with_postgres  # noqa: E402

SCENARIOS = ("transfer", "topup", "spend", "pay", "replay", "statement", "batch")


def configure(database_url: str) -> None:
    for key in [k for k in os.environ if k.startswith(("MINTGUARD_", "DEBUG", "CACHE_URL"))]:
        del os.environ[key]
    os.environ.update({
        "DJANGO_SETTINGS_MODULE": "mintguard_site.settings",
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "MINTGUARD_PROVIDER_WEBHOOK_SECRET": "whsec_" + secrets.token_hex(16),
        "MINTGUARD_METRICS_TOKEN": secrets.token_urlsafe(32),
        "MINTGUARD_PAYMENT_PROVIDER": "simulator",
        "MINTGUARD_HTTPS": "false",
        "ALLOWED_HOSTS": "testserver",
        "MINTGUARD_API_RATE": "100000000/min",
        "LOG_LEVEL": "WARNING",
    })
    import django

    django.setup()


class Caller:
    """Builds the next request of a scenario: fresh keys and references, alternating accounts."""

    def __init__(self, scenario: str, client, batch_size: int):
        from django.core.management import call_command

        from ledger.services import account_create, deposit, transfer_create
        from mintguard_site.api.services import api_client_create
        from payments.services import order_create
        from wallets.services import wallet_topup

        call_command("migrate", "--noinput", verbosity=0)
        api_client, key = api_client_create(name="profile")
        owner = api_client.owner
        self.scenario, self.client, self.counter, self.batch_size = scenario, client, 0, batch_size
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
        self.accounts = []
        for number in range(10):
            account = account_create(owner=owner, name=f"profile {number}", currency="USD")
            deposit(account=account, amount=10**12, reference=f"profile:fund:{number}", owner=owner)
            self.accounts.append(str(account.id))
        self.users = [f"profile-user-{n}" for n in range(10)]
        for n, user in enumerate(self.users):
            wallet_topup(owner=owner, user_id=user, amount=10**12, reference=f"profile:wallet:{n}")
        self.orders = []
        if scenario == "pay":
            self.orders = [str(order_create(owner=owner, user_id="buyer", amount=1000, currency="USD").id)
                           for _ in range(3000)]
        if scenario == "statement":
            from ledger.models import Account

            source, target = Account.objects.get(pk=self.accounts[0]), Account.objects.get(pk=self.accounts[1])
            for n in range(500):
                transfer_create(source=source, destination=target, amount=1, owner=owner, reference=f"profile:s:{n}")
        self.replay_body = {"source_account_id": self.accounts[0], "destination_account_id": self.accounts[1],
                            "amount": 1}

    def post(self, path: str, body: dict, key: str | None = None, **extra):
        headers = dict(self.headers, **extra)
        if key:
            headers["HTTP_IDEMPOTENCY_KEY"] = key
        return self.client.post(path, data=json.dumps(body), content_type="application/json", **headers)

    def __call__(self):
        self.counter += 1
        n, key = self.counter, f"profile-{uuid.uuid4().hex}"
        source, destination = self.accounts[n % 10], self.accounts[(n + 1 + n // 10) % 10]
        if source == destination:
            destination = self.accounts[(n + 1) % 10]
        if self.scenario == "transfer":
            return self.post("/api/v1/transfers", {"source_account_id": source, "destination_account_id": destination,
                                                   "amount": 1 + n % 100}, key)
        if self.scenario in ("topup", "spend"):
            return self.post(f"/api/v1/wallets/{self.scenario}", {"user_id": self.users[n % 10], "amount": 1 + n % 100,
                                                                  "currency": "USD", "reference_id": key})
        if self.scenario == "pay":
            return self.post(f"/api/v1/orders/{self.orders[n - 1]}/pay", {}, key, HTTP_X_PROVIDER_SIMULATE="success")
        if self.scenario == "replay":
            return self.post("/api/v1/transfers", self.replay_body, "profile-replay")
        if self.scenario == "statement":
            return self.client.get(f"/api/v1/accounts/{self.accounts[0]}/statement?limit=50", **self.headers)
        transfers = [{"source_account_id": self.accounts[i % 10], "destination_account_id": self.accounts[(i + 1) % 10],
                      "amount": 1} for i in range(self.batch_size)]
        return self.post("/api/v1/transfers/batch", {"transfers": transfers}, key)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", nargs="?", default="transfer", choices=SCENARIOS)
    parser.add_argument("--requests", type=int, default=300, help="requests profiled (after 30 of warm-up)")
    parser.add_argument("--top", type=int, default=35, help="functions shown")
    parser.add_argument("--sort", default="cumulative", choices=["cumulative", "tottime"])
    parser.add_argument("--batch-size", type=int, default=100, help="transfers per batch request (batch)")
    args = parser.parse_args()

    # Whitenoise warns that collectstatic has not run: irrelevant to API requests.
    warnings.filterwarnings("ignore", message="No directory at")
    with load_with_postgres().private_postgres() as pg:
        configure(pg.url)
        from django.db import connection
        from django.test import Client

        call = Caller(args.scenario, Client(), args.batch_size)
        for _ in range(30):
            response = call()
            if response.status_code >= 300:
                print(f"warm-up request failed: {response.status_code} {response.content[:500]!r}", file=sys.stderr)
                return 1
        queries = []

        def timed(execute, sql, params, many, context):
            started = time.perf_counter()
            try:
                return execute(sql, params, many, context)
            finally:
                queries.append((time.perf_counter() - started, sql))

        # Commits are no queries to Django: time them too (deferred constraint triggers run there).
        plain_commit = connection._commit

        def timed_commit():
            started = time.perf_counter()
            try:
                return plain_commit()
            finally:
                queries.append((time.perf_counter() - started, "COMMIT"))

        connection._commit = timed_commit
        started = time.perf_counter()
        try:
            with connection.execute_wrapper(timed):
                response = call()
        finally:
            connection._commit = plain_commit
        total = time.perf_counter() - started
        in_sql = sum(seconds for seconds, _ in queries)
        count = sum(1 for _, sql in queries if sql != "COMMIT")
        print(f"== one {args.scenario} request: HTTP {response.status_code}, {count} queries and "
              f"{len(queries) - count} commits (a BEGIN is sent with the first query), {total * 1000:.2f} ms, "
              f"{in_sql * 1000:.2f} ms of it waiting on the database")
        for number, (seconds, sql) in enumerate(queries, 1):
            sql = " ".join(sql.split())
            print(f"{number:3}. {seconds * 1000:6.2f} ms  {sql[:200]}{'...' if len(sql) > 200 else ''}")

        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        for _ in range(args.requests):
            response = call()
        profiler.disable()
        elapsed = time.perf_counter() - started
        unprofiled_started = time.perf_counter()
        for _ in range(min(args.requests, 200)):
            call()
        unprofiled = (time.perf_counter() - unprofiled_started) / min(args.requests, 200)
        print(f"\n== {args.requests} {args.scenario} requests: {elapsed / args.requests * 1000:.2f} ms each under "
              f"cProfile, {unprofiled * 1000:.2f} ms each without (one process, one connection: "
              f"~{1 / unprofiled:.0f} requests/s per core before the server and database share it)")
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.strip_dirs().sort_stats(args.sort).print_stats(args.top)
        print(out.getvalue())
        print("== only MintGuard's own code (by cumulative time)")
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(
            rf"{REPO}/(ledger|wallets|payments|mintguard_site|operators)/", args.top)
        print(out.getvalue().split("\n", 6)[-1] if "ncalls" in out.getvalue() else out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
