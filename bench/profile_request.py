#!/usr/bin/env python3
"""Measure what one API request costs the web process: its CPU, its SQL queries and a cProfile.

    .venv/bin/python bench/profile_request.py [transfer|topup|spend|pay|replay|statement|batch|healthz]
                                              [--requests 300] [--top 35] [--sort cumulative|tottime]
                                              [--json FILE] [--no-profile] [--database-url URL]

Starts a private PostgreSQL (scripts/with_postgres.py), or uses `--database-url`, migrates, seeds a
few accounts, wallets and orders through the services, then calls the WSGI application gunicorn
serves (settings.WSGI_APPLICATION) in this process, with an environ built per request the way
gunicorn builds it, production settings (DEBUG off) and the response consumed and closed. It
prints, in this order:

1. "in-process CPU per request": time.process_time() around each of `--requests` requests after a
   warm-up, without any profiler: the median (the figure issue 15 judges) and the mean. It counts
   this process only, so the time PostgreSQL spends is not in it, the time Python spends waiting on
   PostgreSQL is not either, and the wall time is shown beside it;
2. the queries of one request with their times;
3. a cProfile of `--requests` requests (skipped with `--no-profile`).

`--json FILE` also writes the figures as JSON (`cpu_ms_median`, `cpu_ms_mean`, `wall_ms_median`,
`queries`...); `cpu_figure()` runs this script that way for `make bench`.
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from contextlib import ExitStack
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script: make `bench` importable
from bench.system import load_with_postgres, production_env  # noqa: E402

SCENARIOS = ("transfer", "topup", "spend", "pay", "replay", "statement", "batch", "healthz")
WARMUP_REQUESTS = 50
HOST, PORT = "127.0.0.1", "8000"


def configure(database_url: str, workdir: Path) -> None:
    """Set up Django as the benchmark's gunicorn workers run it: production settings, quiet logs."""
    env = production_env(database_url=database_url, workdir=workdir, workers=1, api_rate="100000000/min")
    env["MINTGUARD_EVENTS"] = os.environ.get("MINTGUARD_EVENTS", "true")  # measure what events cost: =false
    (workdir / "metrics").mkdir(exist_ok=True)
    os.environ.clear()
    os.environ.update(env)
    import django

    django.setup()


