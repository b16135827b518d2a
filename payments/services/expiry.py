"""Settle the pending payments that no webhook confirmed, asking the provider first."""

import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from .. import selectors
from ..models import ConfirmationOutcome, ConfirmationResult, ConfirmationSource, Payment
from ..policies import PENDING_EXPIRED
from ..providers import ChargeStatus, get_provider
from .confirmations import payment_outcome_apply

logger = logging.getLogger(__name__)


@dataclass
class ExpiryReport:
    checked: int = 0
    paid: list[UUID] = field(default_factory=list)
    failed: list[UUID] = field(default_factory=list)
    ignored: list[UUID] = field(default_factory=list)  # settled meanwhile (a webhook won the race)
    provider_unreachable: int = 0
    # (order id, what went wrong) for each payment that raised: left PENDING for the next run.
    errors: list[tuple[UUID, str]] = field(default_factory=list)


def each_alone():
    """The context one item of a batch job is settled in, so that one that raises is rolled back alone.

    Alone, the services commit each item themselves; inside a caller's transaction a savepoint
    keeps a failed item from poisoning it (PostgreSQL) or the others.
    """
    return transaction.atomic() if transaction.get_connection().in_atomic_block else contextlib.nullcontext()


def pending_payments_expire(*, older_than: timedelta, now: datetime | None = None) -> ExpiryReport:
    """Settle the PENDING payments older than `older_than` that no webhook confirmed.

    Ask the provider first (no transaction open): a charge it reports as succeeded is applied
    PAID; any other answer, unavailable included, fails the order with `pending_expired` (a later
    PAID confirmation may still pay it). Running it again changes nothing more.

    Each payment is settled on its own: one that raises is rolled back alone, logged and counted
    in `errors`, and the run goes on to the next, so one bad row never leaves the rest unsettled.
    """
    cutoff = (now or timezone.now()) - older_than
    provider = get_provider()
    report = ExpiryReport()
    for payment in selectors.pending_payments_before(cutoff=cutoff):
        report.checked += 1
        try:
            with each_alone():
                _pending_payment_expire(payment=payment, provider=provider, report=report)
        except Exception as exc:
            logger.exception("pending payment expiry failed", extra={
                "order_id": str(payment.order_id), "payment_id": str(payment.id),
            })
            report.errors.append((payment.order_id, f"{type(exc).__name__}: {exc}"))
    return report


def _pending_payment_expire(*, payment: Payment, provider, report: ExpiryReport) -> None:
    answer = provider.lookup(idempotency_key=payment.provider_key)
    unreachable = answer is not None and answer.status == ChargeStatus.UNAVAILABLE
    # An authorization attempt that went through is held, not charged: applied PAID, it becomes AUTHORIZED.
    charged = answer is not None and answer.status in (ChargeStatus.SUCCEEDED, ChargeStatus.AUTHORIZED)
    _, result = payment_outcome_apply(
        order_id=payment.order_id,
        outcome=ConfirmationOutcome.PAID if charged else ConfirmationOutcome.FAILED,
        source=ConfirmationSource.EXPIRY,
        note=f"Pending since {payment.created_at.isoformat()}; provider answered "
             f"{answer.status if answer else 'never saw it'}.",
        failure_reason=PENDING_EXPIRED,
        provider_reference=answer.reference if charged else "",
    )
    # Counted once applied, so a payment that raised is reported under `errors` only.
    if unreachable:
        report.provider_unreachable += 1
    if result != ConfirmationResult.APPLIED:
        report.ignored.append(payment.order_id)
    else:
        (report.paid if charged else report.failed).append(payment.order_id)
