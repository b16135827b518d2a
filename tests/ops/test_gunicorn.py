"""Metrics under real gunicorn with two workers: counts add up across workers and survive a dead one.

The server runs against its own SQLite file (migrated here), whatever database the suite uses, so
it never races the test database; it binds a free loopback port chosen by the kernel.
"""

import http.client
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
TOKEN = "scrape-" + uuid.uuid4().hex
DEPOSIT_ROUTE = "api/v1/accounts/<str:account_id>/deposit"


class Server:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.db = tmp / "ops.sqlite3"
        self.log = tmp / "gunicorn.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("MINTGUARD_", "PROMETHEUS_"))},
            "DJANGO_SETTINGS_MODULE": "mintguard_site.settings_test",
            "DATABASE_URL": f"sqlite:///{self.db}",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp / "metrics"),
            "MINTGUARD_METRICS_TOKEN": TOKEN,
            "WEB_CONCURRENCY": "2",
            "GUNICORN_BIND": "127.0.0.1:0",
        }
        (tmp / "metrics").mkdir()
        self.process: subprocess.Popen | None = None
        self.port = 0
        self.sent: dict[str, int] = {}  # route -> responses received, scrapes excluded

    def manage(self, *args) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=self.env, capture_output=True,
                              text=True, timeout=120)

    def start(self) -> None:
        migrated = self.manage("migrate", "--noinput")
        assert migrated.returncode == 0, migrated.stderr
        created = self.manage("create_api_key", "--name", "ops-test")
        assert created.returncode == 0, created.stderr
        self.key = created.stdout.strip().splitlines()[-1]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(REPO / "gunicorn.conf.py")], cwd=REPO, env=self.env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + 120  # a loaded machine boots workers slowly
        while time.monotonic() < deadline and len(self.booted_workers()) < 2:
            assert self.process.poll() is None, self.log.read_text()
            time.sleep(0.1)
        match = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", self.log.read_text())
        assert match and len(self.booted_workers()) == 2, self.log.read_text()
        self.port = int(match.group(1))

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def log_lines(self) -> list[dict]:
        lines = []
        for raw in self.log.read_text().splitlines():
            if raw.startswith("{"):
                lines.append(json.loads(raw))
        return lines

    def booted_workers(self) -> list[int]:
        return [int(m) for m in re.findall(r"Booting worker with pid: (\d+)", self.log.read_text())]

    def request(self, method: str, path: str, body: dict | None = None, route: str | None = None, **headers):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            payload = json.dumps(body) if body is not None else None
            if payload is not None:
                headers["Content-Type"] = "application/json"
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        if route is not None:
            self.sent[route] = self.sent.get(route, 0) + 1
        return response.status, dict(response.getheaders()), data

    def api(self, method: str, path: str, route: str, body: dict | None = None, **headers):
        return self.request(method, path, body, route=route, Authorization=f"Bearer {self.key}", **headers)

    def scrape(self) -> dict[str, dict]:
        status, headers, data = self.request("GET", "/metrics", Authorization=f"Bearer {TOKEN}")
        assert status == 200, data
        samples: dict[str, dict] = {}
        for family in text_string_to_metric_families(data.decode()):
            for s in family.samples:
                samples.setdefault(s.name, {})[frozenset(s.labels.items())] = s.value
        return samples


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("gunicorn"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


def total(samples: dict, name: str, **match) -> float:
    return sum(value for labels, value in samples.get(name, {}).items()
               if all((key, want) in labels for key, want in match.items()))


def test_two_workers_count_every_request_ledger_posting_replay_and_conflict(server):
    # given: an account, then deposits from eight threads at once so both workers are busy
    before = server.scrape()
    server.sent.clear()
    status, _, body = server.api("POST", "/api/v1/accounts", "api/v1/accounts",
                                 {"owner_name": "Gunicorn", "currency": "USD"})
    assert status == 201
    account_id = json.loads(body)["id"]
    deposit_path = f"/api/v1/accounts/{account_id}/deposit"

    def deposit(n: int):
        return server.api("POST", deposit_path, DEPOSIT_ROUTE, {"amount": 100}, **{"Idempotency-Key": f"dep-{n}"})

    with ThreadPoolExecutor(8) as pool:
        statuses = [result[0] for result in pool.map(deposit, range(40))]
    replays = [deposit(n) for n in range(5)]
    conflict = server.api("POST", deposit_path, DEPOSIT_ROUTE, {"amount": 999}, **{"Idempotency-Key": "dep-0"})
    for _ in range(6):
        server.api("GET", f"/api/v1/accounts/{account_id}", "api/v1/accounts/<str:account_id>")
    server.request("GET", "/healthz", route="healthz")
    # until both workers have served (bounded): the kernel, not we, hands out connections
    for _ in range(200):
        if len({line["pid"] for line in server.log_lines() if line.get("logger") == "mintguard.request"}) >= 2:
            break
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: server.request("GET", "/healthz", route="healthz"), range(4)))

    # when
    samples = server.scrape()

    # then
    assert statuses == [201] * 40
    assert [status for status, headers, _ in replays] == [201] * 5
    assert all(headers.get("Idempotent-Replayed") == "true" for _, headers, _ in replays)
    assert conflict[0] == 409
    serving_pids = {line["pid"] for line in server.log_lines() if line.get("logger") == "mintguard.request"}
    assert serving_pids <= set(server.booted_workers())
    assert len(serving_pids) == 2, "both workers must have served requests"

    def grew(name: str, **labels) -> float:
        return total(samples, name, **labels) - total(before, name, **labels)

    assert {route: grew("mintguard_http_requests_total", route=route) for route in server.sent} == {
        route: float(count) for route, count in server.sent.items()
    }
    assert grew("mintguard_http_requests_total", route=DEPOSIT_ROUTE, status="201") == 45
    assert grew("mintguard_http_requests_total", route=DEPOSIT_ROUTE, status="409") == 1
    assert grew("mintguard_http_request_duration_seconds_count", route=DEPOSIT_ROUTE) == 46
    assert grew("mintguard_ledger_transactions_posted_total", kind="deposit") == 40
    assert grew("mintguard_idempotent_replays_total") == 5
    assert grew("mintguard_idempotency_conflicts_total", code="idempotency_key_reused") == 1
    for name in ("mintguard_payments_total", "mintguard_webhooks_received_total", "mintguard_rate_limited_total"):
        assert name in samples, name


