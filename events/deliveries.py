"""Delivering events: the rows behind each step, for `events.tasks` to run in its transactions.

- `deliveries_create`: an event's deliveries, one per endpoint of its owner that receives its type.
- `delivery_claim`: lock a due PENDING delivery, push it ahead by a lease (so another copy of the
  task finds it not due while this one is in flight) and return the signed request. The POST
  happens after that transaction commits: no row lock is held while we wait on a receiver.
- `delivery_record`: lock it again, append the attempt and settle it: DELIVERED on a 2xx, else
  the time of its next attempt, or FAILED once that would fall beyond the retry window.
- `sweep_overdue`: what a crashed worker left behind (db_worker leaves a SIGKILLed task RUNNING
  for ever): events never dispatched, and PENDING deliveries long past due.

Every step is idempotent, so a task that runs twice (delivery is at least once) changes nothing
twice: a dispatched event is not dispatched again, a delivery that is not due is skipped.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from random import SystemRandom

from django.conf import settings
from standardwebhooks import Webhook

from .destinations import Outcome
from .locks import delivery_for_update, event_for_update
from .models import Delivery, DeliveryAttempt, DeliveryStatus, Event, WebhookEndpoint
from .payloads import event_body
from .types import subscribes_to

# An attempt in flight holds its delivery this long (the POST itself is bounded at 10 s).
LEASE = timedelta(seconds=60)
# Retries: 30 s after the first failure, doubling, at most 6 h apart, for 3 days from the first attempt.
RETRY_CAP = timedelta(hours=6)
RETRY_WINDOW = timedelta(days=3)
# The sweep: an event undispatched, or a delivery overdue, by more than this was left by a dead worker.
SWEEP_GRACE = timedelta(minutes=5)
SWEEP_BATCH = 1000

_jitter = SystemRandom()


@dataclass(frozen=True)
class SignedRequest:
    """What a claimed attempt POSTs: to `url`, the event's JSON with its Standard Webhooks headers."""

    url: str
    body: bytes
    headers: dict[str, str]


def retry_delay(failed_attempts: int) -> timedelta:
    """Wait after this many failed attempts: 30 s * 2^(n-1), capped at 6 h, less up to half at random.

    The jitter ("equal jitter") keeps the retries of many deliveries that failed together (a
    receiver's outage) from arriving together; the wait never exceeds its ceiling, so the first
    retry comes within 30 s.
    """
    first = timedelta(seconds=settings.MINTGUARD_WEBHOOK_RETRY_BASE)  # 30 s unless set
    ceiling = min(first * 2 ** min(failed_attempts - 1, 20), RETRY_CAP)
    return ceiling * _jitter.uniform(0.5, 1.0)


def signature_headers(*, secrets: list[str], message_id: str, body: str, now: datetime) -> dict[str, str]:
    """Standard Webhooks headers, signed by each secret (space-separated signatures, as the spec allows)."""
    timestamp = datetime.fromtimestamp(int(now.timestamp()), tz=UTC)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(Webhook(secret).sign(message_id, timestamp, body) for secret in secrets),
        "Content-Type": "application/json",
    }


def deliveries_create(*, event_id, now: datetime) -> list[int]:
    """Create the event's deliveries and mark it dispatched; return the ids created (none if it was already)."""
    event = event_for_update(event_id)
    if event is None or event.dispatched_at is not None:
        return []
    endpoints = WebhookEndpoint.objects.filter(owner=event.owner, enabled=True, deleted_at__isnull=True,
                                               created_at__lte=event.created_at)
    created = Delivery.objects.bulk_create([
        Delivery(endpoint=endpoint, event=event, next_attempt_at=now, created_at=now, updated_at=now)
        for endpoint in endpoints if subscribes_to(endpoint.events, event.type)
    ])
    event.dispatched_at = now
    event.save(update_fields=["dispatched_at"])
    return [delivery.pk for delivery in created]


