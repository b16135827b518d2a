"""API clients and idempotency keys.

Invariants:
- An API key is stored only as its SHA-256 digest (keys are 256-bit random, so a fast digest is
  enough); `prefix` is the readable start of the key, for operators to recognise it.
- An idempotency key is unique per (owner, key): the database, not the code, stops two requests
  from both owning one key.
"""

import hashlib
import secrets
import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

KEY_PREFIX = "mg_"


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiClient(models.Model):
    """A service that calls the API with a bearer key. Everything it creates belongs to it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    is_active = models.BooleanField(default=True, help_text="Untick to revoke the key at once.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    # DRF treats the authenticated principal as `request.user`.
    is_authenticated = True
    is_anonymous = False

    class Meta:
        verbose_name = "API client"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def owner(self) -> str:
        """The owner string the ledger and other apps scope this client's rows by."""
        return str(self.id)

    @staticmethod
    def new_key() -> str:
        return KEY_PREFIX + secrets.token_urlsafe(32)

    def set_key(self, key: str) -> None:
        self.prefix = key[: len(KEY_PREFIX) + 6]
        self.key_hash = hash_api_key(key)


class IdempotencyKey(models.Model):
    """A client's Idempotency-Key: reserved under a lease, then holding the stored response."""

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"

    id = models.BigAutoField(primary_key=True)
    owner = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=512)
    state = models.CharField(max_length=12, choices=State.choices, default=State.IN_PROGRESS)
    lease_token = models.UUIDField(null=True, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_content_type = models.CharField(max_length=100, blank=True, default="")
    response_body = models.BinaryField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "key"], name="api_idempotency_key_unique"),
            models.CheckConstraint(
                condition=Q(state="in_progress") | Q(response_status__isnull=False),
                name="api_idempotency_completed_has_response",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"
