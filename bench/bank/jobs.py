"""What runs beside the clients, as in a deployment: the holds expiry job and a reader of `available`.

- Every `expire_every` seconds, `manage.py expire_holds` and `manage.py expire_authorizations` in
  child processes, as cron would run them: they record as EXPIRED the holds past `expires_at` and
  the authorizations past MINTGUARD_AUTHORIZATION_TTL, racing the clients' captures and voids of
  them. Each run's exit status and count are kept for the checker (a run may fail only during a fault).
- Every `sample_every` seconds, `GET /api/v1/accounts`: no account may ever show `available` below 0
  or above its balance. A read that fails (a fault) is simply not a sample.
"""

from __future__ import annotations

import http.client
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field

from ..system import manage
from .workload import Http

EXPIRED_LINE = re.compile(r"Expired (\d+) hold")


@dataclass
class JobRun:
    start: float  # monotonic, comparable with the fault windows
    end: float
    returncode: int
    expired: int | None  # as the command printed it; None if it printed no count
    output: str = ""


@dataclass
class JobLog:
    runs: list[JobRun] = field(default_factory=list)  # expire_holds
    authorization_runs: list[JobRun] = field(default_factory=list)  # expire_authorizations
    samples: int = 0  # accounts read
    sample_failures: int = 0  # reads that got no 200 (faults)
    bad_available: list = field(default_factory=list)  # (wall time, account id, balance, available)


def run_job(env: dict[str, str], command: str = "expire_holds") -> JobRun:
    """Run `manage.py <command>` once; return what it did (the count: expire_holds')."""
    start = time.monotonic()
    try:
        done = manage(env, command, timeout=120)
        returncode, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        returncode, output = -1, f"timed out: {exc}"
    found = EXPIRED_LINE.search(output) if returncode == 0 else None
    return JobRun(start, time.monotonic(), returncode, int(found.group(1)) if found else None, output[-1000:])


class Jobs(threading.Thread):
    """Runs the periodic jobs until `stop()`; `log` holds what they saw."""

    def __init__(self, *, env: dict[str, str], http: Http, expire_every: float, sample_every: float = 1.0):
        super().__init__(name="jobs", daemon=True)
        self.env, self.http = env, http
        self.expire_every, self.sample_every = expire_every, sample_every
        self.log = JobLog()
        self.error: BaseException | None = None
        self._stopping = threading.Event()

    def stop(self, timeout: float = 150) -> None:
        self._stopping.set()
        self.join(timeout)

    def run(self) -> None:
        try:
            next_expiry = time.monotonic() + self.expire_every
            while not self._stopping.is_set():
                if self.expire_every and time.monotonic() >= next_expiry:
                    self.log.runs.append(run_job(self.env, "expire_holds"))
                    self.log.authorization_runs.append(run_job(self.env, "expire_authorizations"))
                    next_expiry = time.monotonic() + self.expire_every
                if self.sample_every:
                    self._sample()
                self._stopping.wait(self.sample_every or 0.5)
        except BaseException as exc:  # surfaced by the driver: a bug in the test, not in the system
            self.error = exc

    def _sample(self) -> None:
        try:
            status, _, body = self.http.get("/api/v1/accounts?limit=100")
        except (OSError, http.client.HTTPException):  # a fault cut the read: no sample
            self.log.sample_failures += 1
            return
        if status != 200 or not isinstance(body, dict):
            self.log.sample_failures += 1
            return
        now = time.time()
        for account in body.get("results", []):
            self.log.samples += 1
            if not 0 <= account["available"] <= account["balance"]:
                self.log.bad_available.append((now, account["id"], account["balance"], account["available"]))
