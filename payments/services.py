"""Every write of the payments app: orders, the pay flow, refunds.

The pay flow has three steps and two transactions, because the provider is called with no
transaction open and no lock held:

1. `payment_attempt_begin` (one short transaction, two statements): lock the order (checking its
   owner), and insert a PROCESSING payment for (order, client key) unless the unique constraints
   say an attempt exists. That committed row is the recovery point.
2. `payment_provider_charge` (no transaction): ask the provider, under a key derived from the
   payment id. A resumed attempt first asks the provider what became of it and charges only if
   the provider never saw it, so a retry can never charge twice.
3. `payment_attempt_finish` (one transaction): compare-and-set the order (which queues on its
   lock) and the payment on the statuses step 1 read, booking a success in the ledger between
   the two; a twin that finished the attempt first makes ours roll back.

The hot statements are raw SQL (`rows`); nothing written is read back. A request that dies
between 1 and 3 leaves a PROCESSING payment; the client's retry with the same key finds it in
step 1 and resumes from step 2. `order_pay` runs the three steps; `checkout_create` runs them
too, its step 1 creating the order along with the payment, keyed by the checkout's key.

A payment the provider could not answer for may stay PENDING (outage mode, `policies`). The
provider's later word, a webhook, an operator or the pending expiry (`provider_events`), goes
through one door, `payment_outcome_apply`, which books a confirmed payment once and refuses what
would undo a payment.
"""

import logging
import uuid
from dataclasses import dataclass
from uuid import UUID

from django.db import IntegrityError, transaction
from django.utils import timezone

from ledger.currencies import amount_check, validate_currency
from ledger.models import Direction, ReferenceNamespace, Transaction
from ledger.services import Leg, joins_transaction, system_account_id, transaction_post
from mintguard_site import observability

from . import locks, rows
from .exceptions import (
    CheckoutKeyConflict,
    InvalidOrderTransition,
    OrderNotPayable,
    OrderNotRefundable,
    RefundExceedsRemaining,
    RefundKeyConflict,
)
from .models import (
    IN_FLIGHT_PAYMENT_STATUSES,
    BuyerTrust,
    ConfirmationOutcome,
    ConfirmationResult,
    ConfirmationSource,
    Order,
    OrderStatus,
    Payment,
    PaymentConfirmation,
    PaymentStatus,
    Refund,
)
from .policies import (
    CONFIRMABLE_FAILURES,
    PENDING_EXPIRED,
    PROVIDER_UNAVAILABLE,
    platform_fee,
    provider_unavailable_outcome,
)
from .providers import ChargeResult, ChargeStatus, RefundOutcome, get_provider
from .transitions import PAID_STATUSES, PAYABLE_STATUSES, REFUNDABLE_STATUSES, order_transition, status_after_refunds

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PayResult:
    order: Order
    payment: Payment


# --- orders ------------------------------------------------------------------------------


def order_create(
    *,
    owner: str,
    user_id: str,
    amount: int,
    currency: str = "USD",
    seller_id: str | None = None,
    description: str = "",
    buyer_trust: str = BuyerTrust.STANDARD,
    order_id: UUID | None = None,
    checkout_key: str | None = None,
) -> Order:
    """Create an order awaiting payment. `order_id` lets a caller (the seed) make creation repeatable."""
    validate_currency(currency)
    amount_check(amount, field="amount")
    now = timezone.now()
    return Order.objects.create(
        id=order_id or uuid.uuid4(),
        owner=owner,
        user_id=user_id,
        seller_id=seller_id or None,
        amount=amount,
        currency=currency,
        description=description,
        buyer_trust=buyer_trust,
        checkout_key=checkout_key,
        created_at=now,
        updated_at=now,
    )


def _save_order(order: Order) -> None:
    order.updated_at = timezone.now()
    order.save(update_fields=["status", "refunded_amount", "buyer_trust", "failure_reason", "updated_at"])


# --- paying ------------------------------------------------------------------------------


