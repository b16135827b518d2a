"""Every write of the events app: recording events, managing webhook endpoints, resending a delivery."""

import base64
import secrets
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from mintguard_site import secrets_at_rest
from mintguard_site.conf import WEBHOOK_SECRET_PREFIX

from . import selectors
from .deliveries import delivery_reschedule
from .destinations import url_check
from .exceptions import UnknownEventType, WebhookEndpointDisabled
from .locks import endpoint_for_update, endpoints_for_update
from .models import Delivery, Event, WebhookEndpoint
from .tasks import delivery_attempt, event_dispatch
from .types import SUBSCRIBE_ALL, is_event_type, unknown_subscriptions

SECRET_BYTES = 24
# After a rotation the previous secret keeps signing beside the new one this long.
PREVIOUS_SECRET_GRACE = timedelta(hours=24)


def event_record(*, type: str, owner: str, data: dict) -> Event:
    """Record an event and enqueue its dispatch, in the caller's transaction: two INSERTs, nothing read.

    Call it inside the transaction of the change it records (it runs on the money path): the event
    and its dispatch then commit, or roll back, with that change. `data` is the resource's body as
    the API returns it (JSON-ready); `type` one of `events.types.EVENT_TYPES`.
    """
    if not is_event_type(type):
        raise ValueError(f"unknown event type {type!r}: add it to events/types.py")
    # savepoint=False: inside a caller's transaction this joins it, costing no SAVEPOINT round trips;
    # called alone it opens one, so the event never commits without its dispatch.
    with transaction.atomic(savepoint=False):
        event = Event.objects.create(type=type, owner=owner, data=data)
        event_dispatch.enqueue(str(event.id))
    return event


def new_secret() -> str:
    """A signing secret as Standard Webhooks writes it: `whsec_` + base64 of 24 random bytes."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def subscriptions_check(events: list[str]) -> list[str]:
    """Return the subscription list without repeats (`["*"]` if it names `*`); raise UnknownEventType."""
    unknown = unknown_subscriptions(events)
    if unknown:
        raise UnknownEventType(f"Unknown event type(s): {', '.join(sorted(unknown))[:400]}.")
    return [SUBSCRIBE_ALL] if SUBSCRIBE_ALL in events else list(dict.fromkeys(events))


def endpoint_create(*, owner: str, url: str, events: list[str], description: str = "",
                    now: datetime | None = None) -> tuple[WebhookEndpoint, str]:
    """Register a webhook endpoint; return it and its secret, in plaintext this once (stored encrypted)."""
    events = subscriptions_check(events)
    url = url_check(url)  # resolves the host: before any transaction, so no lock waits on DNS
    now = now or timezone.now()
    secret = new_secret()
    endpoint = WebhookEndpoint.objects.create(
        owner=owner, url=url, events=events, description=description,
        secret_encrypted=secrets_at_rest.encrypt(secret), created_at=now, updated_at=now,
    )
    return endpoint, secret


def endpoint_update(*, endpoint_id, owner: str | None, url: str | None = None, events: list[str] | None = None,
                    enabled: bool | None = None) -> WebhookEndpoint:
    """Change an endpoint's URL (checked again), subscriptions or switch; None leaves a field as it is."""
    events = None if events is None else subscriptions_check(events)
    url = None if url is None else url_check(url)  # before the lock: no lock waits on DNS
    with transaction.atomic():
        endpoint = endpoint_for_update(endpoint_id=endpoint_id, owner=owner)
        endpoint.url = endpoint.url if url is None else url
        endpoint.events = endpoint.events if events is None else events
        endpoint.enabled = endpoint.enabled if enabled is None else enabled
        endpoint.updated_at = timezone.now()
        endpoint.save(update_fields=["url", "events", "enabled", "updated_at"])
    return endpoint


@transaction.atomic
def endpoint_delete(*, endpoint_id, owner: str | None) -> None:
    """Delete an endpoint softly: it receives nothing more, its deliveries stay (their pending ones fail)."""
    endpoint = endpoint_for_update(endpoint_id=endpoint_id, owner=owner)
    endpoint.deleted_at = endpoint.updated_at = timezone.now()
    endpoint.enabled = False
    endpoint.save(update_fields=["deleted_at", "enabled", "updated_at"])


@transaction.atomic
def endpoint_rotate_secret(*, endpoint_id, owner: str | None,
                           now: datetime | None = None) -> tuple[WebhookEndpoint, str]:
    """Give an endpoint a new secret; the current one keeps signing beside it for 24 h. Return the new one.

    A second rotation within those 24 h retires the oldest secret at once: two sign at most.
    """
    endpoint = endpoint_for_update(endpoint_id=endpoint_id, owner=owner)
    now = now or timezone.now()
    secret = new_secret()
    endpoint.previous_secret_encrypted = endpoint.secret_encrypted
    endpoint.previous_secret_until = now + PREVIOUS_SECRET_GRACE
    endpoint.secret_encrypted = secrets_at_rest.encrypt(secret)
    endpoint.updated_at = now
    endpoint.save(update_fields=["secret_encrypted", "previous_secret_encrypted", "previous_secret_until",
                                 "updated_at"])
    return endpoint, secret


@transaction.atomic
def delivery_resend(*, endpoint_id, event_id, owner: str | None) -> Delivery:
    """Deliver an event to an endpoint again, now, with a fresh retry window (also one it never had)."""
    endpoint = selectors.endpoint_get(endpoint_id=endpoint_id, owner=owner)
    if not endpoint.enabled:
        raise WebhookEndpointDisabled(f"Webhook endpoint {endpoint.id} is disabled; enable it to resend.")
    # The endpoint's owner's events only, whoever asks (an operator sees every endpoint).
    event = selectors.event_get(event_id=event_id, owner=endpoint.owner)
    delivery = delivery_reschedule(endpoint=endpoint, event=event, now=timezone.now())
    delivery_attempt.enqueue(delivery.pk)
    return delivery


@transaction.atomic
def secrets_reencrypt() -> int:
    """Re-encrypt every stored endpoint secret (deleted endpoints' too) with the first configured key.

    Return how many secrets were rewritten. A secret no configured key decrypts stops it, and
    rolls back every one it rewrote, with SecretUndecryptable.
    """
    count = 0
    for endpoint in endpoints_for_update():
        endpoint.secret_encrypted = secrets_at_rest.reencrypt(endpoint.secret_encrypted)
        count += 1
        if endpoint.previous_secret_encrypted:
            endpoint.previous_secret_encrypted = secrets_at_rest.reencrypt(endpoint.previous_secret_encrypted)
            count += 1
        endpoint.save(update_fields=["secret_encrypted", "previous_secret_encrypted"])
    return count
