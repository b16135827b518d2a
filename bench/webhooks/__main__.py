"""Run the webhook delivery test: `python -m bench.webhooks --help`. Exit 0 only with 0 violations."""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from ..bank.cluster import ClusterError, Gunicorn, create_api_key, server_env
from ..bank.workload import Http
from ..system import REPO, load_with_postgres, manage
from .receiver import Receiver

FUNDING = 50_000  # minor units per account at setup: small, so large withdrawals are refused
EVENT_OF = {"deposit": "account.deposit", "withdraw": "account.withdrawal", "transfer": "transfer.created"}


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__)
    parser.add_argument("--ops", type=int, default=2000, help="money operations (setup excluded)")
    parser.add_argument("--clients", type=int, default=4, help="client threads")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--workers", type=int, default=3, help="task workers (manage.py run_worker)")
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--kills", type=int, default=5, help="task workers to SIGKILL (each restarted)")
    parser.add_argument("--kills-between", type=float, nargs=2, default=(0.1, 0.75), metavar=("FROM", "TO"),
                        help="fractions of the operations over which the kills are spread")
    parser.add_argument("--fail-at", type=float, default=0.2, help="fraction of the ops when the 500s start")
    parser.add_argument("--fail-seconds", type=float, default=4, help="how long the receiver answers 500")
    parser.add_argument("--hang-at", type=float, default=0.5, help="fraction of the ops when the hangs start")
    parser.add_argument("--hang-seconds", type=float, default=3, help="how long the receiver hangs past 10 s")
    parser.add_argument("--retry-base", type=int, default=2, help="MINTGUARD_WEBHOOK_RETRY_BASE, seconds")
    parser.add_argument("--sweep-every", type=int, default=5, help="MINTGUARD_SCHEDULE_EVENTS_SWEEP, seconds")
    parser.add_argument("--sweep-grace", type=float, default=30, help="the worker's sweep grace, seconds")
    parser.add_argument("--lease", type=float, default=15, help="the worker's attempt lease, seconds (> 10)")
    parser.add_argument("--max-seconds", type=float, default=240, help="stop sending new operations after this")
    parser.add_argument("--catch-up-seconds", type=float, default=120,
                        help="after sending, how long the workers have to deliver everything")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the report here as JSON")
    args = parser.parse_args(argv)
    if args.accounts < 2 or args.ops < 1 or args.workers < 1:
        parser.error("need at least 2 accounts, 1 operation and 1 worker")
    return args


class Workers:
    """The task workers: `python -m bench.webhooks.worker` (manage.py run_worker), SIGKILLed and restarted."""

    def __init__(self, *, env: dict[str, str], count: int, log_path: Path):
        self.env, self.count, self.log_path = env, count, log_path
        self.processes: list[subprocess.Popen] = []
        self.kills: list[dict] = []

    def _spawn(self) -> subprocess.Popen:
        with self.log_path.open("ab") as log:
            return subprocess.Popen([sys.executable, "-m", "bench.webhooks.worker", "--interval", "0.2"],
                                    cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)

    def start(self) -> None:
        self.processes = [self._spawn() for _ in range(self.count)]

    def kill_one(self, rng: random.Random) -> None:
        index = rng.randrange(len(self.processes))
        victim = self.processes[index]
        alive = victim.poll() is None
        if alive:
            os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        self.processes[index] = self._spawn()
        self.kills.append({"pid": victim.pid, "was_alive": alive, "at": time.time()})

    def died(self) -> list[int]:
        return [p.pid for p in self.processes if p.poll() is not None]

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Driver:
    def __init__(self, args, http: Http, accounts: list[str]):
        self.args, self.http, self.accounts = args, http, accounts
        self.lock = threading.Lock()
        self.taken = 0
        self.results: list[dict] = []
        self.errors: list[str] = []
        self.deadline = time.monotonic() + args.max_seconds

    @property
    def progress(self) -> float:
        return self.taken / self.args.ops

    def take(self) -> int | None:
        with self.lock:
            if self.taken >= self.args.ops or time.monotonic() > self.deadline:
                return None
            self.taken += 1
            return self.taken

    def new_op(self, seq: int, rng: random.Random) -> dict:
        roll = rng.random()
        key = f"wh{self.args.seed}-{seq}"
        source, destination = rng.sample(self.accounts, 2)
        amount = rng.randint(1, 3_000) if rng.random() < 0.9 else rng.randint(200_000, 400_000)
        if roll < 0.3:
            return {"kind": "deposit", "key": key, "path": f"/api/v1/accounts/{source}/deposit",
                    "body": {"amount": rng.randint(1, 3_000)}}
        if roll < 0.6:
            return {"kind": "withdraw", "key": key, "path": f"/api/v1/accounts/{source}/withdraw",
                    "body": {"amount": amount}}
        if roll < 0.92:
            return {"kind": "transfer", "key": key, "path": "/api/v1/transfers",
                    "body": {"source_account_id": source, "destination_account_id": destination, "amount": amount}}
        # Invalid: refused before anything is written (422), so no event either.
        if roll < 0.96:
            return {"kind": "invalid_deposit", "key": key, "path": f"/api/v1/accounts/{source}/deposit",
                    "body": {"amount": -rng.randint(1, 100)}}
        return {"kind": "invalid_transfer", "key": key, "path": "/api/v1/transfers",
                "body": {"source_account_id": source, "destination_account_id": source, "amount": 5}}

    def send(self, op: dict) -> dict:
        """Send with the same Idempotency-Key until a definitive answer (2xx or a business 4xx)."""
        for attempt in range(1, 61):
            try:
                status, _, body = self.http.request("POST", op["path"], op["body"], {"Idempotency-Key": op["key"]})
            except OSError as exc:
                op.setdefault("transport_errors", []).append(repr(exc))
                time.sleep(0.2)
                continue
            code = body.get("code") if isinstance(body, dict) else None
            if status >= 500 or status == 429 or code == "idempotency_key_in_use":
                time.sleep(0.2)
                continue
            op.update(status=status, code=code, attempts=attempt, response=body if 200 <= status < 300 else None,
                      outcome="acked" if 200 <= status < 300 else "refused")
            return op
        op.update(outcome="indeterminate")
        return op

    def client(self, number: int) -> None:
        rng = random.Random(self.args.seed * 1000 + number)  # noqa: S311  # nosec B311 - a workload, not a secret
        try:
            while (seq := self.take()) is not None:
                op = self.send(self.new_op(seq, rng))
                with self.lock:
                    self.results.append(op)
        except Exception as exc:  # a bug in the driver, reported
            with self.lock:
                self.errors.append(f"client {number}: {exc!r}")


