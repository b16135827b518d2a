"""`make bench`: MintGuard's API under load next to a raw SQL baseline, on this machine, in one run.

    .venv/bin/python -m bench.throughput [--quick | --smoke] [--runs 3] [--seconds 10] [--connections N]
                                         [--workers N] [--output docs] [--only transfers,replay,...]

1. Start a private PostgreSQL (scripts/with_postgres.py), migrate, seed through the services: an API
   client, 1,000 funded customer accounts, 4 contended ones, one account with >= 50,000 statement
   entries, 1,000 funded wallet users, and (before the pay scenario) one unpaid order per pay request.
2. Start gunicorn on loopback with gunicorn.conf.py (sync workers, 2 x cores + 1), DEBUG unset,
   LOG_LEVEL=WARNING and a rate limit no run reaches.
3. Drive each scenario with wrk (Debian's package, installed when missing): `--runs` runs of
   `--seconds` each after a short warm-up, `--connections` concurrent connections; every figure is
   the median of the runs. In the same cluster, pgbench runs the same double-entry transfer in raw
   SQL (bench/throughput/baseline.py), spread and hot, at the same concurrency and duration.
4. Print the results and write `<output>/benchmarks.md` and `<output>/benchmarks.png`.
Everything it started is stopped and its temporary files removed, also on failure or Ctrl-C.

`--quick` is 1 run of 3 s per scenario (written to var/bench-quick/ unless --output is given);
`--smoke` is the CI check: tiny data, 1 run of 1 s, 2 workers, 2 connections.
"""

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..system import free_port, load_with_postgres
from . import baseline, load, report
from .server import REPO, Server, default_workers, django_env, manage


@dataclass(frozen=True)
class Scenario:
    name: str
    mode: str  # the Lua script's mode
    title: str
    server_env: dict | None = None  # settings this scenario's gunicorn runs with instead


SCENARIOS = [
    Scenario("transfers", "transfers", "Transfers between random customer accounts (spread)"),
    Scenario("topup", "topup", "Wallet top-ups, random users (hot: treasury)"),
    # The control: the same load with treasury in one balance row (every top-up on one row lock).
    Scenario("topup_one_bucket", "topup", "Wallet top-ups, treasury in one balance row (control)",
             server_env={"MINTGUARD_SYSTEM_BALANCE_BUCKETS": "1"}),
    Scenario("pay", "pay", "Order pays, a fresh order each (hot: cash, revenue)"),
    Scenario("spend", "spend", "Wallet spend, random users (hot: revenue)"),
    Scenario("contended", "contended", "Transfers among 4 customer accounts (contended)"),
    Scenario("replay", "replay", "Idempotent replay of one finished transfer"),
    Scenario("statement_page_1", "statement", "Statement, page 1"),
    Scenario("statement_deep", "statement", "Statement, page 1,000 deep (signed cursor)"),
    Scenario("batch", "batch", "Batch transfers (POST /transfers/batch)"),
]
BASELINES = [
    ("sql_spread", "spread", "Raw SQL transfer, random pair (pgbench, spread)"),
    ("sql_hot", "hot", "Raw SQL transfer, one hot row + a random row (pgbench, hot)"),
]
BATCH_SIZES = (1000, 500, 250, 100)


@dataclass(frozen=True)
class Plan:
    runs: int
    seconds: float
    warmup: float
    connections: int
    workers: int
    accounts: int
    contended: int
    wallet_users: int
    deep_page: int
    page_size: int
    mode: str


def make_plan(args) -> Plan:
    workers = args.workers or (2 if args.smoke else default_workers())
    if args.smoke:
        return Plan(runs=args.runs or 1, seconds=args.seconds or 1, warmup=0, connections=args.connections or 2,
                    workers=workers, accounts=20, contended=4, wallet_users=20, deep_page=3, page_size=50,
                    mode="smoke")
    quick = args.quick
    return Plan(runs=args.runs or (1 if quick else 3), seconds=args.seconds or (3 if quick else 10),
                warmup=1 if quick else 2, connections=args.connections or 2 * workers, workers=workers,
                accounts=1000, contended=4, wallet_users=1000, deep_page=args.deep_page, page_size=50,
                mode="quick" if quick else "full")


