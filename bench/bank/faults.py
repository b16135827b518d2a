"""The fault injector: SIGKILL gunicorn workers mid-request, restart PostgreSQL, at planned points of the run."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

from .cluster import Gunicorn, restart_postgres
from .workload import Budget, History

KILL, PG_RESTART = "worker_kill", "pg_restart"


@dataclass(order=True)
class Fault:
    at: float  # fraction of the operation budget handed out when it strikes
    kind: str = field(compare=False)


def plan(*, kills: int, pg_restarts: int, kills_between: tuple[float, float], restarts_at: float) -> list[Fault]:
    """Spread the kills evenly over `kills_between`; put the restarts around `restarts_at`."""
    low, high = kills_between
    faults = [Fault(low + (high - low) * i / max(kills - 1, 1), KILL) for i in range(kills)]
    faults += [Fault(restarts_at + 0.05 * i, PG_RESTART) for i in range(pg_restarts)]
    return sorted(faults)


@dataclass
class FaultLog:
    worker_kills: int = 0
    kills_with_requests_in_flight: int = 0
    kills_inside_provider_call: int = 0
    pg_restarts: int = 0
    pg_restart_seconds: list = field(default_factory=list)
    windows: list = field(default_factory=list)  # (start, end) monotonic: when 5xx are expected
    events: list = field(default_factory=list)  # human-readable lines for the report


class FaultInjector(threading.Thread):
    """Strike each planned fault once the clients reach its point; hold them there until it has struck."""

    def __init__(self, *, faults: list[Fault], gunicorn: Gunicorn, pg, budget: Budget, history: History, seed: int):
        super().__init__(name="fault-injector", daemon=True)
        self.pending = list(faults)
        self.gunicorn, self.pg, self.budget, self.history = gunicorn, pg, budget, history
        # A dice roll for the workload and the faults, not a secret.
        self.rng = random.Random(seed)  # noqa: S311  # nosec B311
        self.log = FaultLog()
        self.error: BaseException | None = None
        self.lock = threading.Lock()
        self.started_at = time.monotonic()
        # Let the clients run a little past the next fault's point, then wait for it to strike.
        budget.hold = self._hold

    def _hold(self, taken: int) -> bool:
        # A few seconds of work past the fault's point (>= 400 operations, >= 2% of the run).
        margin = max(0.02 * self.budget.total, 400)
        with self.lock:
            return bool(self.pending) and taken >= self.pending[0].at * self.budget.total + margin

    def run(self) -> None:
        try:
            while True:
                with self.lock:
                    if not self.pending:
                        return
                    fault = self.pending[0]
                if self.budget.progress < fault.at:
                    time.sleep(0.02)
                    continue
                (self._kill if fault.kind == KILL else self._restart_postgres)()
                with self.lock:
                    self.pending.pop(0)
        except BaseException as exc:
            self.error = exc
            with self.lock:
                self.pending.clear()  # release the clients: the driver reports the failure

    def _kill(self) -> None:
        self.gunicorn.wait_for_workers()
        # Every other kill waits (a little) for a worker inside a pay's provider call (a `timeout`
        # pay sleeps there): the request dies between the committed recovery point and the
        # booking, the path that must neither lose nor double a charge.
        sleeping: list[int] = []
        if self.log.worker_kills % 2 == 1:
            deadline = time.monotonic() + 3
            while not sleeping and time.monotonic() < deadline:
                sleeping = self.gunicorn.workers_sleeping()
                time.sleep(0.005)
        # Otherwise strike while the workers are busy: more requests in flight than workers means each has one.
        deadline = time.monotonic() + 3
        while not sleeping and self.history.inflight <= self.gunicorn.workers and time.monotonic() < deadline:
            time.sleep(0.005)
        busy = bool(sleeping) or self.history.inflight > self.gunicorn.workers
        start = time.monotonic()
        victim = self.gunicorn.kill_worker(self.rng, among=sleeping)
        if victim is None:
            return
        self.log.worker_kills += 1
        self.log.kills_with_requests_in_flight += int(busy)
        self.log.kills_inside_provider_call += int(bool(sleeping))
        respawned = self.gunicorn.wait_for_workers()
        self.log.windows.append((start, time.monotonic() + 1))
        where = "inside a provider call" if sleeping else f"{self.history.inflight} requests in flight"
        self.log.events.append(
            f"{start - self.started_at:7.1f}s  SIGKILL worker {victim} ({where}; replaced: {respawned})")

    def _restart_postgres(self) -> None:
        start = time.monotonic()
        seconds = restart_postgres(self.pg)
        self.log.pg_restarts += 1
        self.log.pg_restart_seconds.append(round(seconds, 2))
        # Requests that were inside the database when it went away answer 5xx just after: allow a margin.
        self.log.windows.append((start, time.monotonic() + 5))
        self.log.events.append(f"{start - self.started_at:7.1f}s  pg_ctl restart -m fast ({seconds:.1f} s)")