@transaction.atomic
def payment_attempt_begin(
    *, order_id: UUID | str, idempotency_key: str, buyer_trust: str | None = None, owner: str | None = None
) -> tuple[Payment, bool]:
    """Step 1: commit the PROCESSING payment for (order, key), the recovery point.

    Return (payment, resumed). `resumed` is True when the key's attempt already existed: still
    PROCESSING (its request died before step 3: resume it) or finished (return its outcome).
    Given `owner`, another owner's order is OrderNotFound.
    """
    order = locks.order_for_update(order_id, owner=owner)
    now = timezone.now()
    payment = Payment(
        id=uuid.uuid4(), order=order, amount=order.amount, idempotency_key=idempotency_key,
        status=PaymentStatus.PROCESSING, created_at=now, updated_at=now,
    )
    # The unique constraints say whether an attempt exists: one per (order, key), one in flight
    # per order. Under the order's lock no twin can insert meanwhile, so nothing is waited for.
    if order.status in PAYABLE_STATUSES and rows.insert_unless_conflict(payment, PAYMENT_COLUMNS):
        if buyer_trust and buyer_trust != order.buyer_trust:
            order.buyer_trust, order.updated_at = buyer_trust, now
            rows.update_if_status(order, ("buyer_trust", "updated_at"), status=order.status)
        return payment, False
    # This key's attempt, or the reason there is none: read only on this rare path.
    attempts = rows.fetch(
        Payment, 'WHERE "order_id" = %s AND ("idempotency_key" = %s OR "status" IN (%s, %s))',
        [rows.db_value(Payment, "order", order.pk), idempotency_key, *IN_FLIGHT_PAYMENT_STATUSES],
    )
    existing = next((p for p in attempts if p.idempotency_key == idempotency_key), None)
    if existing is not None:
        existing.order = order
        return existing, True
    if order.status not in PAYABLE_STATUSES:
        raise OrderNotPayable(f"Order {order.id} is {order.status}; only CREATED or FAILED orders can be paid.")
    raise OrderNotPayable(f"Order {order.id} has a payment in progress.")


def payment_provider_charge(*, payment: Payment, resumed: bool, simulate: str | None = None) -> ChargeResult:
    """Step 2: ask the provider to charge, with no transaction open and no lock held.

    A resumed attempt asks the provider first what became of it: charging again is safe anyway
    (the provider key is the payment's, and providers answer a repeated key with the first answer),
    but a lookup also tells us an earlier outcome that the retry's own simulation must not change.
    """
    provider = get_provider()
    if resumed:
        earlier = provider.lookup(idempotency_key=payment.provider_key)
        if earlier is not None:
            return earlier
    return provider.charge(
        idempotency_key=payment.provider_key,
        amount=payment.amount,
        currency=payment.order.currency,
        simulate=simulate if provider.accepts_simulation else None,
    )


class _FinishedElsewhere(Exception):
    """The attempt was no longer as step 1 left it: a twin request finished it first."""


def payment_attempt_finish(*, payment: Payment, result: ChargeResult) -> Payment:
    """Step 3: record the provider's answer on the payment and the order, booking a success.

    No lock and re-read: each write is a compare-and-set on the status step 1 read (the order's
    UPDATE takes the order's lock, so this waits in the order's queue like any writer). A twin
    request (the same key, after its lease ran out) that finished the attempt first turns ours
    into a rollback, and the twin's outcome is returned.
    """
    try:
        with transaction.atomic():
            order = payment.order
            if result.status == ChargeStatus.SUCCEEDED:
                payment_mark_succeeded(order=order, payment=payment, provider_reference=result.reference)
            elif result.status == ChargeStatus.DECLINED:
                _payment_mark_failed(
                    order=order, payment=payment, reason=result.failure_reason or "declined",
                    reference=result.reference,
                )
            elif provider_unavailable_outcome(order=order) == PaymentStatus.PENDING:
                _payment_mark_pending(order=order, payment=payment)
            else:
                _payment_mark_failed(order=order, payment=payment, reason=PROVIDER_UNAVAILABLE)
            outcome = order.status
            transaction.on_commit(lambda: observability.record_payment(outcome), robust=True)
    except _FinishedElsewhere:
        payment = Payment.objects.select_related("order").get(pk=payment.pk)
    if payment.status == PaymentStatus.PROCESSING:  # the order moved under an attempt in flight: a bug
        raise InvalidOrderTransition(f"Order {payment.order_id} is {payment.order.status} with a payment in flight.")
    return payment


