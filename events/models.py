"""Events (the outbox) and their delivery to clients' webhook endpoints.

Invariants:
1. An event is written in the same database transaction as the change it records, together with
   the task that dispatches it (`events.services.event_record`: two INSERTs, no read; on
   PostgreSQL they ride in front of a later statement of the transaction, `events/outbox.py`),
   so no event is lost by a crash after the change commits, nor invented by one that rolled
   back. Its `type` is one of `events.types.EVENT_TYPES` (a CHECK constraint).
2. An event is delivered at most once per endpoint as a row: one `Delivery` per (endpoint, event)
   (a unique constraint), so a dispatch that runs twice creates nothing twice. Delivery over HTTP
   is at least once: a receiver dedupes on `webhook-id`, the event's id.
3. A delivery is PENDING (with the time its next attempt is due), DELIVERED (with the time a 2xx
   came back) or FAILED (retries gave out); CHECK constraints hold these shapes. Its attempts are
   numbered from 1, unique per delivery, and kept (`DeliveryAttempt`), as are the deliveries of a
   deleted endpoint: an endpoint is deleted softly (`deleted_at`, and never enabled again).
4. An endpoint's signing secret is stored only encrypted (`mintguard_site.secrets_at_rest`), never
   as plaintext. After a rotation the previous secret (encrypted too) keeps signing beside the new
   one until `previous_secret_until`; one exists exactly when the other does.
"""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from mintguard_site import secrets_at_rest

from .types import EVENT_TYPES, TYPE_MAX_LENGTH, subscribes_to


class Event(models.Model):
    """Something that happened to a client's resource; `data` is the resource as the API shows it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.CharField(max_length=64)
    type = models.CharField(max_length=TYPE_MAX_LENGTH)
    data = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    # Set once its deliveries exist; the sweep re-dispatches events it finds still unset.
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["owner", "-created_at", "-id"], name="events_owner_recent"),
            models.Index(fields=["owner", "type", "-created_at", "-id"], name="events_owner_type_recent"),
            models.Index(fields=["created_at"], condition=Q(dispatched_at__isnull=True), name="events_undispatched"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(type__in=sorted(EVENT_TYPES)), name="events_event_type_known"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class WebhookEndpoint(models.Model):
    """A client's URL that receives its events, signed with the endpoint's secret."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.CharField(max_length=64)
    url = models.CharField(max_length=2048)
    events = models.JSONField(default=list, help_text='Event types delivered here, or ["*"] for all.')
    description = models.CharField(max_length=500, blank=True, default="")
    enabled = models.BooleanField(default=True)
    secret_encrypted = models.TextField(editable=False)
    previous_secret_encrypted = models.TextField(blank=True, default="", editable=False)
    previous_secret_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["owner", "-created_at", "-id"], name="events_endpoint_owner_recent")]
        # The dashboard's action on an endpoint (events/views.py); the API's PATCH is the client's own.
        permissions = [("change_endpoint_state", "Can enable or disable a webhook endpoint")]
        # (bandit's B106 takes the empty strings below for passwords.)
        constraints = [
            models.CheckConstraint(condition=~Q(secret_encrypted=""),  # nosec B106
                                   name="events_endpoint_has_secret"),
            models.CheckConstraint(
                condition=Q(previous_secret_encrypted="", previous_secret_until__isnull=True)  # nosec B106
                | (~Q(previous_secret_encrypted="") & Q(previous_secret_until__isnull=False)),  # nosec B106
                name="events_endpoint_previous_secret_has_deadline",
            ),
            models.CheckConstraint(condition=Q(deleted_at__isnull=True) | Q(enabled=False),
                                   name="events_endpoint_deleted_is_disabled"),
        ]

    def __str__(self) -> str:
        return self.url

    def receives(self, event_type: str) -> bool:
        return self.enabled and self.deleted_at is None and subscribes_to(self.events, event_type)

    def signing_secrets(self, now) -> list[str]:
        """The plaintext secrets that sign a delivery now: the current one, then the previous during its grace."""
        secrets = [secrets_at_rest.decrypt(self.secret_encrypted)]
        if self.previous_secret_until is not None and now < self.previous_secret_until:
            secrets.append(secrets_at_rest.decrypt(self.previous_secret_encrypted))
        return secrets


class DeliveryStatus(models.TextChoices):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


class Delivery(models.Model):
    """One event on its way to one endpoint: retried until a 2xx, or until retries give out."""

    id = models.BigAutoField(primary_key=True)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries")
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="deliveries")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0, help_text="Attempts finished so far.")
    # PENDING: when the next attempt is due (pushed ahead by a lease while one is in flight).
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # The start of the retry window (3 days): the first attempt since creation or the last resend.
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "deliveries"
        permissions = [("resend_delivery", "Can resend a webhook delivery")]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(status="PENDING"), name="events_delivery_due"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="events_delivery_once_per_endpoint"),
            models.CheckConstraint(condition=Q(status__in=DeliveryStatus.values), name="events_delivery_status_valid"),
            models.CheckConstraint(condition=~Q(status="PENDING") | Q(next_attempt_at__isnull=False),
                                   name="events_delivery_pending_is_scheduled"),
            models.CheckConstraint(
                condition=Q(status="DELIVERED", delivered_at__isnull=False)
                | (~Q(status="DELIVERED") & Q(delivered_at__isnull=True)),
                name="events_delivery_delivered_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} -> {self.endpoint_id} ({self.status})"


class DeliveryAttempt(models.Model):
    """One POST of a delivery: what came back (a status code, or the error that stopped it) and how long it took."""

    id = models.BigAutoField(primary_key=True)
    delivery = models.ForeignKey(Delivery, on_delete=models.PROTECT, related_name="attempt_log")
    # The delivery's endpoint, repeated so an endpoint's attempts list newest first by one index.
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.PROTECT, related_name="attempts")
    number = models.PositiveIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True, default="")
    duration_ms = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["endpoint", "-created_at", "-id"], name="events_attempt_endpoint_recent")]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="events_attempt_number_unique"),
            models.CheckConstraint(condition=Q(number__gte=1), name="events_attempt_number_from_one"),
            models.CheckConstraint(condition=Q(status_code__isnull=True) | Q(status_code__range=(100, 599)),
                                   name="events_attempt_status_code_http"),
            models.CheckConstraint(condition=Q(status_code__isnull=False) | ~Q(error=""),
                                   name="events_attempt_has_outcome"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"
