"""The clients' hold operations: reserve, capture (whole, partial, too much), void, and capture too late.

A hold (`POST /api/v1/holds`) reserves money on a customer account; a capture moves some or all of
it to the destination in one transfer, a void releases it, and a hold whose `expires_at` passes
reserves nothing from that instant. Some holds live 1-3 s, so they expire during the run while
clients still capture or void them (expect 409 `hold_expired`), and the expiry job (`jobs`) records
them EXPIRED at its own pace, racing the captures. Several clients may end one hold at once: one
wins, the others get 409 `hold_not_active`. Every operation follows the clients' rule (its own
Idempotency-Key, resent with the same key until answered); the checker (`check_holds`) judges them.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime

from .history import Op

HOLD_REFUSALS = {
    "hold_create": frozenset({"insufficient_funds"}),
    "hold_capture": frozenset({"hold_not_active", "hold_expired", "capture_exceeds_hold"}),
    "hold_void": frozenset({"hold_not_active", "hold_expired"}),
}
HOLD_KINDS = tuple(HOLD_REFUSALS)
# Weights beside workload.Client.MIX's 100.
HOLD_MIX = (("hold_create", 8), ("hold_capture", 6), ("hold_void", 3))
# Seconds a hold lives: short ones expire while the clients work, the rest outlive a short run.
SHORT_TTL = (1, 3)
LONG_TTL = (5, 60)


def wall_time(timestamp: str) -> float:
    """An API timestamp (ISO 8601) as seconds since the epoch, to compare with time.time()."""
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


class HoldHints:
    """What the clients know of the holds they made; hints only, the server decides."""

    def __init__(self):
        self.lock = threading.Lock()
        self.holds: dict[str, dict] = {}

    def learn(self, op: Op) -> None:
        """Remember what an answer says of a hold (the checker reads the answers, not these hints)."""
        body = op.response
        with self.lock:
            if op.kind == "hold_create" and op.outcome == "acked":
                self.holds[body["id"]] = {"id": body["id"], "amount": body["amount"],
                                          "source": body["source_account_id"],
                                          "destination": body["destination_account_id"],
                                          "expires_at": wall_time(body["expires_at"]), "status": body["status"]}
            elif op.kind in ("hold_capture", "hold_void") and op.meta["hold"] in self.holds:
                hint = self.holds[op.meta["hold"]]
                if op.outcome == "acked":
                    hint["status"] = body["hold"]["status"]
                elif op.code == "hold_expired":
                    hint["status"] = "EXPIRED"
                elif op.code == "hold_not_active" and hint["status"] == "HELD":
                    hint["status"] = "ENDED"  # captured or voided by another client

    def pick(self, rng: random.Random) -> dict | None:
        """A hold to end: mostly a live one (now and then the one closest to expiring, to race the
        instant it expires), sometimes one already expired, sometimes any (maybe already ended)."""
        now = time.time()
        roll = rng.random()
        with self.lock:
            if not self.holds:
                return None
            held = [h for h in self.holds.values() if h["status"] == "HELD"]
            live = [h for h in held if h["expires_at"] > now]
            if roll < 0.15 and live:
                return dict(min(live, key=lambda h: h["expires_at"]))
            if roll < 0.7 and live:
                return dict(rng.choice(live))
            expired = [h for h in held if h["expires_at"] <= now]
            if roll < 0.85 and expired:
                return dict(rng.choice(expired[-50:]))  # among the latest: their expiry may race the job
            return dict(rng.choice(list(self.holds.values())))


class HoldOps:
    """The hold operations of workload.Client (mixed in): `_op_<kind>` builds the next operation."""

    rng: random.Random
    world: object  # workload.World, whose `holds` are HoldHints

    def _hold_amount(self) -> int:
        # Mostly small; now and then more than the source has available: refused.
        return self.rng.randint(1, 5_000) if self.rng.random() < 0.92 else self.rng.randint(5_000, 400_000)

    def _op_hold_create(self, seq: int) -> Op:
        currency = self.rng.choice(tuple(self.world.accounts))
        source, destination = self.rng.sample(self.world.accounts[currency], 2)
        body = {"source_account_id": source, "destination_account_id": destination, "amount": self._hold_amount()}
        roll = self.rng.random()
        if roll < 0.45:
            body["expires_in"] = self.rng.randint(*SHORT_TTL)
        elif roll < 0.85:
            body["expires_in"] = self.rng.randint(*LONG_TTL)
        # else the default: a week, so it outlives the run and still reserves at the end
        if self.rng.random() < 0.2:
            body["description"] = "bank test hold"
        return Op(seq, "hold_create", self._key(seq, "hold"), "/api/v1/holds", body,
                  meta={"source": source, "destination": destination, "currency": currency})

    def _op_hold_capture(self, seq: int) -> Op | None:
        hold = self.world.holds.pick(self.rng)
        if hold is None:
            return None
        roll, amount = self.rng.random(), hold["amount"]
        body: dict = {}
        if roll < 0.35 and amount > 1:
            body["amount"] = self.rng.randint(1, amount - 1)  # partial: the rest is released
        elif roll < 0.5:
            body["amount"] = amount  # the whole hold, said explicitly
        elif roll < 0.6:
            body["amount"] = amount + self.rng.randint(1, 1_000)  # more than is held: 409
        # else no amount: the whole hold
        return Op(seq, "hold_capture", self._key(seq, "cap"), f"/api/v1/holds/{hold['id']}/capture", body,
                  meta={"hold": hold["id"]})

    def _op_hold_void(self, seq: int) -> Op | None:
        hold = self.world.holds.pick(self.rng)
        if hold is None:
            return None
        return Op(seq, "hold_void", self._key(seq, "void"), f"/api/v1/holds/{hold['id']}/void", {},
                  meta={"hold": hold["id"]})

