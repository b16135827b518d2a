"""Clients that behave like real ones, the operations they send, and the history they keep.

Every operation is one HTTP POST with its own Idempotency-Key. A client sends it until it gets a
definitive answer: a 2xx (acknowledged) or a business 4xx (refused). A cut connection, a timeout,
a 5xx, a 429 or 409 `idempotency_key_in_use` are not answers: the operation is parked and sent
again later with the same key, body and headers, while the client gets on with new operations (as
a queue-driven payment client would; a killed request holds its key's lease for 60 s). An operation
that gets no answer within `max_op_seconds` is left `indeterminate`, which the checker counts as a
violation: the system must answer everyone eventually.

The history is the clients' knowledge and nothing more: the checker computes what the books must
say from the acknowledged answers alone.
"""

from __future__ import annotations

import heapq
import http.client
import json
import random
import threading
import time

from .history import History, Op, Stats  # noqa: F401 - the operations and history the clients keep
from .holds import HOLD_KINDS, HOLD_MIX, HOLD_REFUSALS, HoldHints, HoldOps
from .orders import ORDER_KINDS, ORDER_MIX, ORDER_REFUSALS, AuthorizedOrders, OrderOps

# Refusals a correct server may give each kind of operation, by problem `code`. Anything else
# (a 404 for our own account, a 422 for a body we know is valid...) is a finding.
EXPECTED_REFUSALS = {
    "account_create": frozenset(),
    "deposit": frozenset(),
    "withdraw": frozenset({"insufficient_funds"}),
    "transfer": frozenset({"insufficient_funds"}),
    "transfer_cross_currency": frozenset({"currency_mismatch"}),
    "order_create": frozenset(),
    "pay": frozenset({"order_not_payable"}),
    "refund": frozenset({"order_not_refundable", "refund_exceeds_remaining"}),
    **HOLD_REFUSALS,
    **ORDER_REFUSALS,
}
RETRY_CODES = frozenset({"idempotency_key_in_use"})
# Requests sent with a client timeout shorter than the server needs: their answers are lost.
IMPATIENT_SHARE = 0.03
CURRENCIES = ("USD", "EUR")


