"""Every write of the events app: recording events, managing webhook endpoints, resending a delivery,
and the operators' audited actions from the dashboard."""

import base64
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from mintguard_site import secrets_at_rest
from mintguard_site.conf import WEBHOOK_SECRET_PREFIX

from . import selectors
from .deliveries import delivery_reschedule
from .destinations import url_check
from .exceptions import UnknownEventType, WebhookEndpointDisabled
from .locks import delivery_for_update, endpoint_for_update, endpoints_for_update
from .models import Delivery, Event, WebhookEndpoint
from .outbox import outbox_applies, outbox_write
from .tasks import delivery_attempt, event_dispatch
from .types import SUBSCRIBE_ALL, is_event_type, unknown_subscriptions

SECRET_BYTES = 24
# After a rotation the previous secret keeps signing beside the new one this long.
PREVIOUS_SECRET_GRACE = timedelta(hours=24)


@dataclass(frozen=True)
class NewEvent:
    """An event to record: its `type` (one of `events.types.EVENT_TYPES`), the API client it belongs
    to (`owner`) and its `data`, the resource's body as the API returns it (JSON-ready)."""

    type: str
    owner: str
    data: dict


def events_enabled() -> bool:
    """Whether events are recorded (MINTGUARD_EVENTS: a measurement switch; production keeps it on)."""
    return settings.MINTGUARD_EVENTS


def events_record(records: Iterable[NewEvent]) -> list[Event]:
    """Record events and enqueue one dispatch of them all, in the caller's transaction: one write, nothing read.

    Call it inside the transaction of the change they record (it runs on the money path): the events
    and their dispatch then commit, or roll back, with that change. A batch of a thousand transfers
    is one INSERT of its thousand events and one task (SQLite splits the INSERT by its parameter limit).
    `records` is read only when events are on, so a generator that renders the bodies costs nothing
    when MINTGUARD_EVENTS is off; no records, or events off, write nothing and return [].
    """
    if not events_enabled():
        return []
    events = [Event(type=record.type, owner=record.owner, data=record.data) for record in records]
    unknown = sorted({event.type for event in events if not is_event_type(event.type)})
    if unknown:
        raise ValueError(f"unknown event type(s) {', '.join(unknown)}: add them to events/types.py")
    if not events:
        return []
    # savepoint=False: inside a caller's transaction this joins it, costing no SAVEPOINT round trips;
    # called alone it opens one, so no event commits without its dispatch.
    with transaction.atomic(savepoint=False):
        connection = transaction.get_connection()
        if outbox_applies(connection):
            outbox_write(events, connection)  # no round trip of its own in an idempotent request
        else:
            Event.objects.bulk_create(events)
            event_dispatch.enqueue(*(str(event.id) for event in events))
    return events


def event_record(*, type: str, owner: str, data: dict) -> Event | None:
    """Record one event and enqueue its dispatch, as `events_record` does; None when events are off."""
    recorded = events_record([NewEvent(type=type, owner=owner, data=data)])
    return recorded[0] if recorded else None


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


# --- operators' actions from the dashboard: each audited in its own transaction ---------------


def _operator_note(note: str) -> str:
    note = (note or "").strip()
    if not note:
        raise ValueError("An operator's action on webhooks needs a note for the audit log.")
    return note


@transaction.atomic
def operator_delivery_resend(*, endpoint_id, event_id, user, note: str) -> Delivery:
    """Resend an event to an endpoint as an operator (`delivery_resend`) and record it in the audit log.

    The note is required. The entry commits with the resend, or neither does; its `before` is the
    delivery as it stood under its lock (empty when the endpoint never had one: the resend creates it).
    """
    note = _operator_note(note)
    existing = Delivery.objects.filter(endpoint_id=endpoint_id, event_id=event_id).values_list("pk", flat=True).first()
    previous = None if existing is None else delivery_for_update(existing)
    before = {} if previous is None else {"status": previous.status, "attempts": previous.attempts}
    delivery = delivery_resend(endpoint_id=endpoint_id, event_id=event_id, owner=None)
    after = {"status": delivery.status, "attempts": delivery.attempts, "endpoint_id": str(delivery.endpoint_id)}
    audit_record(actor=user, action=AuditAction.DELIVERY_RESENT, target_type="event", target_id=delivery.event_id,
                 before=before, after=after, note=note)
    return delivery


@transaction.atomic
def operator_endpoint_set_enabled(*, endpoint_id, enabled: bool, user, note: str) -> tuple[WebhookEndpoint, bool]:
    """Enable or disable an endpoint as an operator (`endpoint_update`) and record it in the audit log.

    Return the endpoint and whether it changed: one already so is left as it is, and nothing is
    recorded. Disabled, it receives no new event and its pending deliveries fail at their next
    attempt, unsent. A deleted endpoint raises WebhookEndpointNotFound: it stays disabled for ever.
    """
    note = _operator_note(note)
    endpoint = endpoint_for_update(endpoint_id=endpoint_id, owner=None)
    if endpoint.enabled == enabled:
        return endpoint, False
    endpoint = endpoint_update(endpoint_id=endpoint.pk, owner=None, enabled=enabled)
    audit_record(actor=user, action=AuditAction.ENDPOINT_ENABLED if enabled else AuditAction.ENDPOINT_DISABLED,
                 target_type="webhook_endpoint", target_id=endpoint.pk, before={"enabled": not enabled},
                 after={"enabled": enabled}, note=note)
    return endpoint, True
