"""Write a payment's outcome on the payment and its order, booking a success in the ledger.

Shared by the pay and authorize flows' step 3, by capture, void and expiry, and by
`payment_outcome_apply` (webhooks, operators, the pending expiry), so each order's change records
its event here, whoever made it. Each write is a compare-and-set on the status the caller read
(`rows.update_if_status`): one that misses raises FinishedElsewhere, which rolls the caller's
transaction back.
"""

from django.utils import timezone

from events.services import events_record
from ledger.models import Direction, ReferenceNamespace, Transaction
from ledger.services import Leg, system_account_id, transaction_post
from mintguard_site.db import rows

from ..models import Order, OrderStatus, Payment, PaymentKind, PaymentStatus
from ..policies import platform_fee
from ..transitions import order_transition
from .orders import order_event

# The columns a new payment is inserted with, and those its outcome writes.
PAYMENT_COLUMNS = ("id", "order", "kind", "status", "amount", "idempotency_key", "provider_reference", "failure_reason",
                   "ledger_transaction", "created_at", "updated_at")
PAYMENT_OUTCOME_COLUMNS = ("status", "provider_reference", "failure_reason", "ledger_transaction", "captured_amount",
                           "authorized_at", "closing_key", "updated_at")
ORDER_OUTCOME_COLUMNS = ("status", "failure_reason", "paid_amount", "updated_at")


class FinishedElsewhere(Exception):
    """The attempt was no longer as the caller read it: a twin request finished it first."""


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


def _order_record(*, order: Order, status: str, failure_reason: str, paid_amount: int = 0) -> None:
    """Move the order on (transitions.py decides) and write it, only while its status is still the one read;
    record the event of its new status (`order.paid`, `order.failed`...) in the same transaction."""
    status_before = order.status
    order_transition(order, status)
    order.failure_reason, order.paid_amount = failure_reason, paid_amount
    if not rows.update_if_status(order, ORDER_OUTCOME_COLUMNS, status=status_before):
        raise FinishedElsewhere()
    events_record([order_event(order)])


def payment_record(
    *, payment: Payment, status: str, reason: str = "", reference: str = "",
    ledger_transaction: Transaction | None = None, captured_amount: int | None = None,
    closing_key: str | None = None,
) -> None:
    """Write a payment's outcome (or a capture's or void's claim), only while its status is still the one read.

    `authorized_at` is kept: an authorization's time is set once (`payment_mark_authorized`).
    """
    status_before = payment.status
    payment.status, payment.failure_reason, payment.provider_reference = status, reason, reference
    payment.ledger_transaction, payment.captured_amount = ledger_transaction, captured_amount
    payment.closing_key = closing_key
    payment.updated_at = timezone.now()
    if not rows.update_if_status(payment, PAYMENT_OUTCOME_COLUMNS, status=status_before):
        raise FinishedElsewhere()


def payment_mark_succeeded(
    *, order: Order, payment: Payment, provider_reference: str, amount: int | None = None
) -> Payment:
    """Book what the provider took, `amount` (by default all of the payment), and mark the order PAID.

    A charge takes all of it; a capture may take part of an authorization (the rest is released),
    and the order's paid_amount, which refunds are capped by, is what was taken. The order is
    written first, so its UPDATE queues behind any other writer of the order before anything is
    booked; a compare-and-set that misses rolls the booking back with it.
    """
    amount = payment.amount if amount is None else amount
    _order_record(order=order, status=OrderStatus.PAID, failure_reason="", paid_amount=amount)
    txn = transaction_post(
        # Derived by our code, so in the system namespace: no client key can take it first.
        namespace=ReferenceNamespace.SYSTEM,
        reference=f"payment:{payment.id}",
        kind="payment",
        owner=order.owner,
        legs=payment_legs(order=order, amount=amount),
        description=f"Payment for order {order.id}",
        metadata={"order_id": str(order.id), "payment_id": str(payment.id)},
    )
    payment_record(payment=payment, status=PaymentStatus.SUCCEEDED, reference=provider_reference,
                   ledger_transaction=txn, captured_amount=amount, closing_key=payment.closing_key)
    return payment


def payment_mark_authorized(*, order: Order, payment: Payment, provider_reference: str) -> Payment:
    """Record an authorization the provider granted: the order is AUTHORIZED and nothing is booked."""
    _order_record(order=order, status=OrderStatus.AUTHORIZED, failure_reason="")
    payment.authorized_at = timezone.now()
    payment_record(payment=payment, status=PaymentStatus.AUTHORIZED, reference=provider_reference)
    return payment


def payment_mark_released(*, order: Order, payment: Payment, status: str, reason: str = "") -> Payment:
    """Record an authorization released unused, VOIDED or EXPIRED (`reason`): the order is CANCELED."""
    _order_record(order=order, status=OrderStatus.CANCELED, failure_reason=reason)
    payment_record(payment=payment, status=status, reason=reason, reference=payment.provider_reference,
                   closing_key=payment.closing_key)
    return payment


def payment_mark_failed(*, order: Order, payment: Payment, reason: str, reference: str = "") -> None:
    """Mark the payment and its order FAILED with `reason`."""
    _order_record(order=order, status=OrderStatus.FAILED, failure_reason=reason)
    payment_record(payment=payment, status=PaymentStatus.FAILED, reason=reason, reference=reference)


def payment_mark_pending(*, order: Order, payment: Payment) -> None:
    """Leave the payment PENDING and its order awaiting the provider's word (outage mode)."""
    # The order keeps the failure reason of an earlier attempt, as it did before outage mode.
    _order_record(order=order, status=OrderStatus.PENDING_PAYMENT, failure_reason=order.failure_reason)
    payment_record(payment=payment, status=PaymentStatus.PENDING)


def payment_mark_confirmed(*, order: Order, payment: Payment, provider_reference: str) -> Payment:
    """Apply the provider's word that an attempt went through: a charge is booked, an authorization held."""
    if payment.kind == PaymentKind.AUTHORIZATION:
        return payment_mark_authorized(order=order, payment=payment, provider_reference=provider_reference)
    return payment_mark_succeeded(order=order, payment=payment, provider_reference=provider_reference)
