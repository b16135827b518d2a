"""Model-based test: random sequences of ledger and payment service calls against an in-memory model.

Hypothesis drives a `RuleBasedStateMachine` through accounts, deposits, withdrawals, transfers
(overdrafts, self-transfers, cross-currency, replayed and conflicting references), holds (within
and beyond `available`, captured whole, in part or beyond the hold, voided, expired by the clock
and recorded by the expiry job), orders, pays forced to success, decline or outage (trusted buyers
under the cap go PENDING_PAYMENT), the provider's later word, and refunds (partial, full, too much,
replayed). After every step the database must say exactly what the model says, balance by
balance, `available` by `available`, hold by hold and order by order, each balance row's `held`
must be the sum of its account's HELD holds, and the ledger must reconcile
(`assert_ledger_consistent` and the holds' check); a step that wrote no row and left the model as
it was cannot change that answer, so it is not asked again. Each example runs in a savepoint that
is rolled back at its end, so examples never see each other's rows and nothing is flushed.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from ledger import services as ledger
from ledger.currencies import MAX_AMOUNT
from ledger.exceptions import (
    CaptureExceedsHold,
    CurrencyMismatch,
    HoldExpired,
    HoldNotActive,
    InsufficientFunds,
    InvalidAmount,
    ReferenceConflict,
    SelfTransfer,
)
from ledger.models import Account, Hold, Transaction, bucket_sum
from ledger.reconciliation import check_holds
from mintguard_site.conf import outage_pending_cap
from payments import services as payments
from payments.exceptions import OrderNotPayable, OrderNotRefundable, RefundExceedsRemaining, RefundKeyConflict
from payments.models import ConfirmationSource, Order

from ..ledger.engines import ledger_engine  # noqa: F401 - a fixture: the model runs on each posting engine
from ..ledger.invariants import assert_ledger_consistent

OWNER = "model-client"
FEE_BPS = 250
CURRENCIES = ["USD", "EUR", "JPY", "GOLD"]
CONFIRMABLE = {"provider_unavailable", "pending_expired"}
PAID_LIKE = {"PAID", "PARTIALLY_REFUNDED", "REFUNDED"}

amounts = st.one_of(st.integers(1, 50_000), st.sampled_from([1, 10**9, MAX_AMOUNT]))
bad_amounts = st.sampled_from([0, -1, -50_000, MAX_AMOUNT + 1])


@dataclass
class ModelAccount:
    id: str
    currency: str
    balance: int = 0
    references: dict = field(default_factory=dict)  # reference -> (kind, amount) posted on it


@dataclass
class ModelHold:
    id: str
    source: str
    destination: str
    amount: int
    status: str = "HELD"
    captured: int = 0
    past_expiry: bool = False  # its expires_at was moved into the past

    @property
    def reserves(self) -> bool:
        return self.status == "HELD" and not self.past_expiry


@dataclass
class ModelOrder:
    id: str
    amount: int
    currency: str
    seller: bool
    status: str = "CREATED"
    refunded: int = 0
    failure_reason: str = ""
    pay_keys: list = field(default_factory=list)
    refunds: dict = field(default_factory=dict)  # key -> amount

    @property
    def fee(self) -> int:
        return self.amount * FEE_BPS // 10_000 if self.seller else self.amount

    def revenue(self) -> int:
        """Revenue kept: the fee (the whole amount without a seller) less its share of refunds, rounded down."""
        if self.status not in PAID_LIKE:
            return 0
        return self.fee - self.refunded * self.fee // self.amount


class LedgerAndPaymentsModel(RuleBasedStateMachine):
    accounts = Bundle("accounts")
    holds = Bundle("holds")
    orders = Bundle("orders")
    examples = 0
    steps = 0
    checked = 0  # steps after which the database was compared with the model
    hold_outcomes: Counter = Counter()  # what the hold rules did, over all examples

    def __init__(self):
        super().__init__()
        type(self).examples += 1
        # Each example in its own savepoint inside the test's transaction, rolled back at teardown.
        self._example = transaction.atomic()
        self._example.__enter__()
        self.model_accounts: dict[str, ModelAccount] = {}
        self.model_holds: dict[str, ModelHold] = {}
        self.model_orders: dict[str, ModelOrder] = {}
        self.cash: dict[str, int] = dict.fromkeys(CURRENCIES, 0)
        self.counter = 0
        self.checked_state = None
        self.reconciled_holds = None  # the holds' model state when `check_holds` last ran

    def teardown(self):
        transaction.set_rollback(True)
        self._example.__exit__(None, None, None)

    def _next(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter}"

    # --- ledger --------------------------------------------------------------------------

    @initialize(target=accounts, currency=st.sampled_from(CURRENCIES))
    def first_account(self, currency):
        return self.account_create(currency)

    @rule(target=accounts, currency=st.sampled_from(CURRENCIES))
    def open_account(self, currency):
        return self.account_create(currency)

    def account_create(self, currency: str) -> str:
        account = ledger.account_create(owner=OWNER, name=self._next("customer"), currency=currency)
        self.model_accounts[str(account.id)] = ModelAccount(str(account.id), currency)
        return str(account.id)

    @rule(account=accounts, amount=amounts)
    def deposit(self, account, amount):
        self.deposit_into(account, amount)

    def deposit_into(self, account: str, amount: int) -> None:
        model = self.model_accounts[account]
        reference = self._next("dep")
        txn = ledger.deposit(account_id=account, amount=amount, reference=reference, owner=OWNER)
        assert txn.kind == "deposit"
        model.balance += amount
        model.references[reference] = ("deposit", amount)
        self.cash[model.currency] += amount

    @rule(account=accounts, amount=bad_amounts)
    def deposit_a_bad_amount_is_refused(self, account, amount):
        with pytest.raises(InvalidAmount):
            ledger.deposit(account_id=account, amount=amount, reference=self._next("bad"), owner=OWNER)

    @rule(account=accounts, amount=amounts)
    def withdraw(self, account, amount):
        model = self.model_accounts[account]
        reference = self._next("wd")
        if amount > self.available(account):
            with pytest.raises(InsufficientFunds):
                ledger.withdraw(account_id=account, amount=amount, reference=reference, owner=OWNER)
            return
        ledger.withdraw(account_id=account, amount=amount, reference=reference, owner=OWNER)
        model.balance -= amount
        model.references[reference] = ("withdrawal", amount)
        self.cash[model.currency] -= amount

    @rule(source=accounts, destination=accounts, amount=amounts)
    def transfer(self, source, destination, amount):
        src, dst = self.model_accounts[source], self.model_accounts[destination]
        call = lambda: ledger.transfer_create(  # noqa: E731
            source_id=source, destination_id=destination, amount=amount,
            reference=self._next("tr"), owner=OWNER,
        )
        if source == destination:
            with pytest.raises(SelfTransfer):
                call()
        elif src.currency != dst.currency:
            with pytest.raises(CurrencyMismatch):
                call()
        elif amount > self.available(source):
            with pytest.raises(InsufficientFunds):
                call()
        else:
            call()
            src.balance -= amount
            dst.balance += amount

    @rule(account=accounts, data=st.data())
    def a_repeated_reference_posts_nothing_more(self, account, data):
        model = self.model_accounts[account]
        posted = [(ref, kind, amount) for ref, (kind, amount) in model.references.items() if kind == "deposit"]
        if not posted:
            return
        reference, _, amount = data.draw(st.sampled_from(posted))
        same = ledger.deposit(account_id=account, amount=amount, reference=reference, owner=OWNER)
        assert Transaction.objects.filter(owner=OWNER, reference=reference).get().pk == same.pk
        other = amount + 1 if amount < MAX_AMOUNT else amount - 1
        with pytest.raises(ReferenceConflict):
            ledger.deposit(account_id=account, amount=other, reference=reference, owner=OWNER)

    # --- holds -------------------------------------------------------------------------------

    def available(self, account: str) -> int:
        """The model's `available`: the balance less what the account's active holds reserve."""
        reserved = sum(h.amount for h in self.model_holds.values() if h.source == account and h.reserves)
        return self.model_accounts[account].balance - reserved

    @rule(target=holds, source=accounts, destination=accounts, how=st.sampled_from(["within", "all", "beyond"]),
          to_a_peer=st.sampled_from([True, True, True, False]), data=st.data())
    def hold_create(self, source, destination, how, to_a_peer, data):
        """Hold money of `source`: for `destination`, or (to_a_peer) for an account in its currency, opened if
        there is none; an empty source is funded first unless the hold is meant to go beyond `available`."""
        src = self.model_accounts[source]
        if to_a_peer:
            peers = [a for a in self.model_accounts if a != source and self.model_accounts[a].currency == src.currency]
            destination = data.draw(st.sampled_from(peers)) if peers else self.account_create(src.currency)
            if how != "beyond" and self.available(source) == 0:
                self.deposit_into(source, data.draw(amounts))
        available = self.available(source)
        amount = {
            "within": data.draw(st.integers(1, max(min(available, MAX_AMOUNT), 1))),
            "all": max(min(available, MAX_AMOUNT), 1),
            "beyond": min(available + data.draw(st.integers(1, 1_000)), MAX_AMOUNT),
        }[how]
        call = lambda: ledger.hold_create(  # noqa: E731
            source_id=source, destination_id=destination, amount=amount, owner=OWNER, accounts_owner=OWNER)
        refusal = (SelfTransfer if source == destination
                   else CurrencyMismatch if src.currency != self.model_accounts[destination].currency
                   else InsufficientFunds if amount > available else None)
        if refusal:
            with pytest.raises(refusal):
                call()
            type(self).hold_outcomes[f"create refused: {refusal.__name__}"] += 1
            return multiple()
        hold = call()
        assert (hold.amount, hold.status, str(hold.source_account_id)) == (amount, "HELD", source)
        self.model_holds[str(hold.id)] = ModelHold(str(hold.id), source, destination, amount)
        type(self).hold_outcomes["created"] += 1
        return str(hold.id)

    def refusal_of_an_ended_hold(self, model: ModelHold):
        """What capturing or voiding this hold must raise, or None if it still reserves money."""
        if model.status == "EXPIRED" or (model.status == "HELD" and model.past_expiry):
            return HoldExpired
        return None if model.status == "HELD" else HoldNotActive

    @rule(hold=holds, how=st.sampled_from(["full", "partial", "partial", "beyond"]), data=st.data())
    def hold_capture(self, hold, how, data):
        model = self.model_holds[hold]
        amount = {
            "full": None,
            "partial": data.draw(st.integers(1, max(model.amount - 1, 1))),
            "beyond": model.amount + 1,
        }[how]
        self.capture(hold, how, amount)

    def capture(self, hold: str, how: str, amount: int | None) -> None:
        model = self.model_holds[hold]
        call = lambda: ledger.hold_capture(hold_id=hold, amount=amount, owner=OWNER)  # noqa: E731
        if amount is not None and amount > MAX_AMOUNT:  # beyond a hold of the most an amount may be
            refusal = InvalidAmount
        else:
            refusal = self.refusal_of_an_ended_hold(model) or (CaptureExceedsHold if how == "beyond" else None)
        if refusal:
            with pytest.raises(refusal) as refused:
                call()
            assert type(refused.value) is refusal  # hold_not_active is not hold_expired, and the reverse
            type(self).hold_outcomes[f"capture refused: {refusal.__name__}"] += 1
            return
        captured, txn = call()
        moved = model.amount if amount is None else amount
        assert (captured.status, captured.captured_amount, txn.reference) == ("CAPTURED", moved, f"hold:{hold}")
        model.status, model.captured = "CAPTURED", moved
        self.model_accounts[model.source].balance -= moved
        self.model_accounts[model.destination].balance += moved
        type(self).hold_outcomes[f"captured {how}"] += 1

    @rule(hold=holds)
    def hold_void(self, hold):
        self.void(hold)

    def void(self, hold: str) -> None:
        model = self.model_holds[hold]
        refusal = self.refusal_of_an_ended_hold(model)
        if refusal:
            with pytest.raises(refusal) as refused:
                ledger.hold_void(hold_id=hold, owner=OWNER)
            assert type(refused.value) is refusal
            type(self).hold_outcomes[f"void refused: {refusal.__name__}"] += 1
            return
        assert ledger.hold_void(hold_id=hold, owner=OWNER).status == "VOIDED"
        model.status = "VOIDED"
        type(self).hold_outcomes["voided"] += 1

    @rule(hold=holds, then=st.sampled_from(["nothing", "the expiry job", "the expiry job", "a capture", "a void"]))
    def hold_expiry(self, hold, then):
        """Let the hold's time pass (whatever its status); then run the expiry job, or try to end the hold."""
        Hold.objects.filter(pk=hold).update(expires_at=timezone.now() - timedelta(seconds=1))
        self.model_holds[hold].past_expiry = True
        if then == "a capture":
            self.capture(hold, "full", None)
        elif then == "a void":
            self.void(hold)
        elif then == "the expiry job":
            due = {h.id for h in self.model_holds.values() if h.status == "HELD" and h.past_expiry}
            assert {str(h.pk) for h in ledger.holds_expire()} == due
            for hold_id in due:
                self.model_holds[hold_id].status = "EXPIRED"
            type(self).hold_outcomes["expired by the job"] += len(due)

    # --- orders, pays, the provider's later word, refunds ---------------------------------

    @rule(target=orders, amount=st.integers(1, 50_000), currency=st.sampled_from(CURRENCIES), seller=st.booleans())
    def order_create(self, amount, currency, seller):
        order = payments.order_create(owner=OWNER, user_id="buyer", amount=amount, currency=currency,
                                      seller_id="seller" if seller else None)
        self.model_orders[str(order.id)] = ModelOrder(str(order.id), amount, currency, seller)
        return str(order.id)

    @rule(order=orders, outcome=st.sampled_from(["success", "decline", "outage"]),
          trust=st.sampled_from(["trusted", "standard", "new"]))
    def pay(self, order, outcome, trust):
        model = self.model_orders[order]
        key = self._next("pay")
        if model.status not in ("CREATED", "FAILED"):
            with pytest.raises(OrderNotPayable):
                payments.order_pay(order_id=order, idempotency_key=key, buyer_trust=trust, simulate=outcome)
            return
        result = payments.order_pay(order_id=order, idempotency_key=key, buyer_trust=trust, simulate=outcome)
        model.pay_keys.append(key)
        if outcome == "success":
            model.status, model.failure_reason = "PAID", ""
            self.cash[model.currency] += model.amount
            expected_payment = "SUCCEEDED"
        elif outcome == "decline":
            model.status, model.failure_reason = "FAILED", "card_declined"
            expected_payment = "FAILED"
        elif trust == "trusted" and model.amount < outage_pending_cap(model.currency):
            model.status = "PENDING_PAYMENT"
            expected_payment = "PENDING"
        else:
            model.status, model.failure_reason = "FAILED", "provider_unavailable"
            expected_payment = "FAILED"
        assert (result.payment.status, result.order.status) == (expected_payment, model.status)

    @rule(order=orders, data=st.data())
    def a_repeated_pay_key_changes_nothing(self, order, data):
        model = self.model_orders[order]
        if not model.pay_keys:
            return
        key = data.draw(st.sampled_from(model.pay_keys))
        result = payments.order_pay(order_id=order, idempotency_key=key, simulate="success")
        assert result.order.status == model.status

    @rule(order=orders, outcome=st.sampled_from(["PAID", "FAILED"]))
    def provider_confirms(self, order, outcome):
        model = self.model_orders[order]
        _, result = payments.payment_outcome_apply(order_id=order, outcome=outcome, source=ConfirmationSource.WEBHOOK)
        applies = (
            model.status == "PENDING_PAYMENT"
            or (outcome == "PAID" and model.status == "FAILED" and model.failure_reason in CONFIRMABLE)
        )
        assert (result == "applied") == applies, (result, model)
        if not applies:
            return
        if outcome == "PAID":
            model.status, model.failure_reason = "PAID", ""
            self.cash[model.currency] += model.amount
        else:
            model.status, model.failure_reason = "FAILED", "provider_declined"

    @rule(order=orders, how=st.sampled_from(["partial", "rest", "all_explicit", "too_much"]), data=st.data())
    def refund(self, order, how, data):
        model = self.model_orders[order]
        remaining = model.amount - model.refunded
        amount = {
            "partial": data.draw(st.integers(1, max(remaining, 1))),
            "rest": None,
            "all_explicit": remaining,
            "too_much": remaining + data.draw(st.integers(1, 1_000)),
        }[how]
        key = self._next("refund")
        call = lambda: payments.refund_create(  # noqa: E731
            order_id=order, amount=amount, created_by=OWNER, idempotency_key=key
        )[0]
        if model.status not in ("PAID", "PARTIALLY_REFUNDED"):
            with pytest.raises(OrderNotRefundable):
                call()
            return
        if amount is not None and amount > remaining:
            with pytest.raises(RefundExceedsRemaining):
                call()
            return
        refund = call()
        refunded = remaining if amount is None else amount
        assert refund.amount == refunded
        model.refunds[key] = refunded
        model.refunded += refunded
        model.status = "REFUNDED" if model.refunded == model.amount else "PARTIALLY_REFUNDED"
        self.cash[model.currency] -= refunded

    @rule(order=orders, data=st.data(), change=st.booleans())
    def a_repeated_refund_key_refunds_nothing_more(self, order, data, change):
        model = self.model_orders[order]
        if not model.refunds:
            return
        key = data.draw(st.sampled_from(sorted(model.refunds)))
        amount = model.refunds[key] + (1 if change else 0)
        call = lambda: payments.refund_create(  # noqa: E731
            order_id=order, amount=amount, created_by=OWNER, idempotency_key=key
        )[0]
        if change:
            with pytest.raises(RefundKeyConflict):
                call()
        else:
            assert call().amount == model.refunds[key]

    # --- after every step: the database is the model ----------------------------------------

    @invariant()
    def the_database_is_the_model(self):
        """Compare the database with the model, and check that the ledger balances.

        Skipped when the step wrote no row and changed nothing in the model (a refusal, a replay):
        the comparison reads nothing else, so it would find exactly what the last one found. This
        keeps the slow whole-ledger reconciliation to the steps that can change its answer. Likewise
        the holds' rows and their reconciliation check (`check_holds`) are read only after a step that
        changed a hold in the model; what a posting could change (`held`, `available`) is compared
        with the model every time.
        """
        type(self).steps += 1
        state = (rows_written(), self.model_state())
        if state == self.checked_state:
            return
        type(self).checked += 1
        rows = (Account.objects.with_balance().annotate(held=bucket_sum(field="held"))
                .filter(Q(pk__in=list(self.model_accounts)) | Q(is_system=True)))
        balances, reserved = {}, {}
        for account_id, balance, available, held in rows.values_list("id", "balance", "available", "held"):
            balances[str(account_id)], reserved[str(account_id)] = balance, (available, held)
        self.customer_balances_match_the_model(balances)
        self.system_accounts_match_the_model(balances)
        self.orders_match_the_model()
        assert_ledger_consistent()
        if self.model_holds:
            self.availables_match_the_model(reserved)
            if state[1][1] != self.reconciled_holds:
                self.holds_match_the_model()
                assert [drift.message for drift in check_holds()] == []
                self.reconciled_holds = state[1][1]
        self.checked_state = state

    def model_state(self) -> tuple:
        return (
            [(a.id, a.balance) for a in self.model_accounts.values()],
            [(h.id, h.status, h.captured, h.past_expiry) for h in self.model_holds.values()],
            [(o.id, o.status, o.refunded) for o in self.model_orders.values()],
            sorted(self.cash.items()),
        )

    def customer_balances_match_the_model(self, balances: dict[str, int]):
        stored = {account: balances.get(account) for account in self.model_accounts}
        assert stored == {a.id: a.balance for a in self.model_accounts.values()}

    def holds_match_the_model(self):
        stored = {str(h.id): (h.status, h.captured_amount) for h in Hold.objects.filter(owner=OWNER)}
        assert stored == {h.id: (h.status, h.captured) for h in self.model_holds.values()}

    def availables_match_the_model(self, reserved: dict[str, tuple[int, int]]):
        """Each account's `available` (never below 0) and `held` column, the sum of its HELD holds,
        expired by the clock or not."""
        held = dict.fromkeys(self.model_accounts, 0)
        for h in self.model_holds.values():
            if h.status == "HELD":
                held[h.source] += h.amount
        expected = {account: (self.available(account), held[account]) for account in self.model_accounts}
        assert {account: reserved.get(account) for account in self.model_accounts} == expected
        assert min(available for available, _ in expected.values()) >= 0

    def orders_match_the_model(self):
        stored = {str(o.id): (o.status, o.refunded_amount) for o in Order.objects.filter(owner=OWNER)}
        assert stored == {o.id: (o.status, o.refunded) for o in self.model_orders.values()}

    def system_accounts_match_the_model(self, balances: dict[str, int]):
        for currency in CURRENCIES:
            orders = [o for o in self.model_orders.values() if o.currency == currency and o.status in PAID_LIKE]
            revenue = sum(o.revenue() for o in orders)
            payable = sum(o.amount - o.refunded for o in orders) - revenue

            def balance(name, currency=currency):
                return balances.get(str(ledger.system_account_id(name, currency)), 0)

            assert balance("cash") == self.cash[currency], currency
            assert (balance("revenue"), balance("seller_payable")) == (revenue, payable), currency
            customers = sum(a.balance for a in self.model_accounts.values() if a.currency == currency)
            assert balance("cash") == customers + revenue + payable, currency


