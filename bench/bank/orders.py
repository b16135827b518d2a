"""The clients' order authorizations: authorize now, capture (whole, partial, too much) or void later.

`POST /api/v1/orders/{id}/authorize` is pay with the provider holding the funds (forced by
`X-Provider-Simulate` to succeed, decline, be out or time out, as pays are); `/capture` books part
or all of it once, `/void` releases it. The server runs with a short MINTGUARD_AUTHORIZATION_TTL
(`--authorization-ttl`), so authorizations expire during the run while clients still capture or
void them (409 `authorization_expired`), and `jobs` runs `manage.py expire_authorizations`. Several
clients may capture, void or pay one order at once: one wins. The checker (`check_orders`) judges
the answers against the final orders, payments, ledger and the simulated provider's records.
"""

from __future__ import annotations

import random
import threading
import time

from .history import Op

ORDER_REFUSALS = {
    "order_authorize": frozenset({"order_not_payable"}),
    "order_capture": frozenset({"order_not_capturable", "authorization_expired", "capture_exceeds_authorization",
                                "provider_unavailable"}),
    "order_void": frozenset({"order_not_voidable", "authorization_expired", "provider_unavailable"}),
}
ORDER_KINDS = tuple(ORDER_REFUSALS)
# Weights beside workload.Client.MIX's 100.
ORDER_MIX = (("order_authorize", 7), ("order_capture", 3), ("order_void", 1))
CLOSE_SIMULATIONS = (("none", 90), ("outage", 5), ("timeout", 5))  # a capture's or void's provider call


class AuthorizedOrders:
    """When the clients learnt each order was AUTHORIZED (wall clock): hints for picking what to capture."""

    def __init__(self):
        self.lock = threading.Lock()
        self.since: dict[str, float] = {}

    def learn(self, op: Op) -> None:
        if op.outcome == "refused" and op.code in ("authorization_expired", "order_not_capturable",
                                                   "order_not_voidable"):
            with self.lock:
                self.since.pop(op.meta["order"], None)  # closed by someone, or expired: a hint only
            return
        if op.outcome != "acked" or op.kind not in ("pay", *ORDER_KINDS):
            return
        order = op.response["order"]
        with self.lock:
            if order["status"] == "AUTHORIZED":
                self.since.setdefault(order["id"], time.time())
            else:
                self.since.pop(order["id"], None)

    def pick(self, rng: random.Random, ttl: float) -> str | None:
        """Mostly an authorization well within its TTL (often the freshest); sometimes one at the edge of
        its TTL (racing the instant it expires); sometimes one just past it, which the expiry job may
        not have visited yet: the capture or void must find it expired all the same."""
        now, roll = time.time(), rng.random()
        with self.lock:
            if not self.since:
                return None
            ages = {order: now - since for order, since in self.since.items()}
            fresh = [order for order, age in ages.items() if age < ttl * 0.8]
            edge = [order for order, age in ages.items() if ttl * 0.8 <= age < ttl + 0.5]
            past = [order for order, age in ages.items() if age >= ttl + 0.5]
            if roll < 0.65 and fresh:
                return min(fresh, key=ages.get) if rng.random() < 0.3 else rng.choice(fresh)
            if roll < 0.8 and edge:
                return rng.choice(edge)
            if past:
                return min(past, key=ages.get)
            return rng.choice(list(ages))

class OrderOps:
    """The authorization operations of workload.Client (mixed in): `_op_<kind>` builds the next operation."""

    rng: random.Random
    world: object  # workload.World: its `orders` hints and `authorized`
    authorization_ttl: float = 5.0

    def _op_order_authorize(self, seq: int) -> Op | None:
        # As pays: mostly a CREATED or FAILED order, now and then one in any state (409 order_not_payable).
        statuses = frozenset({"CREATED", "FAILED"}) if self.rng.random() < 0.9 else frozenset(
            {"CREATED", "FAILED", "AUTHORIZED", "PAID", "CANCELED", "PARTIALLY_REFUNDED"})
        order = self.world.pick_order(self.rng, statuses)
        if order is None:
            return None
        simulate = self.rng.choices(["success", "decline", "outage", "timeout"], weights=[80, 10, 4, 6])[0]
        return Op(seq, "order_authorize", self._key(seq, "auth"), f"/api/v1/orders/{order['id']}/authorize", {},
                  headers={"X-Provider-Simulate": simulate}, meta={"order": order["id"], "simulate": simulate})

    def _closing_order(self) -> dict | None:
        """An AUTHORIZED order to capture or void; now and then any order (409 not capturable/voidable)."""
        if self.rng.random() < 0.1:
            return self.world.pick_order(self.rng, frozenset({"CREATED", "FAILED", "PAID", "CANCELED"}))
        order_id = self.world.authorized.pick(self.rng, self.authorization_ttl)
        return None if order_id is None else self.world.orders.get(order_id)

    def _close_headers(self) -> dict:
        simulate = self.rng.choices([s for s, _ in CLOSE_SIMULATIONS], weights=[w for _, w in CLOSE_SIMULATIONS])[0]
        return {} if simulate == "none" else {"X-Provider-Simulate": simulate}

    def _op_order_capture(self, seq: int) -> Op | None:
        order = self._closing_order()
        if order is None:
            return None
        roll, amount = self.rng.random(), order["amount"]
        body: dict = {}
        if roll < 0.35 and amount > 1:
            body["amount"] = self.rng.randint(1, amount - 1)  # partial: the rest is released
        elif roll < 0.45:
            body["amount"] = amount
        elif roll < 0.55:
            body["amount"] = amount + self.rng.randint(1, 500)  # more than authorized: 409
        return Op(seq, "order_capture", self._key(seq, "ocap"), f"/api/v1/orders/{order['id']}/capture", body,
                  headers=self._close_headers(), meta={"order": order["id"]})

    def _op_order_void(self, seq: int) -> Op | None:
        order = self._closing_order()
        if order is None:
            return None
        return Op(seq, "order_void", self._key(seq, "ovoid"), f"/api/v1/orders/{order['id']}/void", {},
                  headers=self._close_headers(), meta={"order": order["id"]})