def faults(driver: Driver, receiver: Receiver, workers: Workers, args, log: dict, done: threading.Event) -> None:
    """Kill a worker at each planned fraction of the operations; open the receiver's 500 and hang windows."""
    rng = random.Random(args.seed)  # noqa: S311  # nosec B311
    low, high = args.kills_between
    kill_at = [low + (high - low) * i / max(args.kills - 1, 1) for i in range(args.kills)]
    windows = [(args.fail_at, "500", args.fail_seconds), (args.hang_at, "timeout", args.hang_seconds)]
    # Progress is the receiver's: requests it got over the operations planned, so every fault lands while
    # the workers are delivering (they lag behind the clients). Once the clients are done and the
    # receiver hears nothing for 15 s (longer than a hang), the remaining faults strike at once.
    window_end, last_count, last_change = None, -1, time.monotonic()
    while kill_at or windows or window_end is not None:
        now = time.monotonic()
        count = receiver.request_count()
        if count != last_count:
            last_count, last_change = count, now
        progress = count / args.ops
        if done.is_set() and now - last_change > 15:
            progress = 1.0
        if window_end is not None and now >= window_end:
            receiver.set_mode("ok")
            log["windows"][-1]["ended"] = time.time()
            window_end = None
        if window_end is None and windows and progress >= windows[0][0]:
            _, mode, seconds = windows.pop(0)
            receiver.set_mode(mode)
            log["windows"].append({"mode": mode, "started": time.time(), "at_progress": round(progress, 3)})
            window_end = now + seconds
        if kill_at and progress >= kill_at[0]:
            kill_at.pop(0)
            workers.kill_one(rng)
            workers.kills[-1]["at_progress"] = round(progress, 3)
        time.sleep(0.02)
    receiver.set_mode("ok")