class Http:
    """One request per connection (gunicorn's sync workers close it anyway), bounded by a timeout."""

    def __init__(self, *, port: int, api_key: str, timeout: float):
        self.port, self.timeout = port, timeout
        self.auth = f"Bearer {api_key}"

    def request(self, method: str, path: str, body: dict | None = None, headers: dict | None = None,
                timeout: float | None = None):
        """Return (status, headers, parsed body or raw bytes) or raise OSError/HTTPException."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout or self.timeout)
        try:
            all_headers = {"Authorization": self.auth, "Accept": "application/json", **(headers or {})}
            payload = None
            if body is not None:
                payload = json.dumps(body).encode()
                all_headers["Content-Type"] = "application/json"
            connection.request(method, path, body=payload, headers=all_headers)
            response = connection.getresponse()
            raw = response.read()
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = raw[:300]
            return response.status, {k.lower(): v for k, v in response.getheaders()}, parsed
        finally:
            connection.close()

    def get(self, path: str):
        return self.request("GET", path)


class World:
    """What the clients know of the accounts and orders; hints only, the server decides."""

    def __init__(self):
        self.lock = threading.Lock()
        self.accounts: dict[str, list[str]] = {c: [] for c in CURRENCIES}
        self.orders: dict[str, dict] = {}
        self.holds = HoldHints()
        self.authorized = AuthorizedOrders()

    def add_order(self, order: dict) -> None:
        with self.lock:
            self.orders[order["id"]] = {"id": order["id"], "amount": order["amount"], "currency": order["currency"],
                                        "status": order["status"], "refunded": order["refunded_amount"],
                                        "paid": order.get("paid_amount", 0)}

    def update_order(self, order: dict) -> None:
        with self.lock:
            hint = self.orders.get(order["id"])
            if hint is not None:
                hint["status"], hint["refunded"] = order["status"], order["refunded_amount"]
                hint["paid"] = order.get("paid_amount", hint["amount"] if order["status"] == "PAID" else 0)

    def pick_order(self, rng: random.Random, statuses: frozenset[str]) -> dict | None:
        with self.lock:
            candidates = [o for o in self.orders.values() if o["status"] in statuses]
            return dict(rng.choice(candidates)) if candidates else None


class Budget:
    """Hands out operation numbers until the count or the time is used up.

    `hold` is asked before each one: the fault injector holds the clients at its next fault's
    point until it has struck, so every fault lands under load however fast the clients are.
    """

    def __init__(self, *, total: int, max_seconds: float):
        self.total, self.deadline = total, time.monotonic() + max_seconds
        self.lock = threading.Lock()
        self.taken = 0
        self.exhausted_at: float | None = None  # when the last operation was handed out
        self.hold = lambda taken: False

    def take(self) -> int | None:
        while True:
            with self.lock:
                if self.taken >= self.total or time.monotonic() > self.deadline:
                    self.exhausted_at = self.exhausted_at or time.monotonic()
                    return None
                if not self.hold(self.taken):
                    self.taken += 1
                    return self.taken
            time.sleep(0.01)

    @property
    def progress(self) -> float:
        return self.taken / self.total


class Client(HoldOps, OrderOps, threading.Thread):
    """One API client connection pool of one: sends new operations and re-sends parked ones."""

    def __init__(self, *, number: int, http: Http, world: World, budget: Budget, history: History, seed: int,
                 max_op_seconds: float, max_attempts: int, run_id: str, authorization_ttl: float = 5.0):
        super().__init__(name=f"client-{number}", daemon=True)
        self.number, self.http, self.world, self.budget, self.history = number, http, world, budget, history
        # A dice roll for the workload and the faults, not a secret.
        self.rng = random.Random(seed)  # noqa: S311  # nosec B311
        self.max_op_seconds, self.max_attempts, self.run_id = max_op_seconds, max_attempts, run_id
        self.authorization_ttl = authorization_ttl
        self.parked: list[Op] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # surfaced by the driver: a bug in the test, not in the system
            self.error = exc

    def _loop(self) -> None:
        while True:
            now = time.monotonic()
            if self.parked and self.parked[0].due <= now:
                self.send(heapq.heappop(self.parked))
                continue
            seq = self.budget.take() if not self.budget_done else None
            if seq is not None:
                op = self.new_op(seq)
                self.history.add(op)
                self.send(op)
                continue
            self.budget_done = True
            if not self.parked:
                return
            time.sleep(min(max(self.parked[0].due - now, 0.0), 0.2))

    budget_done = False

    # --- sending -----------------------------------------------------------------------

    def send(self, op: Op) -> None:
        """Send once; settle the operation on a definitive answer, park it otherwise."""
        now = time.monotonic()
        if op.attempts == 0:
            op.first_sent, op.first_sent_wall = now, time.time()
        op.attempts += 1
        self.history.inflight_change(+1)
        try:
            status, headers, body = self.http.request("POST", op.path, op.body,
                                                      {"Idempotency-Key": op.key, **op.headers},
                                                      timeout=self._impatience(op))
        except TimeoutError:
            self.history.count("timeouts")
            op.failures["timeout"] += 1
            return self._park(op, self._backoff(op))
        except ConnectionRefusedError:
            self.history.count("refused_connections")
            op.failures["refused"] += 1
            return self._park(op, self._backoff(op))
        except (OSError, http.client.HTTPException) as exc:
            self.history.count("cut")
            op.failures[type(exc).__name__] += 1
            return self._park(op, self._backoff(op))
        finally:
            self.history.inflight_change(-1)
            self.history.count("requests")
        code = body.get("code") if isinstance(body, dict) else None
        if status >= 500:
            self.history.server_error(op, status, body)
            op.failures[f"http_{status}"] += 1
            return self._park(op, self._backoff(op))
        if status == 429:
            self.history.count("rate_limited")
            op.failures["http_429"] += 1
            return self._park(op, float(headers.get("retry-after", "1")))
        if status == 409 and code in RETRY_CODES:
            self.history.count("in_use")
            op.failures[code] += 1
            wait = max(float(headers.get("retry-after", "1")), min(2.0 ** op.failures[code], 8.0))
            return self._park(op, wait)
        op.status, op.code, op.response, op.answered_wall = status, code, body, time.time()
        op.replayed = headers.get("idempotent-replayed") == "true"
        if op.replayed:
            self.history.count("replays")
        op.outcome = "acked" if 200 <= status < 300 else "refused"
        if op.kind in HOLD_KINDS:
            self.world.holds.learn(op)
        elif op.outcome == "acked":
            self._learn(op)
        elif op.kind in ORDER_KINDS:
            self.world.authorized.learn(op)

    def _impatience(self, op: Op) -> float | None:
        """Now and then give up on an answer too early, as a client with a short timeout does.

        The server goes on and commits; the resend with the same key must get that answer
        replayed (or `idempotency_key_in_use` while the first is still running), never a second
        execution. A pay whose provider call times out (0.5 s) is always given up on the first time.
        """
        if op.attempts == 1 and op.headers.get("X-Provider-Simulate") == "timeout":
            return 0.25
        if self.rng.random() < IMPATIENT_SHARE:
            return self.rng.uniform(0.005, 0.1)
        return None

    def _backoff(self, op: Op) -> float:
        tries = sum(op.failures.values())
        return min(0.05 * 2 ** min(tries, 6), 2.0) * (0.5 + self.rng.random())

    def _park(self, op: Op, wait: float) -> None:
        if op.attempts >= self.max_attempts or time.monotonic() - op.first_sent > self.max_op_seconds:
            op.outcome = "indeterminate"
            return
        op.due = time.monotonic() + wait
        heapq.heappush(self.parked, op)

    def _learn(self, op: Op) -> None:
        body = op.response
        if op.kind == "order_create":
            self.world.add_order(body)
        elif op.kind in ("pay", "refund", *ORDER_KINDS):
            self.world.update_order(body["order"])
            self.world.authorized.learn(op)

    # --- the operations ----------------------------------------------------------------

    MIX = (("transfer", 30), ("deposit", 12), ("withdraw", 12), ("order_create", 14), ("pay", 16), ("refund", 14),
           ("transfer_cross_currency", 2), *HOLD_MIX, *ORDER_MIX)

    def new_op(self, seq: int) -> Op:
        kind = self.rng.choices([k for k, _ in self.MIX], weights=[w for _, w in self.MIX])[0]
        op = getattr(self, f"_op_{kind}")(seq)
        if op is None:  # no order in a suitable state yet: move money instead
            op = self._op_transfer(seq)
        return op

    def _key(self, seq: int, kind: str) -> str:
        return f"{self.run_id}-c{self.number}-{seq}-{kind}"

    def _account(self, currency: str) -> str:
        return self.rng.choice(self.world.accounts[currency])

    def _amount(self, high: int) -> int:
        # Mostly small, now and then large enough to overdraw: the refusals matter as much.
        return self.rng.randint(1, high) if self.rng.random() < 0.9 else self.rng.randint(high, 40 * high)

    def _op_deposit(self, seq: int) -> Op:
        currency = self.rng.choice(CURRENCIES)
        account = self._account(currency)
        return Op(seq, "deposit", self._key(seq, "dep"), f"/api/v1/accounts/{account}/deposit",
                  {"amount": self._amount(5_000)}, meta={"account": account, "currency": currency})

    def _op_withdraw(self, seq: int) -> Op:
        currency = self.rng.choice(CURRENCIES)
        account = self._account(currency)
        return Op(seq, "withdraw", self._key(seq, "wd"), f"/api/v1/accounts/{account}/withdraw",
                  {"amount": self._amount(8_000)}, meta={"account": account, "currency": currency})

    def _op_transfer(self, seq: int) -> Op:
        currency = self.rng.choice(CURRENCIES)
        source, destination = self.rng.sample(self.world.accounts[currency], 2)
        body = {"source_account_id": source, "destination_account_id": destination, "amount": self._amount(6_000)}
        return Op(seq, "transfer", self._key(seq, "tr"), "/api/v1/transfers", body,
                  meta={"source": source, "destination": destination})

    def _op_transfer_cross_currency(self, seq: int) -> Op:
        source, destination = self._account("USD"), self._account("EUR")
        body = {"source_account_id": source, "destination_account_id": destination, "amount": self._amount(100)}
        return Op(seq, "transfer_cross_currency", self._key(seq, "trx"), "/api/v1/transfers", body,
                  meta={"source": source, "destination": destination})

    def _op_order_create(self, seq: int) -> Op:
        body = {"user_id": f"buyer-{self.rng.randint(1, 50)}", "amount": self.rng.randint(100, 20_000),
                "currency": self.rng.choice(CURRENCIES)}
        if self.rng.random() < 0.5:
            body["seller_id"] = f"seller-{self.rng.randint(1, 5)}"
        return Op(seq, "order_create", self._key(seq, "ord"), "/api/v1/orders", body)

    def _op_pay(self, seq: int) -> Op | None:
        # Now and then pay an order in any state: two clients paying one order must not both charge.
        statuses = frozenset({"CREATED", "FAILED"}) if self.rng.random() < 0.9 else frozenset(
            {"CREATED", "FAILED", "PAID", "PARTIALLY_REFUNDED"})
        order = self.world.pick_order(self.rng, statuses)
        if order is None:
            return None
        # `timeout` holds the worker in the provider call for MINTGUARD_PROVIDER_TIMEOUT (0.5 s): the fault
        # injector kills workers there on purpose.
        simulate = self.rng.choices(["success", "decline", "outage", "timeout"], weights=[75, 12, 5, 8])[0]
        return Op(seq, "pay", self._key(seq, "pay"), f"/api/v1/orders/{order['id']}/pay", {},
                  headers={"X-Provider-Simulate": simulate}, meta={"order": order["id"], "simulate": simulate})

    def _op_refund(self, seq: int) -> Op | None:
        order = self.world.pick_order(self.rng, frozenset({"PAID", "PARTIALLY_REFUNDED"}))
        if order is None:
            return None
        remaining = (order["paid"] or order["amount"]) - order["refunded"]
        roll = self.rng.random()
        body: dict = {}
        if roll < 0.55 and remaining > 1:
            body["amount"] = self.rng.randint(1, remaining - 1)  # partial
        elif roll < 0.85:
            pass  # the whole remaining amount, however much that is by the time it runs
        else:
            body["amount"] = remaining + self.rng.randint(1, 500)  # more than is left: 409
        if self.rng.random() < 0.3:
            body["reason"] = "bank test"
        return Op(seq, "refund", self._key(seq, "ref"), f"/api/v1/orders/{order['id']}/refund", body,
                  meta={"order": order["id"]})


def send_until_answered(client: Client, op: Op) -> Op:
    """Send one operation to a definitive answer from this thread (the setup phase, before any fault)."""
    client.history.add(op)
    client.send(op)
    while op.outcome == "pending":
        heapq.heappop(client.parked)
        time.sleep(max(op.due - time.monotonic(), 0))
        client.send(op)
    return op