def payment_legs(*, order: Order, amount: int) -> list[Leg]:
    """Return the ledger legs of a payment: DR cash / CR revenue, or CR seller_payable + fee to revenue."""
    cash = system_account_id("cash", order.currency)
    revenue = system_account_id("revenue", order.currency)
    if not order.seller_id:
        return [Leg(cash, Direction.DEBIT, amount), Leg(revenue, Direction.CREDIT, amount)]
    fee = platform_fee(amount)
    legs = [
        Leg(cash, Direction.DEBIT, amount),
        Leg(system_account_id("seller_payable", order.currency), Direction.CREDIT, amount - fee),
        Leg(revenue, Direction.CREDIT, fee),
    ]
    return [leg for leg in legs if leg.amount > 0]


# The columns a new payment is inserted with, and those its outcome writes.
PAYMENT_COLUMNS = ("id", "order", "status", "amount", "idempotency_key", "provider_reference", "failure_reason",
                   "ledger_transaction", "created_at", "updated_at")
PAYMENT_OUTCOME_COLUMNS = ("status", "provider_reference", "failure_reason", "ledger_transaction", "updated_at")
ORDER_OUTCOME_COLUMNS = ("status", "failure_reason", "updated_at")


def _order_record(*, order: Order, status: str, failure_reason: str) -> None:
    """Move the order on (transitions.py decides) and write it, only while its status is still the one read."""
    status_before = order.status
    order_transition(order, status)
    order.failure_reason = failure_reason
    if not rows.update_if_status(order, ORDER_OUTCOME_COLUMNS, status=status_before):
        raise _FinishedElsewhere()


def _payment_record(
    *, payment: Payment, status: str, reason: str = "", reference: str = "",
    ledger_transaction: Transaction | None = None,
) -> None:
    """Write a payment's outcome, only while its status is still the one read."""
    status_before = payment.status
    payment.status, payment.failure_reason, payment.provider_reference = status, reason, reference
    payment.ledger_transaction = ledger_transaction
    payment.updated_at = timezone.now()
    if not rows.update_if_status(payment, PAYMENT_OUTCOME_COLUMNS, status=status_before):
        raise _FinishedElsewhere()


def payment_mark_succeeded(*, order: Order, payment: Payment, provider_reference: str) -> Payment:
    """Book a charged payment in the ledger and mark the order PAID.

    The order is written first, so its UPDATE queues behind any other writer of the order before
    anything is booked; a compare-and-set that misses rolls the booking back with it.
    """
    _order_record(order=order, status=OrderStatus.PAID, failure_reason="")
    txn = transaction_post(
        # Derived by our code, so in the system namespace: no client key can take it first.
        namespace=ReferenceNamespace.SYSTEM,
        reference=f"payment:{payment.id}",
        kind="payment",
        owner=order.owner,
        legs=payment_legs(order=order, amount=payment.amount),
        description=f"Payment for order {order.id}",
        metadata={"order_id": str(order.id), "payment_id": str(payment.id)},
    )
    _payment_record(payment=payment, status=PaymentStatus.SUCCEEDED, reference=provider_reference,
                    ledger_transaction=txn)
    return payment


def _payment_mark_failed(*, order: Order, payment: Payment, reason: str, reference: str = "") -> None:
    _order_record(order=order, status=OrderStatus.FAILED, failure_reason=reason)
    _payment_record(payment=payment, status=PaymentStatus.FAILED, reason=reason, reference=reference)


def _payment_mark_pending(*, order: Order, payment: Payment) -> None:
    # The order keeps the failure reason of an earlier attempt, as it did before outage mode.
    _order_record(order=order, status=OrderStatus.PENDING_PAYMENT, failure_reason=order.failure_reason)
    _payment_record(payment=payment, status=PaymentStatus.PENDING)


