"""The system under test: a private PostgreSQL, gunicorn in front of it, and the faults we inflict."""

from __future__ import annotations

import base64
import http.client
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..system import REPO, free_port, manage, production_env

API_KEY_NAME = "bank-test"

# x86-64 syscall number: Python's time.sleep() blocks in it; an idle sync worker waits in select/poll.
CLOCK_NANOSLEEP = "230"


class ClusterError(RuntimeError):
    """The system under test could not be set up; not a finding about it."""


def server_env(*, database_url: str, workdir: Path, workers: int, fee_bps: int,
               authorization_ttl: int = 604_800) -> dict[str, str]:
    """Return a production-like environment with a generous rate limit, a platform fee and the authorizations' TTL."""
    return production_env(database_url=database_url, workdir=workdir, workers=workers, api_rate="1000000/min",
                          MINTGUARD_PLATFORM_FEE_BPS=str(fee_bps), GUNICORN_TIMEOUT="30",
                          MINTGUARD_AUTHORIZATION_TTL=str(authorization_ttl),
                          # A fresh Fernet key for secrets at rest (required when DEBUG is off).
                          MINTGUARD_ENCRYPTION_KEYS=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())


def create_api_key(env: dict[str, str]) -> str:
    created = manage(env, "create_api_key", "--name", API_KEY_NAME)
    if created.returncode != 0:
        raise ClusterError(f"create_api_key failed:\n{created.stdout}{created.stderr}")
    return created.stdout.strip().splitlines()[-1]


def children_of(pid: int) -> list[int]:
    """Return the live child processes of `pid` (gunicorn's workers), read from /proc."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return sorted(found)


class Gunicorn:
    """gunicorn with gunicorn.conf.py, in its own process group, on a port the kernel picks."""

    def __init__(self, *, env: dict[str, str], workers: int, log_path: Path):
        self.env, self.workers, self.log_path = env, workers, log_path
        self.process: subprocess.Popen | None = None
        self.port = 0

    def start(self, timeout: float = 60, attempts: int = 3) -> None:
        Path(self.env["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
        for attempt in range(1, attempts + 1):
            # Our own free port (gunicorn logs the one it got only at INFO): another process may
            # take it between the probe and the bind, hence the attempts.
            self.port = free_port()
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "gunicorn", "-c", str(REPO / "gunicorn.conf.py")], cwd=REPO,
                    env={**self.env, "GUNICORN_BIND": f"127.0.0.1:{self.port}"},
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and self.process.poll() is None:
                if len(self.worker_pids()) >= self.workers and self._healthy():
                    return
                time.sleep(0.1)
            self.stop()
            if attempt == attempts:
                break
        raise ClusterError(f"gunicorn did not serve with {self.workers} workers:\n{self.log_tail()}")

    def _healthy(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", "/readyz")
            return connection.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()

    def worker_pids(self) -> list[int]:
        return children_of(self.process.pid) if self.process else []

    def wait_for_workers(self, timeout: float = 30) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.worker_pids()) >= self.workers:
                return True
            time.sleep(0.05)
        return False

    def workers_sleeping(self) -> list[int]:
        """Return the workers blocked in clock_nanosleep: inside the simulated provider's `timeout`."""
        sleeping = []
        for pid in self.worker_pids():
            try:
                number = Path(f"/proc/{pid}/syscall").read_text().split()[0]
            except (OSError, IndexError):
                continue  # exited, or no permission to look (then we simply pick at random)
            if number == CLOCK_NANOSLEEP:
                sleeping.append(pid)
        return sleeping

    def kill_worker(self, rng: random.Random, among: list[int] | None = None) -> int | None:
        """SIGKILL one worker (`among` these, else any); gunicorn's master replaces it. Return its pid."""
        pids = among or self.worker_pids()
        if not pids:
            return None
        victim = rng.choice(pids)
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            return None
        return victim

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


def restart_postgres(pg) -> float:
    """Restart the cluster the way an operator's failover or upgrade would: fast shutdown, start. Return seconds."""
    started = time.monotonic()
    result = subprocess.run([*pg.pg_ctl, "restart", "-m", "fast", "--wait", "--timeout=60"],
                            cwd=pg.data_dir.parent, capture_output=True, text=True)
    if result.returncode != 0:
        raise ClusterError(f"pg_ctl restart failed ({result.returncode}): {result.stdout}{result.stderr}")
    return time.monotonic() - started
