"""The provider's later word on a pending payment, through one door: `payment_outcome_apply`.

A payment the provider could not answer for may stay PENDING (outage mode, `policies`). What the
provider says later, by webhook, through an operator or at the pending expiry, is applied here: a
confirmed payment is booked once, and nothing undoes a payment. For an authorization attempt,
PAID means the provider authorized it: the order becomes AUTHORIZED, to be captured or voided,
and nothing is booked until it is captured.
"""

import logging
from dataclasses import dataclass
from uuid import UUID

from django.db import transaction

from audit.models import AuditAction
from audit.services import audit_record

from .. import locks
from ..exceptions import NoteRequired
from ..models import (
    IN_FLIGHT_PAYMENT_STATUSES,
    ConfirmationOutcome,
    ConfirmationResult,
    ConfirmationSource,
    Order,
    OrderStatus,
    Payment,
    PaymentConfirmation,
    PaymentStatus,
)
from ..policies import CONFIRMABLE_FAILURES, PENDING_EXPIRED
from ..transitions import PAID_STATUSES
from .orders import order_audit_state
from .outcomes import payment_mark_confirmed, payment_mark_failed

logger = logging.getLogger(__name__)

DEFAULT_FAILURE_REASONS = {
    ConfirmationSource.WEBHOOK: "provider_declined",
    ConfirmationSource.OPERATOR: "operator_marked_failed",
    ConfirmationSource.EXPIRY: PENDING_EXPIRED,
}


@transaction.atomic
def payment_outcome_apply(
    *,
    order_id: UUID | str,
    outcome: str,
    source: str,
    actor: str = "",
    note: str = "",
    failure_reason: str | None = None,
    provider_reference: str = "",
) -> tuple[Order, str]:
    """Apply the provider's final word on an order ("PAID" or "FAILED"), under the order's lock.

    PAID pays a PENDING_PAYMENT order, or an order FAILED only because the provider never answered
    (`policies.CONFIRMABLE_FAILURES`: the charge may have gone through after all), booking the
    ledger once (system reference `payment:<payment id>`). FAILED fails a PENDING_PAYMENT order. Anything
    else changes nothing: PAID for a paid order, FAILED after PAID, PAID while another attempt is in
    flight, an order that awaits no confirmation. Return the order as it now is, under its lock,
    and what was done, a `ConfirmationResult` value; record it with `source` ("webhook",
    "operator", "expiry"), `actor` and `note`.
    """
    if outcome not in ConfirmationOutcome.values:
        raise ValueError(f"outcome must be PAID or FAILED, not {outcome!r}")
    if source not in ConfirmationSource.values:
        raise ValueError(f"unknown confirmation source {source!r}")
    order = locks.order_for_update(order_id)
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
    return order, result


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
    payment_mark_confirmed(order=order, payment=payment, provider_reference=provider_reference)
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
    payment_mark_failed(order=order, payment=payment, reason=reason)
    return ConfirmationResult.APPLIED, payment


# --- by an operator ----------------------------------------------------------------------


@dataclass(frozen=True)
class OperatorResolveResult:
    order: Order
    result: str  # a ConfirmationResult: "applied", or why nothing changed

    @property
    def result_label(self) -> str:
        return ConfirmationResult(self.result).label


@transaction.atomic
def operator_resolve_pending(*, actor, order_id: UUID | str, outcome: str, note: str) -> OperatorResolveResult:
    """Mark a pending payment PAID or FAILED by hand, as the provider's webhook would, and audit it.

    The note is required: an operator overriding the provider must say why (a support ticket, a
    provider dashboard screenshot). The audit entry commits with the outcome, or neither does.
    """
    note = (note or "").strip()
    if not note:
        raise NoteRequired(NoteRequired.message, field="note")
    # Under the order's lock (payment_outcome_apply takes it again, a no-op): `before` is what it changes.
    before = order_audit_state(locks.order_for_update(order_id))
    order, result = payment_outcome_apply(
        order_id=order_id, outcome=outcome, source=ConfirmationSource.OPERATOR, actor=actor.get_username(),
        note=note,
    )
    audit_record(
        actor=actor, action=AuditAction.PAYMENT_RESOLVED, target_type="order", target_id=order.pk,
        before=before, after={**order_audit_state(order), "outcome": outcome, "result": str(result)}, note=note,
    )
    return OperatorResolveResult(order=order, result=str(result))