def order_pay(
    *, order_id: UUID | str, idempotency_key: str, buyer_trust: str | None = None, simulate: str | None = None,
    owner: str | None = None,
) -> PayResult:
    """Pay an order once per client key, calling the provider between two short transactions.

    Call it with no transaction open (the API does): the provider step must not hold locks.
    A key's finished attempt is returned as it is; a PROCESSING one is resumed. Given `owner`,
    another owner's order is OrderNotFound.
    """
    payment, resumed = payment_attempt_begin(
        order_id=order_id, idempotency_key=idempotency_key, buyer_trust=buyer_trust, owner=owner
    )
    return _payment_attempt_complete(payment=payment, resumed=resumed, simulate=simulate)


def _payment_attempt_complete(*, payment: Payment, resumed: bool, simulate: str | None) -> PayResult:
    """Steps 2 and 3 for an attempt still PROCESSING; a finished one is returned as it is."""
    if payment.status == PaymentStatus.PROCESSING:
        result = payment_provider_charge(payment=payment, resumed=resumed, simulate=simulate)
        payment = payment_attempt_finish(payment=payment, result=result)
    # payment.order is the order as step 3 wrote it (or as step 1 read it, for a finished attempt).
    return PayResult(order=payment.order, payment=payment)


# --- checkout ----------------------------------------------------------------------------


@transaction.atomic
def checkout_begin(
    *,
    owner: str,
    checkout_key: str,
    buyer_id: str,
    seller_id: str | None,
    amount: int,
    currency: str,
    buyer_trust: str,
) -> tuple[Payment, bool]:
    """Step 1 of a checkout: commit the order and its PROCESSING payment together, the recovery point.

    The order is unique per (owner, checkout key): a retry finds the order and its attempt and
    resumes them. The key's order with other terms (possible only once the idempotency record of
    the first checkout expired) is a conflict, never a second order.
    """
    terms = {"user_id": buyer_id, "seller_id": seller_id or None, "amount": amount, "currency": currency,
             "buyer_trust": buyer_trust}
    order = Order.objects.filter(owner=owner, checkout_key=checkout_key).first()
    if order is None:
        try:
            with transaction.atomic():
                order = order_create(owner=owner, checkout_key=checkout_key, **terms)
        except IntegrityError:
            # A twin checkout with the key committed its order first (its key lease had run out).
            order = Order.objects.get(owner=owner, checkout_key=checkout_key)
    if any(getattr(order, name) != value for name, value in terms.items()):
        raise CheckoutKeyConflict(f"Checkout key {checkout_key!r} already created order {order.id} with other terms.")
    return payment_attempt_begin(order_id=order.id, idempotency_key=checkout_key)


def checkout_create(
    *,
    owner: str,
    checkout_key: str,
    buyer_id: str,
    seller_id: str | None,
    amount: int,
    currency: str,
    buyer_trust: str = BuyerTrust.STANDARD,
    simulate: str | None = None,
) -> PayResult:
    """Create an order and pay it in one call, once per checkout key; a retry resumes, never charges twice.

    Call it with no transaction open: the provider is called between two short transactions.
    """
    payment, resumed = checkout_begin(
        owner=owner, checkout_key=checkout_key, buyer_id=buyer_id, seller_id=seller_id, amount=amount,
        currency=currency, buyer_trust=buyer_trust,
    )
    return _payment_attempt_complete(payment=payment, resumed=resumed, simulate=simulate)


# --- the provider's later word: webhooks, operators, pending expiry ------------------------

DEFAULT_FAILURE_REASONS = {
    ConfirmationSource.WEBHOOK: "provider_declined",
    ConfirmationSource.OPERATOR: "operator_marked_failed",
    ConfirmationSource.EXPIRY: PENDING_EXPIRED,
}


