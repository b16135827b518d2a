"""The provider's later word, after a pay could not learn its outcome: signed webhooks and the pending expiry.

Both end in `services.payment_outcome_apply`, the one door through which an outcome reaches an
order: it books a confirmed payment once and refuses what would undo a payment.
"""

import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from django.db import IntegrityError, transaction
from django.utils import timezone

from mintguard_site import observability

from . import selectors, webhooks
from .exceptions import WebhookSignatureInvalid
from .models import (
    ConfirmationOutcome,
    ConfirmationResult,
    ConfirmationSource,
    Payment,
    WebhookEvent,
    WebhookResult,
)
from .policies import PENDING_EXPIRED
from .providers import ChargeStatus, get_provider
from .services import payment_outcome_apply

logger = logging.getLogger(__name__)


# --- pending expiry ----------------------------------------------------------------------


@dataclass
class ExpiryReport:
    checked: int = 0
    paid: list[UUID] = field(default_factory=list)
    failed: list[UUID] = field(default_factory=list)
    ignored: list[UUID] = field(default_factory=list)  # settled meanwhile (a webhook won the race)
    provider_unreachable: int = 0
    # (order id, what went wrong) for each payment that raised: left PENDING for the next run.
    errors: list[tuple[UUID, str]] = field(default_factory=list)


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
        # Alone, `payment_outcome_apply` commits each payment; inside a caller's transaction a
        # savepoint keeps a failed payment from poisoning it (PostgreSQL) or the others.
        guard = transaction.atomic() if transaction.get_connection().in_atomic_block else contextlib.nullcontext()
        try:
            with guard:
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
    charged = answer is not None and answer.status == ChargeStatus.SUCCEEDED
    result = payment_outcome_apply(
        order=payment.order,
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


# --- provider webhooks -------------------------------------------------------------------

MAX_STORED_BODY = 64 * 1024


@dataclass(frozen=True)
class WebhookReceipt:
    event: WebhookEvent
    duplicate: bool


def _delivery_fields(*, headers, body: bytes) -> dict:
    stored_headers = webhooks.headers_of_interest(headers)
    return {
        "headers": stored_headers,
        "webhook_id": stored_headers.get(webhooks.ID_HEADER, "")[:255],
        "body": webhooks.storable_body(body, limit=MAX_STORED_BODY),
    }


def provider_webhook_authenticate(*, headers, body: bytes) -> None:
    """Check a delivery's Standard Webhooks signature over the raw body, before anything reads it.

    Raise WebhookSignatureInvalid; store nothing: the caller decides, by the sender's failure
    budget, whether the refusal is recorded (`provider_webhook_refuse`).
    """
    try:
        webhooks.verify(headers=headers, body=body, secrets=webhooks.configured_secrets())
    except webhooks.WebhookVerificationError as exc:
        raise WebhookSignatureInvalid(str(exc)) from None


def provider_webhook_refuse(*, headers, body: bytes, detail: str) -> WebhookEvent:
    """Store a delivery whose signature failed, for operators: its headers, its body's prefix, the whole body's hash.

    Anyone can send one, so the row's size must not grow with what was sent.
    """
    stored_headers = webhooks.headers_of_interest(headers)
    return WebhookEvent.objects.create(
        result=WebhookResult.REJECTED_SIGNATURE, detail=detail[:500], headers=stored_headers,
        webhook_id=stored_headers.get(webhooks.ID_HEADER, "")[:255], **webhooks.refused_body_fields(body),
    )


def provider_webhook_reject(*, headers, body: bytes, result: str, detail: str = "") -> WebhookEvent:
    """Store a delivery that was refused (bad signature, invalid body), so operators can see it."""
    fields = _delivery_fields(headers=headers, body=body)
    return WebhookEvent.objects.create(result=result, detail=detail[:500], **fields)


@transaction.atomic
def provider_webhook_receive(
    *, headers, body: bytes, event_id: str, order_ref: str, outcome: str
) -> WebhookReceipt:
    """Record an authenticated delivery and apply its event once, however often it is delivered.

    The first delivery of an event id claims it (a partial UNIQUE index, in a savepoint) and applies
    its outcome in the same transaction; a concurrent twin waits on that index entry and, once the
    first commits, is recorded as a duplicate with no effect. Events for unknown orders are recorded
    and acknowledged, never applied.
    """
    order = selectors.order_find(order_ref)
    fields = {"event_id": event_id, "order_ref": order_ref, "outcome": outcome, "order": order,
              **_delivery_fields(headers=headers, body=body)}
    try:
        with transaction.atomic():
            event = WebhookEvent.objects.create(is_duplicate=False, result=WebhookResult.APPLIED, **fields)
    except IntegrityError:
        event = WebhookEvent.objects.create(is_duplicate=True, result=WebhookResult.DUPLICATE, **fields)
        transaction.on_commit(lambda: observability.record_webhook(duplicate=True), robust=True)
        return WebhookReceipt(event=event, duplicate=True)
    if order is None:
        event.result = WebhookResult.IGNORED_UNKNOWN_ORDER
    else:
        event.result = payment_outcome_apply(
            order=order, outcome=outcome, source=ConfirmationSource.WEBHOOK,
            note=f"Webhook event {event_id} (webhook-id {event.webhook_id})",
        )
    event.save(update_fields=["result"])
    transaction.on_commit(lambda: observability.record_webhook(duplicate=False), robust=True)
    return WebhookReceipt(event=event, duplicate=False)