def rows_written() -> int:
    """Count the rows this connection has inserted, updated or deleted so far, rolled back or not.

    A step that leaves the count unchanged wrote nothing. SQLite counts every change since the
    connection opened; PostgreSQL every change tried in the current transaction (the test's).
    """
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT total_changes()")
        else:
            cursor.execute("SELECT sum(n_tup_ins + n_tup_upd + n_tup_del) FROM pg_stat_xact_user_tables")
        return cursor.fetchone()[0] or 0


@pytest.fixture
def model_settings(settings):
    settings.MINTGUARD_PLATFORM_FEE_BPS = FEE_BPS
    return settings


@pytest.mark.django_db
@pytest.mark.timeout(600)
@pytest.mark.usefixtures("ledger_engine")
def test_the_ledger_and_payments_agree_with_a_model_after_every_step(model_settings):
    LedgerAndPaymentsModel.examples = LedgerAndPaymentsModel.steps = LedgerAndPaymentsModel.checked = 0
    LedgerAndPaymentsModel.hold_outcomes = Counter()

    run_state_machine_as_test(
        LedgerAndPaymentsModel,
        settings=settings(
            max_examples=200, stateful_step_count=20, deadline=None, derandomize=True, database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )

    assert LedgerAndPaymentsModel.examples >= 200
    assert LedgerAndPaymentsModel.steps >= 200 * 5
    # every example's first step opens an account: the database is compared at least that often
    assert LedgerAndPaymentsModel.checked >= 200
    # the holds' rules reached every way a hold is made and ends, and refusals of each kind
    outcomes = LedgerAndPaymentsModel.hold_outcomes
    assert outcomes["created"] >= 20, outcomes
    assert outcomes["captured full"] + outcomes["captured partial"] >= 3, outcomes
    assert outcomes["voided"] and outcomes["expired by the job"], outcomes
    assert outcomes["create refused: InsufficientFunds"], outcomes
    assert outcomes["capture refused: HoldNotActive"] + outcomes["void refused: HoldNotActive"], outcomes
    assert outcomes["capture refused: HoldExpired"] + outcomes["void refused: HoldExpired"], outcomes