def run(args) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="mintguard-webhooks-"))
    with_postgres = load_with_postgres()
    receiver = Receiver()
    receiver.start()
    try:
        with with_postgres.private_postgres() as pg:
            env = server_env(database_url=pg.url, workdir=workdir, workers=args.web_workers, fee_bps=0)
            env.update(MINTGUARD_WEBHOOK_ALLOW_INSECURE="true", MINTGUARD_SCHEDULE_TICK="1",
                       MINTGUARD_SCHEDULE_EVENTS_SWEEP=str(args.sweep_every),
                       MINTGUARD_WEBHOOK_RETRY_BASE=str(args.retry_base),
                       BENCH_WEBHOOK_SWEEP_GRACE=str(args.sweep_grace), BENCH_WEBHOOK_LEASE=str(args.lease))
            migrated = manage(env, "migrate", "--noinput")
            if migrated.returncode != 0:
                raise ClusterError(f"migrate failed:\n{migrated.stdout}{migrated.stderr}")
            api_key = create_api_key(env)
            gunicorn = Gunicorn(env=env, workers=args.web_workers, log_path=workdir / "gunicorn.log")
            workers = Workers(env=env, count=args.workers, log_path=workdir / "workers.log")
            try:
                gunicorn.start()
                return _run_against(args, env, gunicorn, workers, receiver, api_key, workdir)
            finally:
                workers.stop()
                gunicorn.stop()
                if "django.db" in sys.modules:
                    from django.db import connections

                    connections.close_all()
    finally:
        receiver.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _setup(http: Http, receiver: Receiver, args) -> tuple[list[str], list[dict]]:
    status, _, endpoint = http.request("POST", "/api/v1/webhook-endpoints",
                                       {"url": receiver.url, "events": ["*"], "description": "bench.webhooks"})
    if status != 201:
        raise ClusterError(f"could not register the endpoint: {status} {endpoint}")
    receiver.secret = endpoint["secret"]
    accounts, setup_ops = [], []
    for i in range(args.accounts):
        status, _, account = http.request("POST", "/api/v1/accounts", {"owner_name": f"Hook {i}", "currency": "USD"},
                                          {"Idempotency-Key": f"wh{args.seed}-setup-account-{i}"})
        if status != 201:
            raise ClusterError(f"could not open account {i}: {status} {account}")
        accounts.append(account["id"])
        status, _, funded = http.request("POST", f"/api/v1/accounts/{account['id']}/deposit", {"amount": FUNDING},
                                         {"Idempotency-Key": f"wh{args.seed}-setup-fund-{i}"})
        if not 200 <= status < 300:
            raise ClusterError(f"could not fund account {i}: {status} {funded}")
        setup_ops.append({"kind": "deposit", "outcome": "acked", "status": status, "response": funded, "setup": True})
    return accounts, setup_ops


def _run_against(args, env, gunicorn, workers, receiver, api_key, workdir) -> dict:
    os.environ.update(env)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    http = Http(port=gunicorn.port, api_key=api_key, timeout=30)
    accounts, setup_ops = _setup(http, receiver, args)
    workers.start()
    driver = Driver(args, http, accounts)
    fault_log: dict = {"windows": []}
    done = threading.Event()
    injector = threading.Thread(target=faults, args=(driver, receiver, workers, args, fault_log, done), daemon=True)
    clients = [threading.Thread(target=driver.client, args=(n,), daemon=True) for n in range(args.clients)]
    started = time.monotonic()
    injector.start()
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    sending = time.monotonic() - started
    done.set()
    catch_up_started = time.monotonic()
    injector.join(timeout=args.catch_up_seconds)
    receiver.set_mode("ok")
    caught_up = _catch_up(receiver, max(args.catch_up_seconds - (time.monotonic() - catch_up_started), 5))
    catch_up = time.monotonic() - catch_up_started
    report = _check(args, driver, setup_ops, receiver, workers, fault_log)
    report["timing"] = {"sending_seconds": round(sending, 1), "catch_up_seconds": round(catch_up, 1),
                        "caught_up": caught_up, "total_seconds": round(time.monotonic() - started, 1),
                        "ops_per_second": round(len(driver.results) / sending, 1) if sending else None}
    if driver.errors:
        report["violations"]["driver_errors"] = driver.errors
    if not gunicorn.alive():
        report["violations"]["gunicorn_died"] = gunicorn.log_tail()
    report["violations"]["total"] = sum(len(v) if isinstance(v, list | dict) else 1
                                        for k, v in report["violations"].items() if k != "total")
    if report["violations"]["total"]:
        log = workdir / "workers.log"
        report["workers_log_tail"] = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    return report


def _outstanding(receiver: Receiver) -> dict[str, int]:
    from events.models import Delivery, DeliveryStatus, Event

    accepted = receiver.snapshot()["accepted"]
    event_ids = {str(pk) for pk in Event.objects.values_list("id", flat=True)}
    return {"pending": Delivery.objects.filter(status=DeliveryStatus.PENDING).count(),
            "undispatched": Event.objects.filter(dispatched_at__isnull=True).count(),
            "not_accepted": len(event_ids - set(accepted))}


def _catch_up(receiver: Receiver, seconds: float) -> bool:
    """Wait until every event is dispatched, no delivery is PENDING and the receiver accepted every event."""
    from django.db import connection

    deadline = time.monotonic() + seconds
    while True:
        left = _outstanding(receiver)
        connection.close()
        if not any(left.values()):
            return True
        if time.monotonic() > deadline:
            print(f"bench.webhooks: not caught up after {seconds:g} s: {left}", file=sys.stderr, flush=True)
            return False
        time.sleep(0.5)