@transaction.atomic
def payment_outcome_apply(
    *,
    order: Order,
    outcome: str,
    source: str,
    actor: str = "",
    note: str = "",
    failure_reason: str | None = None,
    provider_reference: str = "",
) -> str:
    """Apply the provider's final word on an order ("PAID" or "FAILED"), under the order's lock.

    PAID pays a PENDING_PAYMENT order, or an order FAILED only because the provider never answered
    (`policies.CONFIRMABLE_FAILURES`: the charge may have gone through after all), booking the
    ledger once (system reference `payment:<payment id>`). FAILED fails a PENDING_PAYMENT order. Anything
    else changes nothing: PAID for a paid order, FAILED after PAID, PAID while another attempt is in
    flight, an order that awaits no confirmation. Return what it did, a `ConfirmationResult` value,
    and record it with `source` ("webhook", "operator", "expiry"), `actor` and `note`.
    """
    if outcome not in ConfirmationOutcome.values:
        raise ValueError(f"outcome must be PAID or FAILED, not {outcome!r}")
    if source not in ConfirmationSource.values:
        raise ValueError(f"unknown confirmation source {source!r}")
    order = locks.order_for_update(order.pk)
    status_before = order.status
    if outcome == ConfirmationOutcome.PAID:
        result, payment = _confirm_paid(order=order, provider_reference=provider_reference)
    else:
        result, payment = _confirm_failed(
            order=order, reason=failure_reason or DEFAULT_FAILURE_REASONS[source]
        )
    PaymentConfirmation.objects.create(
        order=order, payment=payment, outcome=outcome, source=source, actor=actor[:150], note=note[:500],
        result=result, status_before=status_before, status_after=order.status,
    )
    log = logger.info if result == ConfirmationResult.APPLIED else logger.warning
    log("payment outcome %s", result, extra={
        "order_id": str(order.id), "outcome": outcome, "source": source, "actor": actor,
        "status_before": status_before, "status_after": order.status,
    })
    return result


def _confirm_paid(*, order: Order, provider_reference: str) -> tuple[str, Payment | None]:
    if order.status in PAID_STATUSES:
        return ConfirmationResult.IGNORED_ALREADY_PAID, None
    if order.status == OrderStatus.PENDING_PAYMENT:
        payment = order.payments.filter(status=PaymentStatus.PENDING).first()
    elif order.status == OrderStatus.FAILED and order.failure_reason in CONFIRMABLE_FAILURES:
        if order.payments.filter(status__in=IN_FLIGHT_PAYMENT_STATUSES).exists():
            # A new attempt is charging right now; paying the old one too would book two payments.
            return ConfirmationResult.IGNORED_PAYMENT_IN_PROGRESS, None
        payment = (
            order.payments.filter(status=PaymentStatus.FAILED, failure_reason__in=CONFIRMABLE_FAILURES)
            .order_by("-created_at").first()
        )
    else:
        payment = None
    if payment is None:
        return ConfirmationResult.IGNORED_NOT_PENDING, None
    payment_mark_succeeded(order=order, payment=payment, provider_reference=provider_reference)
    return ConfirmationResult.APPLIED, payment


def _confirm_failed(*, order: Order, reason: str) -> tuple[str, Payment | None]:
    if order.status in PAID_STATUSES:
        return ConfirmationResult.IGNORED_FAILED_AFTER_PAID, None
    if order.status == OrderStatus.FAILED:
        return ConfirmationResult.IGNORED_ALREADY_FAILED, None
    payment = (
        order.payments.filter(status=PaymentStatus.PENDING).first()
        if order.status == OrderStatus.PENDING_PAYMENT else None
    )
    if payment is None:
        return ConfirmationResult.IGNORED_NOT_PENDING, None
    _payment_mark_failed(order=order, payment=payment, reason=reason)
    return ConfirmationResult.APPLIED, payment


# --- refunds -----------------------------------------------------------------------------


def refund_legs(*, payment: Payment, refunded_before: int, amount: int) -> list[Leg]:
    """Return the exact reverse of `amount` of the payment: DR what it credited, CR cash.

    The revenue (fee) share is proportional and rounded down on the running total
    (floor(refunded_after * fee / paid) - floor(refunded_before * fee / paid)), so no refund takes
    more of an account than the payment gave it, and the last refund takes exactly what remains.
    """
    currency = payment.order.currency
    revenue = system_account_id("revenue", currency)
    credited = {
        posting.account_id: posting.amount
        for posting in payment.ledger_transaction.postings.filter(direction=Direction.CREDIT)
    }
    paid = sum(credited.values())
    fee = credited.get(revenue, 0)
    refunded_after = refunded_before + amount
    revenue_part = refunded_after * fee // paid - refunded_before * fee // paid
    legs = [
        Leg(system_account_id("seller_payable", currency), Direction.DEBIT, amount - revenue_part),
        Leg(revenue, Direction.DEBIT, revenue_part),
        Leg(system_account_id("cash", currency), Direction.CREDIT, amount),
    ]
    return [leg for leg in legs if leg.amount > 0]


