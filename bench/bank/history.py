"""The operations the bank test's clients send and the history they keep, shared by their threads."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Op:
    """One client operation and everything the client saw while sending it."""

    seq: int
    kind: str
    key: str
    path: str
    body: dict
    headers: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    setup: bool = False
    attempts: int = 0
    first_sent: float = 0.0
    # Wall clock (the server's clock too, on this machine): when it was first sent, when answered.
    first_sent_wall: float = 0.0
    answered_wall: float = 0.0
    due: float = 0.0
    outcome: str = "pending"  # acked | refused | indeterminate
    status: int | None = None
    code: str | None = None
    response: dict | None = None
    replayed: bool = False
    failures: Counter = field(default_factory=Counter)

    def __lt__(self, other: Op) -> bool:  # heap order: due time, then age
        return (self.due, self.seq) < (other.due, other.seq)


@dataclass
class Stats:
    requests: int = 0
    cut: int = 0  # connection reset, closed without an answer: a worker died under us
    timeouts: int = 0
    refused_connections: int = 0
    server_errors: int = 0
    in_use: int = 0
    rate_limited: int = 0
    replays: int = 0
    server_error_samples: list = field(default_factory=list)  # (monotonic time, op kind, status, body head)


class History:
    """Every operation sent and the counters of everything seen, shared by the client threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ops: list[Op] = []
        self.stats = Stats()
        self.inflight = 0

    def add(self, op: Op) -> None:
        with self.lock:
            self.ops.append(op)

    def count(self, name: str, n: int = 1) -> None:
        with self.lock:
            setattr(self.stats, name, getattr(self.stats, name) + n)

    def inflight_change(self, delta: int) -> None:
        with self.lock:
            self.inflight += delta

    def server_error(self, op: Op, status: int, body) -> None:
        with self.lock:
            self.stats.server_errors += 1
            if len(self.stats.server_error_samples) < 200:
                head = json.dumps(body)[:200] if isinstance(body, dict) else repr(body)[:200]
                self.stats.server_error_samples.append((time.monotonic(), op.kind, status, head))