def _check(args, driver, setup_ops, receiver, workers, fault_log) -> dict:
    from django.db.models import Avg
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    from events.models import Delivery, DeliveryAttempt, DeliveryStatus, Event

    seen = receiver.snapshot()
    ops = [*setup_ops, *driver.results]
    work = driver.results
    acked = [op for op in ops if op["outcome"] == "acked"]
    events = list(Event.objects.values("id", "type", "data"))
    event_ids = {str(e["id"]) for e in events}
    accepted_ids, received_ids = set(seen["accepted"]), set(seen["received"])
    deliveries = Counter(Delivery.objects.values_list("status", flat=True))
    violations: dict = {}

    def violation(name: str, items) -> None:
        if items:
            violations[name] = sorted(items)[:20] if isinstance(items, set | list) else items

    violation("events_never_accepted", event_ids - accepted_ids)
    violation("received_ids_that_are_no_event", received_ids - event_ids)
    violation("bad_signatures", seen["bad_signatures"])
    violation("payload_id_mismatches", seen["id_mismatches"])
    violation("deliveries_not_delivered", {k: v for k, v in deliveries.items() if k != DeliveryStatus.DELIVERED})
    violation("events_without_delivery", event_ids - {str(e) for e in Delivery.objects.values_list("event_id",
                                                                                                   flat=True)})
    violation("indeterminate_ops", [op["key"] for op in work if op["outcome"] == "indeterminate"])
    # Every acknowledged operation recorded exactly one event, of its kind, about its resource; refused none.
    expected_types = Counter(EVENT_OF.get(op["kind"], f"none ({op['kind']})") for op in acked)
    event_types = Counter(e["type"] for e in events)
    if expected_types != event_types:
        violations["event_types_vs_acked_ops"] = {"acked": dict(expected_types), "events": dict(event_types)}
    acked_resources = Counter(op["response"].get("id") for op in acked if isinstance(op["response"], dict))
    event_resources = Counter(e["data"].get("id") for e in events if isinstance(e["data"], dict))
    if None not in acked_resources and acked_resources != event_resources:
        violations["event_resources_vs_acked_ops"] = {
            "acked_without_event": sorted(set(acked_resources - event_resources))[:20],
            "events_without_acked_op": sorted(set(event_resources - acked_resources))[:20]}
    if len(workers.kills) < args.kills:
        violations["kills_missing"] = f"{len(workers.kills)} of {args.kills}"
    outcomes = Counter(op["outcome"] for op in work)
    return {
        "operations": {"attempted": len(work), "outcomes": dict(outcomes),
                       "acked_by_kind": dict(Counter(op["kind"] for op in work if op["outcome"] == "acked")),
                       "refused": dict(Counter(f"{op['kind']}:{op['status']}:{op['code']}" for op in work
                                               if op["outcome"] == "refused")),
                       "setup_deposits": len(setup_ops),
                       "retried_sends": sum(1 for op in work if op.get("attempts", 1) > 1)},
        "events": {"total": len(events), "by_type": dict(event_types), "acked_ops_incl_setup": len(acked)},
        "receiver": {"accepted_ids": len(accepted_ids), "accepted_deliveries": sum(seen["accepted"].values()),
                     "duplicate_deliveries": sum(n - 1 for n in seen["accepted"].values()),
                     "requests_by_mode": seen["answers"], "bad_signatures": len(seen["bad_signatures"])},
        "deliveries": {"by_status": dict(deliveries), "attempts": DeliveryAttempt.objects.count(),
                       "failed_attempts": DeliveryAttempt.objects.exclude(status_code__range=(200, 299)).count(),
                       "timed_out_attempts": DeliveryAttempt.objects.filter(error__contains="imeout").count()
                       + DeliveryAttempt.objects.filter(error__contains="took").count(),
                       "status_500_attempts": DeliveryAttempt.objects.filter(status_code=500).count(),
                       "mean_attempt_ms": round(DeliveryAttempt.objects.aggregate(m=Avg("duration_ms"))["m"] or 0),
                       "max_attempts": max((n for n in Delivery.objects.values_list("attempts", flat=True)),
                                           default=0)},
        "faults": {"worker_kills": len(workers.kills), "kills": workers.kills, "receiver_windows": fault_log["windows"],
                   "tasks_left_running_by_dead_workers": DBTaskResult.objects.filter(
                       status=TaskResultStatus.RUNNING).count()},
        "tasks": _task_stats(),
        "violations": violations,
    }


def _task_stats() -> dict:
    """How many tasks of each kind the workers ran, and how long one took (milliseconds, mean)."""
    from django.db.models import Avg, Count, F
    from django_tasks_db.models import DBTaskResult

    rows = (DBTaskResult.objects.filter(finished_at__isnull=False).values("task_path")
            .annotate(n=Count("id"), run=Avg(F("finished_at") - F("started_at"))))
    return {row["task_path"].rsplit(".", 1)[-1]: {"count": row["n"],
                                                  "mean_ms": round(row["run"].total_seconds() * 1000)}
            for row in rows}


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        report = run(args)
    except ClusterError as exc:
        print(f"bench.webhooks: could not set up: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0 if report["violations"]["total"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
