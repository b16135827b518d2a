"""The provider's signed webhooks: authenticate a delivery, record it, apply its event once.

The signature itself is `payments.webhooks` (Standard Webhooks); the event's outcome goes through
`payment_outcome_apply`, like an operator's or the pending expiry's.
"""

from dataclasses import dataclass

from django.db import IntegrityError, transaction

from mintguard_site import observability

from .. import selectors
from .. import webhooks as standard_webhooks
from ..exceptions import WebhookSignatureInvalid
from ..models import ConfirmationSource, WebhookEvent, WebhookResult
from .confirmations import payment_outcome_apply

MAX_STORED_BODY = 64 * 1024


@dataclass(frozen=True)
class WebhookReceipt:
    event: WebhookEvent
    duplicate: bool


def _delivery_fields(*, headers, body: bytes) -> dict:
    stored_headers = standard_webhooks.headers_of_interest(headers)
    return {
        "headers": stored_headers,
        "webhook_id": stored_headers.get(standard_webhooks.ID_HEADER, "")[:255],
        "body": standard_webhooks.storable_body(body, limit=MAX_STORED_BODY),
    }


def provider_webhook_authenticate(*, headers, body: bytes) -> None:
    """Check a delivery's Standard Webhooks signature over the raw body, before anything reads it.

    Raise WebhookSignatureInvalid; store nothing: the caller decides, by the sender's failure
    budget, whether the refusal is recorded (`provider_webhook_refuse`).
    """
    try:
        standard_webhooks.verify(headers=headers, body=body, secrets=standard_webhooks.configured_secrets())
    except standard_webhooks.WebhookVerificationError as exc:
        raise WebhookSignatureInvalid(str(exc)) from None


def provider_webhook_refuse(*, headers, body: bytes, detail: str) -> WebhookEvent:
    """Store a delivery whose signature failed, for operators: its headers, its body's prefix, the whole body's hash.

    Anyone can send one, so the row's size must not grow with what was sent.
    """
    stored_headers = standard_webhooks.headers_of_interest(headers)
    return WebhookEvent.objects.create(
        result=WebhookResult.REJECTED_SIGNATURE, detail=detail[:500], headers=stored_headers,
        webhook_id=stored_headers.get(standard_webhooks.ID_HEADER, "")[:255],
        **standard_webhooks.refused_body_fields(body),
    )


def provider_webhook_reject(*, headers, body: bytes, result: str, detail: str = "") -> WebhookEvent:
    """Store an authenticated delivery whose body was refused (not JSON, invalid), so operators can see it."""
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
        _, event.result = payment_outcome_apply(
            order_id=order.pk, outcome=outcome, source=ConfirmationSource.WEBHOOK,
            note=f"Webhook event {event_id} (webhook-id {event.webhook_id})",
        )
    event.save(update_fields=["result"])
    transaction.on_commit(lambda: observability.record_webhook(duplicate=False), robust=True)
    return WebhookReceipt(event=event, duplicate=False)