@joins_transaction
def refund_create(
    *,
    order: Order,
    amount: int | None = None,
    reason: str = "",
    created_by: str,
    idempotency_key: str | None = None,
) -> Refund:
    """Refund part (or by default all that remains) of a paid order, reversing its ledger entries.

    With `idempotency_key`, the same caller asking again on the same order gets the first refund
    back (another amount under that key is a conflict). The provider
    is told after commit (`refund_dispatch`): the ledger books what we owe the buyer at once, and
    the provider call, keyed by the refund id, never runs under our locks.
    """
    order = locks.order_for_update(order.pk)
    if idempotency_key is not None:
        existing = order.refunds.filter(created_by=created_by, idempotency_key=idempotency_key).first()
        if existing is not None:
            if amount is not None and amount != existing.amount:
                raise RefundKeyConflict(f"Key {idempotency_key!r} already refunded {existing.amount}, not {amount}.")
            return existing
    if order.status not in REFUNDABLE_STATUSES:
        raise OrderNotRefundable(
            f"Order {order.id} is {order.status}; only PAID or PARTIALLY_REFUNDED orders can be refunded."
        )
    remaining = order.refundable_amount
    if amount is None:
        amount = remaining
    amount_check(amount, field="amount")
    if amount > remaining:
        raise RefundExceedsRemaining(
            f"Order {order.id} has {remaining} {order.currency} left to refund, {amount} requested.",
            remaining=remaining,
            requested=amount,
        )
    payment = order.payments.select_related("ledger_transaction").get(status=PaymentStatus.SUCCEEDED)
    refund = Refund(
        id=uuid.uuid4(),
        order=order,
        payment=payment,
        amount=amount,
        reason=reason,
        created_by=created_by,
        idempotency_key=idempotency_key,
    )
    refund.ledger_transaction = transaction_post(
        # Derived by our code, so in the system namespace: no client key can take it first.
        namespace=ReferenceNamespace.SYSTEM,
        reference=f"refund:{refund.id}",
        kind="refund",
        owner=order.owner,
        legs=refund_legs(payment=payment, refunded_before=order.refunded_amount, amount=amount),
        description=f"Refund for order {order.id}",
        metadata={"order_id": str(order.id), "payment_id": str(payment.id), "refund_id": str(refund.id)},
    )
    refund.save(force_insert=True)
    order.refunded_amount += amount
    order_transition(order, status_after_refunds(amount=order.amount, refunded=order.refunded_amount))
    _save_order(order)
    transaction.on_commit(lambda: observability.record_refund(amount, order.currency), robust=True)
    transaction.on_commit(lambda: refund_dispatch(refund_id=refund.id), robust=True)
    return refund


def refund_dispatch(*, refund_id: UUID) -> Refund:
    """Tell the provider about a booked refund, once (keyed by the refund id); safe to repeat.

    A refund the provider did not acknowledge keeps an empty provider_reference, for a later
    resend (reconciliation) to find.
    """
    refund = Refund.objects.select_related("payment").get(pk=refund_id)
    if refund.provider_reference:
        return refund
    try:
        result = get_provider().refund(
            idempotency_key=refund.provider_key,
            charge_reference=refund.payment.provider_reference,
            amount=refund.amount,
        )
    except Exception:
        logger.exception("provider refund failed", extra={"refund_id": str(refund.id)})
        return refund
    if result.status != RefundOutcome.SUCCEEDED:
        logger.warning(
            "provider did not refund", extra={"refund_id": str(refund.id), "reason": result.failure_reason}
        )
        return refund
    Refund.objects.filter(pk=refund.pk, provider_reference="").update(provider_reference=result.reference)
    refund.provider_reference = result.reference
    return refund