def delivery_claim(*, delivery_id, now: datetime) -> SignedRequest | None:
    """Claim a due PENDING delivery for one attempt and return its request; None if there is nothing to send.

    A delivery whose endpoint was disabled or deleted since is settled FAILED here, with an attempt
    that says why and nothing sent.
    """
    delivery = delivery_for_update(delivery_id)
    if delivery is None or delivery.status != DeliveryStatus.PENDING or delivery.next_attempt_at > now:
        return None
    endpoint = delivery.endpoint
    if not endpoint.enabled or endpoint.deleted_at is not None:
        _settle(delivery, Outcome(None, "The endpoint is disabled or deleted: nothing was sent.", 0), now, final=True)
        return None
    delivery.next_attempt_at = now + LEASE
    delivery.first_attempt_at = delivery.first_attempt_at or now
    delivery.updated_at = now
    delivery.save(update_fields=["next_attempt_at", "first_attempt_at", "updated_at"])
    body = event_body(delivery.event)
    headers = signature_headers(secrets=endpoint.signing_secrets(now), message_id=str(delivery.event_id),
                                body=body, now=now)
    return SignedRequest(url=endpoint.url, body=body.encode(), headers=headers)


def delivery_record(*, delivery_id, outcome: Outcome, now: datetime) -> datetime | None:
    """Append the attempt's outcome and settle the delivery; return when to try again (None: settled)."""
    delivery = delivery_for_update(delivery_id)
    return None if delivery is None else _settle(delivery, outcome, now, final=False)


def _settle(delivery: Delivery, outcome: Outcome, now: datetime, *, final: bool) -> datetime | None:
    number = delivery.attempts + 1
    DeliveryAttempt.objects.create(delivery=delivery, endpoint_id=delivery.endpoint_id, number=number,
                                   status_code=outcome.status_code, error=outcome.error,
                                   duration_ms=outcome.duration_ms, created_at=now)
    delivery.attempts, delivery.last_attempt_at, delivery.updated_at = number, now, now
    delivery.last_status_code = outcome.status_code
    retry_at = None
    if delivery.status != DeliveryStatus.PENDING:
        pass  # a copy of this attempt whose lease ran out settled it first: its outcome stands
    elif outcome.delivered:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = DeliveryStatus.DELIVERED, now, None
    else:
        retry_at = now + retry_delay(number)
        if final or retry_at > (delivery.first_attempt_at or now) + RETRY_WINDOW:
            delivery.status, delivery.next_attempt_at, retry_at = DeliveryStatus.FAILED, None, None
        else:
            delivery.next_attempt_at = retry_at
    delivery.save(update_fields=["attempts", "last_attempt_at", "last_status_code", "status", "delivered_at",
                                 "next_attempt_at", "updated_at"])
    return retry_at


def delivery_reschedule(*, endpoint: WebhookEndpoint, event: Event, now: datetime) -> Delivery:
    """Make the event's delivery to this endpoint PENDING and due now, with a new retry window (a resend)."""
    delivery, _ = Delivery.objects.get_or_create(
        endpoint=endpoint, event=event, defaults={"next_attempt_at": now, "created_at": now, "updated_at": now},
    )
    delivery = delivery_for_update(delivery.pk)
    delivery.status, delivery.delivered_at, delivery.first_attempt_at = DeliveryStatus.PENDING, None, None
    delivery.next_attempt_at, delivery.updated_at = now, now
    delivery.save(update_fields=["status", "delivered_at", "first_attempt_at", "next_attempt_at", "updated_at"])
    return delivery


def sweep_overdue(*, now: datetime) -> tuple[list, list[int]]:
    """Return (events to dispatch again, deliveries to attempt again): what dead workers left behind.

    The deliveries returned are made due now, so the next sweep takes them again only once they are
    overdue by the grace once more: a delivery waiting behind a long queue is not enqueued over and over.
    """
    cutoff = now - SWEEP_GRACE
    event_ids = list(Event.objects.filter(dispatched_at__isnull=True, created_at__lt=cutoff)
                     .order_by("created_at").values_list("id", flat=True)[:SWEEP_BATCH])
    delivery_ids = list(Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lt=cutoff)
                        .order_by("next_attempt_at").values_list("id", flat=True)[:SWEEP_BATCH])
    Delivery.objects.filter(pk__in=delivery_ids, status=DeliveryStatus.PENDING).update(next_attempt_at=now,
                                                                                        updated_at=now)
    return event_ids, delivery_ids