def wsgi_environ(method: str, path: str, body: bytes, headers: dict[str, str]) -> dict:
    """Build the WSGI environ of one HTTP/1.1 request as gunicorn's sync worker does."""
    path_info, _, query = path.partition("?")
    environ = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path_info,
        "QUERY_STRING": query,
        "RAW_URI": path,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": HOST,
        "SERVER_PORT": PORT,
        "SERVER_SOFTWARE": "gunicorn",
        "REMOTE_ADDR": HOST,
        "REMOTE_PORT": "50000",
        "HTTP_HOST": f"{HOST}:{PORT}",
        "HTTP_CONNECTION": "keep-alive",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if body:
        environ["CONTENT_TYPE"] = "application/json"
        environ["CONTENT_LENGTH"] = str(len(body))
    for name, value in headers.items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def wsgi_call(application, method: str, path: str, body: bytes = b"",
              headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """Serve one request through `application`; return its status and body, the response closed."""
    answer = {}

    def start_response(status, response_headers, exc_info=None):
        answer["status"] = int(status.split(" ", 1)[0])
        return lambda data: None

    result = application(wsgi_environ(method, path, body, headers or {}), start_response)
    try:
        content = b"".join(result)
    finally:
        # What gunicorn does after sending: it fires request_finished (connection housekeeping).
        if hasattr(result, "close"):
            result.close()
    return answer["status"], content


class Caller:
    """Builds and serves the next request of a scenario: fresh keys and references, varied accounts."""

    def __init__(self, scenario: str, application, *, batch_size: int, orders: int):
        from django.core.management import call_command

        from ledger.services import account_create, deposit, transfer_create
        from mintguard_site.api.services import api_client_create
        from payments.services import order_create
        from wallets.services import wallet_topup

        call_command("migrate", "--noinput", verbosity=0)
        api_client, key = api_client_create(name=f"profile-{uuid.uuid4().hex[:8]}")
        owner = api_client.owner
        self.scenario, self.application, self.counter, self.batch_size = scenario, application, 0, batch_size
        self.headers = {"Authorization": f"Bearer {key}"}
        self.accounts = []
        run = uuid.uuid4().hex[:8]  # references stay unique when --database-url reuses a database
        for number in range(10):
            account = account_create(owner=owner, name=f"profile {number}", currency="USD")
            deposit(account_id=account.id, amount=10**12, reference=f"profile:{run}:fund:{number}", owner=owner)
            self.accounts.append(str(account.id))
        self.users = [f"profile-{run}-user-{n}" for n in range(10)]
        for n, user in enumerate(self.users):
            wallet_topup(owner=owner, user_id=user, amount=10**12, reference=f"profile:{run}:wallet:{n}")
        self.orders = []
        if scenario == "pay":
            self.orders = [str(order_create(owner=owner, user_id="buyer", amount=1000, currency="USD").id)
                           for _ in range(orders)]
        if scenario == "statement":
            for n in range(500):
                transfer_create(source_id=self.accounts[0], destination_id=self.accounts[1], amount=1, owner=owner,
                                reference=f"profile:{run}:s:{n}")
        self.replay_body = {"source_account_id": self.accounts[0], "destination_account_id": self.accounts[1],
                            "amount": 1}

    def post(self, path: str, body: dict, key: str | None = None, **extra: str) -> tuple[int, bytes]:
        headers = {**self.headers, **extra}
        if key:
            headers["Idempotency-Key"] = key
        return wsgi_call(self.application, "POST", path, json.dumps(body).encode(), headers)

    def __call__(self) -> tuple[int, bytes]:
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
            return self.post(f"/api/v1/orders/{self.orders[n - 1]}/pay", {}, key, **{"X-Provider-Simulate": "success"})
        if self.scenario == "replay":
            return self.post("/api/v1/transfers", self.replay_body, "profile-replay")
        if self.scenario == "statement":
            return wsgi_call(self.application, "GET", f"/api/v1/accounts/{self.accounts[0]}/statement?limit=50",
                             headers=self.headers)
        if self.scenario == "healthz":
            return wsgi_call(self.application, "GET", "/healthz")
        transfers = [{"source_account_id": self.accounts[i % 10], "destination_account_id": self.accounts[(i + 1) % 10],
                      "amount": 1} for i in range(self.batch_size)]
        return self.post("/api/v1/transfers/batch", {"transfers": transfers}, key)


def served(call: Caller) -> bytes:
    """Serve the next request; refuse to measure anything but a success."""
    status, content = call()
    if status >= 300:
        raise SystemExit(f"{call.scenario} request failed: HTTP {status} {content[:500]!r}")
    return content


def cpu_per_request(call: Caller, requests: int) -> dict:
    """CPU time (this process) and wall time per request over `requests` requests, no profiler attached."""
    cpu, wall = [], []
    for _ in range(requests):
        cpu_started, wall_started = time.process_time(), time.perf_counter()
        served(call)
        cpu.append(time.process_time() - cpu_started)
        wall.append(time.perf_counter() - wall_started)
    return {
        "cpu_ms_median": statistics.median(cpu) * 1000,
        "cpu_ms_mean": statistics.fmean(cpu) * 1000,
        "wall_ms_median": statistics.median(wall) * 1000,
        "wall_ms_mean": statistics.fmean(wall) * 1000,
    }


def queries_of_one_request(call: Caller) -> list[tuple[float, str]]:
    """Serve one request and return (seconds, SQL) of every query and commit it sent."""
    from django.db import connection

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
    try:
        with connection.execute_wrapper(timed):
            served(call)
    finally:
        connection._commit = plain_commit
    return queries


def print_queries(scenario: str, queries: list[tuple[float, str]]) -> None:
    count = sum(1 for _, sql in queries if sql != "COMMIT")
    in_sql = sum(seconds for seconds, _ in queries)
    print(f"\n== one {scenario} request: {count} queries and {len(queries) - count} commits (a BEGIN is sent with "
          f"the first query), {in_sql * 1000:.2f} ms waiting on the database")
    for number, (seconds, sql) in enumerate(queries, 1):
        sql = " ".join(sql.split())
        print(f"{number:3}. {seconds * 1000:6.2f} ms  {sql[:200]}{'...' if len(sql) > 200 else ''}")


def print_profile(call: Caller, requests: int, top: int, sort: str) -> None:
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for _ in range(requests):
        served(call)
    profiler.disable()
    elapsed = time.perf_counter() - started
    print(f"\n== cProfile of {requests} {call.scenario} requests: {elapsed / requests * 1000:.2f} ms each under the "
          "profiler (its overhead inflates small functions)")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(sort).print_stats(top)
    print(out.getvalue())
    print("== only MintGuard's own code (by cumulative time)")
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(
        rf"{REPO}/(ledger|wallets|payments|events|audit|mintguard_site|operators)/", top)
    print(out.getvalue().split("\n", 6)[-1] if "ncalls" in out.getvalue() else out.getvalue())


def measure(args, database_url: str, workdir: Path) -> dict:
    configure(database_url, workdir)
    from django.core.servers.basehttp import get_internal_wsgi_application

    # settings.WSGI_APPLICATION is what gunicorn.conf.py serves: Django's WSGIHandler and any wrapper.
    application = get_internal_wsgi_application()
    orders = WARMUP_REQUESTS + args.requests * (2 if args.profile else 1) + 1
    call = Caller(args.scenario, application, batch_size=args.batch_size, orders=orders)
    for _ in range(WARMUP_REQUESTS):
        served(call)
    figures = cpu_per_request(call, args.requests)
    per = f" per batch of {args.batch_size}" if args.scenario == "batch" else " per request"
    print(f"== in-process CPU{per} ({args.scenario}, median of {args.requests} after {WARMUP_REQUESTS} of warm-up, "
          f"no profiler): {figures['cpu_ms_median']:.2f} ms (mean {figures['cpu_ms_mean']:.2f} ms); wall time "
          f"{figures['wall_ms_median']:.2f} ms (mean {figures['wall_ms_mean']:.2f} ms)")
    queries = queries_of_one_request(call)
    print_queries(args.scenario, queries)
    if args.profile:
        print_profile(call, args.requests, args.top, args.sort)
    return {"scenario": args.scenario, "requests": args.requests, "warmup": WARMUP_REQUESTS,
            "queries": sum(1 for _, sql in queries if sql != "COMMIT"),
            "commits": sum(1 for _, sql in queries if sql == "COMMIT"),
            **({"batch_size": args.batch_size} if args.scenario == "batch" else {}), **figures}


def cpu_figure(*, scenario: str, database_url: str, requests: int, timeout: float = 300) -> dict:
    """Run this script in a child process on an already migrated database; return its --json figures.

    A child process, because it configures Django with production settings of its own.
    """
    with tempfile.TemporaryDirectory(prefix="mintguard-profile-") as workdir:
        out = Path(workdir) / "profile.json"
        result = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), scenario, "--requests", str(requests), "--no-profile",
             "--database-url", database_url, "--json", str(out)],
            cwd=REPO, capture_output=True, text=True, timeout=timeout,
        )
        if result.returncode != 0 or not out.exists():
            raise RuntimeError(f"profile_request {scenario} failed ({result.returncode}):\n"
                               f"{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
        return json.loads(out.read_text())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", nargs="?", default="transfer", choices=SCENARIOS)
    parser.add_argument("--requests", type=int, default=300, help="requests measured, and profiled (after a warm-up)")
    parser.add_argument("--top", type=int, default=35, help="functions shown")
    parser.add_argument("--sort", default="cumulative", choices=["cumulative", "tottime"])
    parser.add_argument("--batch-size", type=int, default=100, help="transfers per batch request (batch)")
    parser.add_argument("--no-profile", dest="profile", action="store_false", help="skip the cProfile listing")
    parser.add_argument("--database-url", help="a PostgreSQL database to use instead of a private cluster")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    args = parser.parse_args(argv)
    if args.requests < 1:
        parser.error("--requests must be at least 1")

    # Whitenoise warns that collectstatic has not run: irrelevant to API requests.
    warnings.filterwarnings("ignore", message="No directory at")
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mintguard-profile-")))
        database_url = args.database_url or stack.enter_context(load_with_postgres().private_postgres()).url
        figures = measure(args, database_url, workdir)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
