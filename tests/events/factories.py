"""Rows of the events app as the dashboard shows them: events, endpoints, deliveries with their attempts.

Written through the ORM with chosen outcomes, so a page can be checked against known status codes
and errors without a receiver; the dashboard's actions themselves go through the services.
"""

from datetime import timedelta

from django.utils import timezone

from events.models import Delivery, DeliveryAttempt, DeliveryStatus, Event, WebhookEndpoint
from events.services import new_secret
from mintguard_site import secrets_at_rest


def endpoint(*, owner: str = "client-a", url: str = "https://hooks.example.com/mintguard", events=("*",),
             description: str = "", enabled: bool = True, deleted: bool = False) -> WebhookEndpoint:
    """An endpoint with a real encrypted secret; `.secret` holds its plaintext (what a page must never show)."""
    secret, now = new_secret(), timezone.now()
    row = WebhookEndpoint.objects.create(
        owner=owner, url=url, events=list(events), description=description, enabled=enabled and not deleted,
        secret_encrypted=secrets_at_rest.encrypt(secret), deleted_at=now if deleted else None,
    )
    row.secret = secret
    return row


def event(*, owner: str = "client-a", type: str = "order.paid", data: dict | None = None, dispatched: bool = True,
          created_at=None) -> Event:
    created_at = created_at or timezone.now()
    return Event.objects.create(owner=owner, type=type, data={"id": "o-1", "status": "PAID"} if data is None else data,
                                created_at=created_at, dispatched_at=created_at if dispatched else None)


def delivery(to: WebhookEndpoint, of: Event, *outcomes, failed: bool = False) -> Delivery:
    """A delivery with one attempt per outcome (a status code, or the error of an attempt with no answer).

    A 2xx last makes it DELIVERED; otherwise it is PENDING, due in 30 s, or FAILED with `failed`.
    """
    now = timezone.now()
    row = Delivery.objects.create(endpoint=to, event=of, next_attempt_at=now, created_at=now, updated_at=now)
    for number, outcome in enumerate(outcomes, start=1):
        code, error = (outcome, "") if isinstance(outcome, int) else (None, outcome)
        DeliveryAttempt.objects.create(delivery=row, endpoint=to, number=number, status_code=code, error=error,
                                       duration_ms=10 * number, created_at=now + timedelta(seconds=number))
    last = outcomes[-1] if outcomes else None
    code = last if isinstance(last, int) else None
    settled = {"attempts": len(outcomes), "last_status_code": code,
               "last_attempt_at": now + timedelta(seconds=len(outcomes)) if outcomes else None,
               "first_attempt_at": now + timedelta(seconds=1) if outcomes else None}
    if code is not None and 200 <= code < 300:
        settled |= {"status": DeliveryStatus.DELIVERED, "delivered_at": settled["last_attempt_at"],
                    "next_attempt_at": None}
    elif failed:
        settled |= {"status": DeliveryStatus.FAILED, "next_attempt_at": None}
    else:
        settled |= {"next_attempt_at": now + timedelta(seconds=30)}
    Delivery.objects.filter(pk=row.pk).update(**settled)
    row.refresh_from_db()
    return row


def webhook_history(owner: str) -> dict:
    """What the browser tests walk: an event delivered after a failure, to an endpoint with a long URL,
    another endpoint with a pending delivery, and a deleted one."""
    hook = endpoint(owner=owner, url="https://fulfilment.example.com/webhooks/mintguard/a-rather-long-path?tenant=3",
                    description="Fulfilment")
    pending = endpoint(owner=owner, url="https://crm.example.com/hooks", events=["order.paid", "order.refunded"])
    paid = event(owner=owner, data={"id": "order-1", "status": "PAID", "description": "A walnut desk, delivered " * 4})
    delivery(hook, paid, 500, "Connection refused by the receiver at fulfilment.example.com", 204)
    delivery(pending, paid, 503)
    return {"event": paid, "endpoint": hook, "pending": pending, "deleted": endpoint(owner=owner, deleted=True)}