def test_counts_survive_the_death_of_a_worker(server):
    before = server.scrape()
    victim = server.booted_workers()[-1]

    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 120  # a loaded machine boots workers slowly
    while time.monotonic() < deadline and len(server.booted_workers()) < 3:
        time.sleep(0.1)
    after = server.scrape()

    assert len(server.booted_workers()) >= 3, "gunicorn must replace the dead worker"
    for name in ("mintguard_ledger_transactions_posted_total", "mintguard_idempotent_replays_total"):
        assert total(after, name) == total(before, name), name
    assert total(after, "mintguard_http_requests_total", route=DEPOSIT_ROUTE) == total(
        before, "mintguard_http_requests_total", route=DEPOSIT_ROUTE)


def test_metrics_need_the_token_under_gunicorn(server):
    assert server.request("GET", "/metrics")[0] == 401
    assert server.request("GET", "/metrics", Authorization="Bearer nope")[0] == 401
    assert server.request("GET", "/healthz")[0] == 200
    assert server.request("GET", "/readyz")[0] == 200


def test_reconcile_command_exit_status_and_drift_gauge_follow_the_books(server):
    status, _, body = server.api("POST", "/api/v1/accounts", "api/v1/accounts",
                                 {"owner_name": "Reconciled", "currency": "EUR"})
    account_id = json.loads(body)["id"]
    server.api("POST", f"/api/v1/accounts/{account_id}/deposit", DEPOSIT_ROUTE, {"amount": 4000},
               **{"Idempotency-Key": "reconcile-1"})
    clean = server.manage("reconcile")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert server.scrape()["mintguard_reconciliation_drifts"][frozenset()] == 0

    with sqlite3.connect(server.db) as db:
        db.execute("UPDATE ledger_balancebucket SET balance = balance + 3 "
                   "WHERE account_id = ?", (uuid.UUID(account_id).hex,))
    broken = server.manage("reconcile")
    as_json = server.manage("reconcile", "--json")

    assert broken.returncode == 1
    assert "stored balance 4003 differs from the sum of its postings 4000 (by 3)." in broken.stdout
    assert "CommandError: reconciliation found 2 drift(s)" in broken.stderr
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["drift_count"] == 2
    samples = server.scrape()
    assert samples["mintguard_reconciliation_drifts"][frozenset()] == 2
    assert samples["mintguard_reconciliation_last_run_timestamp_seconds"][frozenset()] > 0


def test_request_log_lines_are_json_with_request_id_route_and_client_but_never_the_key(server):
    request_id = "gunicorn-" + uuid.uuid4().hex
    status, headers, _ = server.api("GET", "/api/v1/accounts", "api/v1/accounts", **{"X-Request-ID": request_id})

    assert status == 200
    assert headers["X-Request-ID"] == request_id
    [line] = [line for line in server.log_lines() if line.get("request_id") == request_id]
    assert line["route"] == "api/v1/accounts"
    assert line["status"] == 200
    assert line["client_name"] == "ops-test"
    assert server.key not in server.log.read_text()
    assert TOKEN not in server.log.read_text()



def test_only_workers_write_metric_files_and_the_master_wiped_the_directory_at_start(server):
    files = [path.name for path in (server.tmp / "metrics").glob("*.db")]
    pids = {int(name.rsplit("_", 1)[1].removesuffix(".db")) for name in files}

    assert files
    assert server.process.pid not in pids
    assert pids <= set(server.booted_workers())
