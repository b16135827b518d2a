"""Refund a paid order: book the reverse of its payment at once, tell the provider after commit.

Who may refund what is `refund_eligibility`, the one home of the rule: `refund_create` asks it
under the order's lock, and the dashboard asks it to answer a form before anything is locked.
"""

import logging
import uuid
from dataclasses import dataclass
from uuid import UUID

from django.db import transaction

from audit.models import AuditAction
from audit.services import audit_record
from events.services import NewEvent, events_record
from ledger.currencies import amount_check
from ledger.models import Direction, ReferenceNamespace
from ledger.services import Leg, joins_transaction, system_account_id, transaction_post
from mintguard_site import observability
from mintguard_site.api.auth import operator_owner

from .. import locks
from ..bodies import refund_body
from ..exceptions import OrderNotRefundable, RefundExceedsRemaining, RefundKeyConflict
from ..models import Order, Payment, PaymentStatus, Refund
from ..providers import RefundOutcome, get_provider
from ..transitions import REFUNDABLE_STATUSES, order_transition, status_after_refunds
from .orders import order_audit_state, order_event

logger = logging.getLogger(__name__)


def refund_eligibility(*, order: Order, amount: int | None = None) -> int:
    """Return what a refund of `amount` (by default all that remains) would take from the order.

    What remains is measured against the order's paid_amount (all of it for a charge, what was
    captured of an authorization). Raise why it cannot: OrderNotRefundable (not paid, or fully
    refunded), RefundExceedsRemaining, or the ledger's InvalidAmount for an amount that is not a
    positive number of minor units.
    """
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
    return amount


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
    order_id: UUID | str,
    amount: int | None = None,
    reason: str = "",
    created_by: str,
    idempotency_key: str | None = None,
) -> tuple[Refund, bool]:
    """Refund part (or by default all that remains) of a paid order, reversing its ledger entries.

    Return (refund, created); `refund.order` is the order as the refund left it, under its lock.
    With `idempotency_key`, the same caller asking again on the same order gets the first refund
    back, with `created` False (another amount under that key is a conflict). A new refund records
    `refund.succeeded` and the order's `order.partially_refunded` or `order.refunded`. The provider is told
    after commit (`refund_dispatch`): the ledger books what we owe the buyer at once, and the
    provider call, keyed by the refund id, never runs under our locks.
    """
    order = locks.order_for_update(order_id)
    if idempotency_key is not None:
        existing = order.refunds.filter(created_by=created_by, idempotency_key=idempotency_key).first()
        if existing is not None:
            if amount is not None and amount != existing.amount:
                raise RefundKeyConflict(f"Key {idempotency_key!r} already refunded {existing.amount}, not {amount}.")
            return existing, False
    amount = refund_eligibility(order=order, amount=amount)
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
    order_transition(order, status_after_refunds(paid=order.paid_amount, refunded=order.refunded_amount))
    order.save(update_fields=["status", "refunded_amount", "updated_at"])
    events_record([NewEvent(type="refund.succeeded", owner=order.owner, data=refund_body(refund)), order_event(order)])
    transaction.on_commit(lambda: observability.record_refund(amount, order.currency), robust=True)
    transaction.on_commit(lambda: refund_dispatch(refund_id=refund.id), robust=True)
    return refund, True


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


# --- by an operator ----------------------------------------------------------------------


@dataclass(frozen=True)
class OperatorRefundResult:
    refund: Refund
    order: Order
    created: bool  # False: the form's key had already refunded (a double submit or a retry)


@transaction.atomic
def operator_refund(
    *, actor, order_id: UUID | str, amount: int | None, reason: str, idempotency_key: str
) -> OperatorRefundResult:
    """Refund an order as an operator, once per form key, and record it in the audit log.

    `refund_create` locks the order and returns the first refund for a repeated key, so a double
    submit waits for the first and gets its refund back; the audit entry is written only with the
    refund it records, so it is written once too.
    """
    # Under the order's lock (refund_create takes it again, a no-op): `before` is what it refunds.
    before = order_audit_state(locks.order_for_update(order_id))
    refund, created = refund_create(
        order_id=order_id, amount=amount, reason=reason, created_by=operator_owner(actor),
        idempotency_key=idempotency_key,
    )
    if created:
        audit_record(
            actor=actor, action=AuditAction.REFUND_CREATED, target_type="order", target_id=refund.order.pk,
            before=before, after={**order_audit_state(refund.order), "refund_id": str(refund.pk),
                                  "amount": refund.amount},
            note=reason,
        )
    return OperatorRefundResult(refund=refund, order=refund.order, created=created)