def say(message: str) -> None:
    print(f"bench: {message}", flush=True)


class Bench:
    def __init__(self, plan: Plan, workdir: Path, wrk: str):
        self.plan, self.workdir, self.wrk = plan, workdir, wrk
        self.results: dict[str, dict] = {}
        self.notes: dict[str, str] = {}
        self.info: dict = {}

    # --- setup -----------------------------------------------------------------------------

    def seed(self, phase: str, *args: str) -> dict:
        out = self.workdir / f"seed_{phase}_{uuid.uuid4().hex[:6]}.json"
        import subprocess

        result = subprocess.run([sys.executable, "-m", "bench.throughput.seed", phase, "--out", str(out), *args],
                                cwd=REPO, env=self.env, capture_output=True, text=True, timeout=1800)
        for line in result.stderr.splitlines():
            if line.startswith("seed: "):
                say(line)
        if result.returncode != 0:
            raise RuntimeError(f"seed {phase} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return json.loads(out.read_text())

    def api(self, method: str, path: str, body=None, key: str | None = None):
        headers = {"Authorization": f"Bearer {self.data['api_key']}"}
        if key:
            headers["Idempotency-Key"] = key
        return self.server.request(method, path, body, headers)

    def batch_probe(self) -> int | None:
        """Return the largest batch size the endpoint takes, or None when it is not there."""
        accounts = self.data["spread_accounts"]
        answers = []
        for size in BATCH_SIZES:
            transfers = [{"source_account_id": accounts[i % len(accounts)],
                          "destination_account_id": accounts[(i + 1) % len(accounts)], "amount": 1}
                         for i in range(size)]
            status, _, body = self.api("POST", "/api/v1/transfers/batch", {"transfers": transfers},
                                       key=f"bench-probe-{size}")
            answers.append(f"{size}: {status}")
            self.info["batch_probe"] = ", ".join(answers)
            if status == 201 and isinstance(body, dict) and body.get("count") == size:
                return size
            if status in (404, 405):
                self.notes["batch"] = f"not available: POST /api/v1/transfers/batch answered {status}"
                return None
            if status not in (413, 422):
                self.notes["batch"] = f"not available: probe answered {status} {str(body)[:300]}"
                return None
        self.notes["batch"] = "not available: no batch size from 100 to 1,000 was accepted"
        return None

    def deepen_statement(self, entries: int) -> None:
        """Give the deep account `entries` statement entries: via the batch endpoint when it works."""
        deep, partner = self.data["deep_account"], self.data["deep_partner"]
        started = time.monotonic()
        if self.batch_size:
            done = 0
            while done < entries:
                size = min(self.batch_size, entries - done)
                transfers = [{"source_account_id": deep, "destination_account_id": partner, "amount": 1}] * size
                status, _, body = self.api("POST", "/api/v1/transfers/batch", {"transfers": transfers},
                                           key=f"bench-deep-{done}")
                if status != 201:
                    raise RuntimeError(f"deepening the statement via the batch endpoint: {status} {str(body)[:500]}")
                done += size
            how = f"batch endpoint, {self.batch_size} per request"
        else:
            self.seed("deepen", "--account", deep, "--partner", partner, "--count", str(entries))
            how = "ledger services, 1,000 transfers per database transaction"
        self.info["deep_seed"] = f"{entries:,} entries in {time.monotonic() - started:.0f} s ({how})"
        say(f"statement: {self.info['deep_seed']}")

    def setup(self, pg, stack: contextlib.ExitStack) -> None:
        plan = self.plan
        port = free_port()
        self.env = django_env(database_url=pg.url, workdir=self.workdir, workers=plan.workers, port=port)
        started = time.monotonic()
        manage(self.env, "migrate", "--noinput", "-v0")
        spec = self.workdir / "spec.json"
        spec.write_text(json.dumps({"accounts": plan.accounts, "contended": plan.contended,
                                    "wallet_users": plan.wallet_users}))
        self.data = self.seed("base", "--spec", str(spec))
        self.server = stack.enter_context(Server(env=self.env, port=port, log_path=self.workdir / "gunicorn.log"))
        say(f"gunicorn: {plan.workers} sync workers on {self.server.url}")
        self.batch_size = self.batch_probe()
        self.deepen_statement(plan.deep_page * plan.page_size)
        cursor = self.seed("cursor", "--account", self.data["deep_account"], "--page", str(plan.deep_page),
                           "--page-size", str(plan.page_size))
        for path in (cursor["page_1"], cursor["deep"]):
            status, _, body = self.api("GET", path)
            if status != 200 or len(body.get("entries", [])) != plan.page_size:
                raise RuntimeError(f"statement check failed: GET {path} -> {status} {str(body)[:300]}")
        self.statement = cursor
        # The finished request that the replay scenario repeats.
        body = json.dumps({"source_account_id": self.data["spread_accounts"][0],
                           "destination_account_id": self.data["spread_accounts"][1], "amount": 1},
                          separators=(",", ":"))
        status, _, answer = self.api("POST", "/api/v1/transfers", body, key="bench-replay")
        if status != 201:
            raise RuntimeError(f"the request to replay failed: {status} {answer}")
        self.replay = {"path": "/api/v1/transfers", "body": body, "key": "bench-replay"}
        with pg_connection(pg.url) as connection:
            connection.execute("VACUUM ANALYZE")
        baseline.prepare(pg.url, plan.accounts)
        self.pg = pg
        self.info["setup_seconds"] = round(time.monotonic() - started)
        say(f"setup done in {self.info['setup_seconds']} s")

    # --- measuring -------------------------------------------------------------------------

    def data_file(self, scenario: Scenario, extra: dict | None = None) -> Path:
        data = {"api_key": self.data["api_key"]}
        if scenario.mode in ("transfers", "batch"):
            data["accounts"] = self.data["spread_accounts"]
        elif scenario.mode == "contended":
            data["accounts"] = self.data["contended_accounts"]
        elif scenario.mode in ("topup", "spend"):
            data["users"] = self.data["wallet_users"]
        elif scenario.mode == "replay":
            data.update(self.replay)
        elif scenario.name == "statement_page_1":
            data["path"] = self.statement["page_1"]
        elif scenario.name == "statement_deep":
            data["path"] = self.statement["deep"]
        if scenario.mode == "batch":
            data["batch_size"] = self.batch_size
        data.update(extra or {})
        return load.write_data(self.workdir / f"data_{scenario.name}_{uuid.uuid4().hex[:6]}.lua", data)

    def measure_api(self, scenario: Scenario) -> None:
        plan = self.plan
        if scenario.mode == "batch" and not self.batch_size:
            say(f"{scenario.name}: {self.notes.get('batch', 'not available')}")
            return
        if scenario.server_env:
            with self.server_with(scenario.server_env):
                self.measure_api(Scenario(scenario.name, scenario.mode, scenario.title))
            return
        phases = (["warmup"] if plan.warmup else []) + [f"run{n}" for n in range(1, plan.runs + 1)]
        orders: list[list[str]] = []
        if scenario.mode == "pay":
            orders = self.orders_for(phases)
        runs = []
        for index, phase in enumerate(phases):
            seconds = plan.warmup if phase == "warmup" else plan.seconds
            extra = {"orders": orders[index]} if orders else None
            run_id = f"{scenario.name}-{phase}-{uuid.uuid4().hex[:8]}"
            result = load.run(wrk=self.wrk, url=self.server.url, mode=scenario.mode,
                              data_file=self.data_file(scenario, extra), run_id=run_id,
                              connections=plan.connections, seconds=seconds,
                              one_thread_per_connection=scenario.mode == "batch")
            if scenario.mode == "batch":
                result["transfers_per_s"] = result["rps"] * self.batch_size
            if phase != "warmup":
                runs.append(result)
                say(f"{scenario.name} {phase}: {describe(result)}")
        title = scenario.title
        if scenario.name == "statement_deep":
            title = f"Statement, page {plan.deep_page:,} deep (signed cursor)"
        self.results[scenario.name] = {"title": title, "runs": runs, "median": medians(runs)}
        if scenario.mode == "batch":
            self.results[scenario.name]["batch_size"] = self.batch_size

    @contextlib.contextmanager
    def server_with(self, settings: dict):
        """Serve with these settings for a while, on the same port and data, then as before."""
        self.server.stop()
        try:
            with Server(env={**self.env, **settings}, port=self.server.port,
                        log_path=self.workdir / "gunicorn-variant.log"):
                yield
        finally:
            self.server.start()

    def orders_for(self, phases: list[str]) -> list[list[str]]:
        """Create enough unpaid orders for every pay run (a fresh one per request), split per run."""
        plan = self.plan
        transfers = self.results.get("transfers", {}).get("median", {}).get("rps") or 300
        per_second = max(2.5 * transfers, 200)
        counts = [math.ceil(per_second * (plan.warmup if p == "warmup" else plan.seconds)) + 50 for p in phases]
        started = time.monotonic()
        created = self.seed("orders", "--count", str(sum(counts)), "--label", "pay")["orders"]
        say(f"pay: {len(created):,} orders created in {time.monotonic() - started:.0f} s")
        slices, start = [], 0
        for count in counts:
            slices.append(created[start:start + count])
            start += count
        return slices

    def measure_baseline(self, name: str, kind: str, title: str) -> None:
        plan = self.plan
        pgbench = Path(self.pg.bin_dir) / "pgbench"
        if not pgbench.exists():
            pgbench = Path(shutil.which("pgbench") or "pgbench")
        env = {**self.env, **self.pg.env()}
        phases = (["warmup"] if plan.warmup else []) + [f"run{n}" for n in range(1, plan.runs + 1)]
        runs = []
        for phase in phases:
            seconds = plan.warmup if phase == "warmup" else plan.seconds
            result = baseline.run(pgbench=pgbench, env=env, workdir=self.workdir, kind=kind, accounts=plan.accounts,
                                  clients=plan.connections, seconds=seconds, label=f"{name}_{phase}")
            if phase != "warmup":
                runs.append(result)
                say(f"{name} {phase}: {describe(result)}")
        self.results[name] = {"title": title, "runs": runs, "median": medians(runs)}

    def machine(self) -> dict:
        with pg_connection(self.pg.url) as connection:
            pg_version = connection.execute("SHOW server_version").fetchone()[0]
        return report.machine_info(plan=self.plan, pg_version=pg_version, wrk_version=load.wrk_version(self.wrk),
                                   pg_bin=str(self.pg.bin_dir),
                                   extra=self.info)


def describe(result: dict) -> str:
    text = f"{result['rps']:.0f} req/s, p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms"
    if "transfers_per_s" in result:
        text += f", {result['transfers_per_s']:.0f} transfers/s"
    if result["errors"]:
        text += f", {result['errors']} errors {result.get('statuses') or ''} {result.get('detail', '')}"
    return text


def medians(runs: list[dict]) -> dict:
    keys = ("rps", "p50_ms", "p99_ms", "transfers_per_s")
    summary = {key: statistics.median(run[key] for run in runs) for key in keys if runs and key in runs[0]}
    summary["errors"] = sum(run["errors"] for run in runs)
    summary["requests"] = sum(run["requests"] for run in runs)
    summary["replayed"] = sum(run.get("replayed", 0) for run in runs)
    return summary


@contextlib.contextmanager
def pg_connection(url: str):
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        yield connection


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="1 run of 3 s per scenario, for iterating")
    size.add_argument("--smoke", action="store_true", help="tiny data, 1 run of 1 s: checks the harness works")
    parser.add_argument("--runs", type=int, help="runs per scenario (median reported); default 3")
    parser.add_argument("--seconds", type=float, help="seconds per run; default 10")
    parser.add_argument("--connections", type=int, help="concurrent connections (pgbench clients); default 2 x workers")
    parser.add_argument("--workers", type=int, help="gunicorn workers; default what gunicorn.conf.py picks")
    parser.add_argument("--deep-page", type=int, default=1000, help="the deep statement page (50 entries each)")
    parser.add_argument("--only", help="comma-separated scenarios (and sql_spread, sql_hot) to run")
    parser.add_argument("--output", type=Path,
                        help="where benchmarks.md/.png go (default docs/; --quick and --smoke: var/bench-quick/)")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--render", type=Path, metavar="JSON",
                        help="measure nothing: rewrite the report from the raw results of an earlier --json")
    args = parser.parse_args(argv)
    plan = make_plan(args)
    if args.render:
        saved = json.loads(args.render.read_text())
        plan_mode = saved["machine"]["mode"]
        output = args.output or (REPO / ("docs" if plan_mode == "full" else "var/bench-quick"))
        write_report(output, saved["machine"], saved["results"], saved["notes"], None)
        return 0
    output = args.output or (REPO / ("docs" if plan.mode == "full" else "var/bench-quick"))
    only = set(args.only.split(",")) if args.only else None
    known = {s.name for s in SCENARIOS} | {name for name, *_ in BASELINES}
    if only and only - known:
        parser.error(f"unknown scenarios {sorted(only - known)}; known: {sorted(known)}")

    # SIGTERM/SIGHUP unwind like Ctrl-C, so every `with` below cleans up.
    def stop(signum, _frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    started = time.monotonic()
    # Other work on these cores skews every figure: the report says how busy the machine was.
    load_before = os.getloadavg()[0]
    try:
        wrk = load.ensure_wrk()
        with contextlib.ExitStack() as stack:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mintguard-bench-")))
            pg = stack.enter_context(load_with_postgres().private_postgres())
            say(f"PostgreSQL {pg.url}; {plan.mode} plan: {plan.runs} x {plan.seconds:g} s per scenario, "
                f"{plan.connections} connections")
            bench = Bench(plan, workdir, wrk)
            bench.setup(pg, stack)
            for name, kind, title in BASELINES:
                if only is None or name in only:
                    bench.measure_baseline(name, kind, title)
            for scenario in SCENARIOS:
                if only is None or scenario.name in only:
                    bench.measure_api(scenario)
            machine = bench.machine()
    except (KeyboardInterrupt, load_with_postgres().Terminated):
        print("bench: interrupted; everything it started is stopped and removed", file=sys.stderr)
        return 130
    machine["total_seconds"] = round(time.monotonic() - started)
    machine["load_before"] = f"{load_before:.1f}"
    write_report(output, machine, bench.results, bench.notes, args.json)
    return 0


def write_report(output: Path, machine: dict, results: dict, notes: dict, raw_json: Path | None) -> None:
    """Print the table; write benchmarks.md, the chart and (when asked) the raw results."""
    output.mkdir(parents=True, exist_ok=True)
    rows = report.rows(results, notes)
    print(report.console(rows, machine))
    (output / "benchmarks.md").write_text(report.markdown(rows, machine, results))
    chart = report.chart(rows, output / "benchmarks.png")
    say(f"wrote {output / 'benchmarks.md'}" + (f" and {chart}" if chart else " (no chart: matplotlib missing)"))
    if raw_json:
        raw_json.write_text(json.dumps({"machine": machine, "results": results, "notes": notes, "rows": rows},
                                       indent=2, default=str))


if __name__ == "__main__":
    sys.exit(main())
