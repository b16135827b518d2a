"""The benchmark run itself: seed, serve, drive every scenario and baseline, check the books after each.

`python -m bench.throughput` (bench/throughput/__main__.py) builds the plan and writes the report.
"""

import contextlib
import json
import math
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from ..profile_request import cpu_figure
from ..system import free_port
from ..system import manage as run_manage
from . import baseline, load, report
from .server import REPO, Server, django_env, manage


@dataclass(frozen=True)
class Scenario:
    name: str
    mode: str  # the Lua script's mode
    title: str
    server_env: dict | None = None  # settings this scenario's gunicorn runs with instead
    # The scenario this one is the control of: measured run for run in alternation with it, on a
    # second gunicorn, so a machine that gets busier or quieter meanwhile weighs on both alike.
    control_of: str | None = None


SCENARIOS = [
    # The framework's floor: every middleware, no credentials, no database.
    Scenario("healthz", "healthz", "GET /healthz through the middleware stack (no database)"),
    Scenario("transfers", "transfers", "Transfers between random customer accounts (spread)"),
    # Issue 19: the same transfers, same data and connections, on a gunicorn started with events off
    # (MINTGUARD_EVENTS=false); `transfers` records its events, and a webhook endpoint subscribed to
    # every event (registered in setup) makes them ones a client would get.
    Scenario("transfers_no_events", "transfers", "Transfers between random customer accounts, events off (control)",
             server_env={"MINTGUARD_EVENTS": "false"}, control_of="transfers"),
    # Issue 18: a two-phase transfer (hold, then capture) next to the plain one it is judged against.
    Scenario("hold_capture", "hold_capture", "Hold + capture between random customer accounts (spread)"),
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
# The bench client's webhook endpoint: loopback, nothing listening (the discard port), never called.
WEBHOOK_URL = "http://127.0.0.1:9/bench-webhooks"
BATCH_SIZES = (1000, 500, 250, 100)
# A scenario and its control alternate in slices of about this many seconds (measure_pair).
PAIR_SLICE_SECONDS = 2
# Not a wrk scenario: bench/profile_request.py's in-process CPU per transfer, run after the others.
CPU_PROFILE = "cpu_per_transfer"


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
    cpu_requests: int  # transfers whose CPU time is measured by bench/profile_request.py
    max_batch: int  # the largest batch probed: a smoke run's 1 s must see whole batches complete


def say(message: str) -> None:
    print(f"bench: {message}", flush=True)


class Bench:
    """One run: its data, its gunicorn, every figure (`results`), and the checks wrk does not make (`checks`)."""

    def __init__(self, plan: Plan, workdir: Path, wrk: str):
        self.plan, self.workdir, self.wrk = plan, workdir, wrk
        self.results: dict[str, dict] = {}
        self.notes: dict[str, str] = {}
        self.info: dict = {}
        # What is not a wrk figure: the books after each scenario and the CPU per transfer.
        self.checks: dict = {"reconciliations": [], "cpu": None}

    # --- setup -----------------------------------------------------------------------------

    def seed(self, phase: str, *args: str) -> dict:
        out = self.workdir / f"seed_{phase}_{uuid.uuid4().hex[:6]}.json"
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
        for size in (size for size in BATCH_SIZES if size <= self.plan.max_batch):
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
        self.notes["batch"] = f"not available: no batch size from 100 to {self.plan.max_batch:,} was accepted"
        return None

    def webhook_endpoint(self) -> None:
        """Subscribe the bench client to every event, so the events the runs record are ones it would get.

        The URL is loopback (MINTGUARD_WEBHOOK_ALLOW_INSECURE is on in the bench's env) and nothing
        listens there: no worker runs, so what a transfer costs is recording its event and enqueueing
        its dispatch, in the transfer's transaction, not the deliveries.
        """
        status, _, body = self.api("POST", "/api/v1/webhook-endpoints",
                                   {"url": WEBHOOK_URL, "events": ["*"], "description": "bench"})
        if status != 201:
            raise RuntimeError(f"registering the bench's webhook endpoint failed: {status} {str(body)[:500]}")
        self.info["webhook_endpoint"] = f"{WEBHOOK_URL}, events [\"*\"]"
        say(f"webhook endpoint {body['id']}: {WEBHOOK_URL}, every event (no worker runs: nothing is delivered)")

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
        self.webhook_endpoint()
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
        self.reconcile(after="setup")

    # --- measuring -------------------------------------------------------------------------

    def run_scenario(self, scenario: Scenario, control: Scenario | None = None) -> None:
        """Measure one API scenario (alternating with its `control` when given), then check the books."""
        if control is not None:
            self.measure_pair(scenario, control)
        else:
            self.measure_api(scenario)
        for measured in (scenario, control):
            if measured is not None and measured.name in self.results:
                if measured.mode == "hold_capture":
                    self.void_open_holds()
                self.reconcile(after=measured.name)

    def data_file(self, scenario: Scenario, extra: dict | None = None) -> Path:
        data = {"api_key": self.data["api_key"]}
        if scenario.mode in ("transfers", "hold_capture", "batch"):
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
        if scenario.mode == "batch" and not self.batch_size:
            say(f"{scenario.name}: {self.notes.get('batch', 'not available')}")
            return
        if scenario.server_env:
            with self.server_with(scenario.server_env):
                self.measure_api(Scenario(scenario.name, scenario.mode, scenario.title))
            return
        phases = self.phases()
        orders: list[list[str]] = []
        if scenario.mode == "pay":
            orders = self.orders_for(phases)
        runs = []
        for index, phase in enumerate(phases):
            result = self.load_run(scenario, self.server, phase, {"orders": orders[index]} if orders else None)
            if phase != "warmup":
                runs.append(result)
        self.record(scenario, runs)

    def measure_pair(self, scenario: Scenario, control: Scenario) -> None:
        """Measure `scenario` and its control in alternation, each on a gunicorn of its own started afresh.

        Each run is cut into slices of about 2 s (PAIR_SLICE_SECONDS) and the two turn about in the
        order A B B A A B..., so both see the machine as it was within seconds, neither always goes
        first, and neither is the gunicorn that served the setup; every slice is a run of its own.
        An A/A check (both with the same settings) measured the setup's gunicorn ~10% slower than a
        fresh one, and whichever went first in every pair favoured.
        """
        slices = max(1, round(self.plan.seconds / PAIR_SLICE_SECONDS))
        runs: dict[str, list] = {scenario.name: [], control.name: []}
        with contextlib.ExitStack() as stack:
            servers = []
            for measured in (scenario, control):
                port = free_port()
                env = {**self.env, **(measured.server_env or {}), "GUNICORN_BIND": f"127.0.0.1:{port}"}
                servers.append(stack.enter_context(
                    Server(env=env, port=port, log_path=self.workdir / f"gunicorn-{measured.name}.log")))
            pairs = list(zip((scenario, control), servers, strict=True))
            turn = 0
            for phase in self.phases():
                for number in range(1 if phase == "warmup" else slices):
                    for measured, server in (pairs if turn % 2 == 0 else pairs[::-1]):
                        seconds = self.plan.warmup if phase == "warmup" else self.plan.seconds / slices
                        result = self.load_run(measured, server, f"{phase}.{number + 1}", seconds=seconds)
                        if phase != "warmup":
                            runs[measured.name].append(result)
                    turn += 1
        self.info["paired"] = (f"{scenario.name} and {control.name} each on a fresh gunicorn, {slices} slices of "
                               f"{self.plan.seconds / slices:g} s per run, turn about (A B, B A, A B...)")
        self.record(scenario, runs[scenario.name])
        self.record(control, runs[control.name])

    def phases(self) -> list[str]:
        return (["warmup"] if self.plan.warmup else []) + [f"run{n}" for n in range(1, self.plan.runs + 1)]

    def load_run(self, scenario: Scenario, server: Server, phase: str, extra: dict | None = None,
                 seconds: float | None = None) -> dict:
        """One wrk run of `scenario` against `server` (a warm-up when `phase` starts with "warmup")."""
        plan = self.plan
        warmup = phase.startswith("warmup")
        seconds = seconds or (plan.warmup if warmup else plan.seconds)
        run_id = f"{scenario.name}-{phase}-{uuid.uuid4().hex[:8]}"
        result = load.run(wrk=self.wrk, url=server.url, mode=scenario.mode,
                          data_file=self.data_file(scenario, extra), run_id=run_id, connections=plan.connections,
                          seconds=seconds, one_thread_per_connection=scenario.mode == "batch")
        if scenario.mode == "batch":
            result["transfers_per_s"] = result["rps"] * self.batch_size
        elif scenario.mode == "hold_capture":
            # Two requests per transfer: a capture that succeeded is one transfer moved.
            result["transfers_per_s"] = result["captured"] / result["seconds"] if result["seconds"] else 0.0
        if not warmup:
            say(f"{scenario.name} {phase}: {describe(result)}")
        return result

    def record(self, scenario: Scenario, runs: list[dict]) -> None:
        title = scenario.title
        if scenario.name == "statement_deep":
            title = f"Statement, page {self.plan.deep_page:,} deep (signed cursor)"
        self.results[scenario.name] = {"title": title, "runs": runs, "median": medians(runs)}
        if scenario.mode == "batch":
            self.results[scenario.name]["batch_size"] = self.batch_size

    def void_open_holds(self) -> None:
        """Void the holds the runs stopped before capturing, so no later scenario's accounts carry them."""
        # wrk stops without waiting for its last requests: let gunicorn finish them first.
        time.sleep(1)
        voided = 0
        while True:
            status, _, body = self.api("GET", "/api/v1/holds?status=HELD&limit=200")
            if status != 200:
                raise RuntimeError(f"listing the holds left open failed: {status} {str(body)[:500]}")
            if not body["results"]:
                break
            for hold in body["results"]:
                status, _, answer = self.api("POST", f"/api/v1/holds/{hold['id']}/void", {},
                                             key=f"bench-void-{hold['id']}")
                # A capture still in flight may have ended it since the list: nothing left to void.
                if status == 409 and isinstance(answer, dict) and answer.get("code") == "hold_not_active":
                    continue
                if status != 200:
                    raise RuntimeError(f"voiding hold {hold['id']} failed: {status} {str(answer)[:500]}")
                voided += 1
        say(f"hold_capture: voided the {voided} holds the runs' ends left uncaptured")

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

    # --- what wrk does not measure ------------------------------------------------------------

    def reconcile(self, *, after: str) -> None:
        """Run `manage.py reconcile` on the books as `after` left them and keep its drift count."""
        started = time.monotonic()
        result = run_manage(self.env, "reconcile", "--json", timeout=600)
        try:
            drift_count = int(json.loads(result.stdout)["drift_count"])
        except (ValueError, KeyError, TypeError):
            drift_count = None  # it failed before it could count: not clean either
        check = {"after": after, "drift_count": drift_count, "clean": result.returncode == 0 and drift_count == 0,
                 "seconds": round(time.monotonic() - started, 1)}
        if drift_count is None:
            check["detail"] = (result.stderr or result.stdout).strip()[-500:]
        self.checks["reconciliations"].append(check)
        verdict = "clean" if check["clean"] else f"NOT CLEAN ({drift_count} drifts) {check.get('detail', '')}"
        say(f"reconcile after {after}: {verdict} in {check['seconds']} s")

    def measure_cpu_per_transfer(self) -> None:
        """Run bench/profile_request.py's in-process CPU measure of API transfers on this run's database."""
        started = time.monotonic()
        try:
            figures = cpu_figure(scenario="transfer", database_url=self.pg.url, requests=self.plan.cpu_requests)
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            self.checks["cpu_error"] = str(error)[-1000:]
            say(f"{CPU_PROFILE}: failed: {self.checks['cpu_error']}")
            return
        figures["seconds"] = round(time.monotonic() - started, 1)
        self.checks["cpu"] = figures
        say(f"{CPU_PROFILE}: {figures['cpu_ms_median']:.2f} ms CPU per transfer in-process (median of "
            f"{figures['requests']}), {figures['queries']} queries, measured in {figures['seconds']} s")

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


