"""API clients and idempotency keys.

Invariants:
- An API key is stored only as its SHA-256 digest (keys are 256-bit random, so a fast digest is
  enough); `prefix` is the readable start of the key, for operators to recognise it.
- A client has one key at a time, plus, for a grace period after a rotation, its previous key
  (`previous_key_hash` until `previous_key_expires_at`), so its services can switch without
  downtime. The client, and so the owner of everything it created, stays the same.
- An API key holds a non-empty list of known scopes (`Scope`), in `Scope` order; a route outside them
  is refused (`mintguard_site.api.auth`).
- An idempotency key is unique per (owner, key): the database, not the code, stops two requests
  from both owning one key.
"""

import hashlib
import secrets
import uuid

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

KEY_PREFIX = "mg_"


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class Scope(models.TextChoices):
    """What an API key may reach. Every API route declares the one scope it needs (`auth.scoped`)."""

    ACCOUNTS = "accounts", "Accounts, deposits, withdrawals, transfers, statements"
    WALLETS = "wallets", "Wallets: top-ups, bonuses, spends, balances"
    PAYMENTS = "payments", "Orders, payments, refunds, checkout"
    WEBHOOKS = "webhooks", "Webhook endpoints and events"
    BOOKS = "books", "The platform's books: ledger summary"


def all_scopes() -> list[str]:
    """Every scope: what a key gets unless it is created with fewer (and what keys had before scopes)."""
    return list(Scope.values)


def scopes_normalise(scopes: list[str]) -> list[str]:
    """Return `scopes` without repeats, in `Scope` order; raise ValueError if one is unknown or none is given."""
    if isinstance(scopes, str) or not all(isinstance(scope, str) for scope in scopes):
        raise ValueError("Scopes are a list of names.")
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown:
        raise ValueError(f"Unknown scope {', '.join(unknown)}; choose from {', '.join(Scope.values)}.")
    if not scopes:
        raise ValueError("A key needs at least one scope.")
    return [scope for scope in Scope.values if scope in scopes]


def validate_scopes(value) -> None:
    """Refuse anything but a non-empty list of known scope names (model validation: admin, forms)."""
    try:
        if not isinstance(value, list):
            raise ValueError("Scopes are a list of names.")
        scopes_normalise(value)
    except ValueError as exc:
        raise ValidationError(str(exc), code="invalid_scopes") from None


class ScopesField(models.JSONField):
    """A JSON list of scope names, edited as one checkbox per scope (in the admin and in model forms)."""

    def formfield(self, **kwargs):
        # Skip JSONField.formfield: it would edit the list as JSON text.
        return super(models.JSONField, self).formfield(**{
            "form_class": forms.MultipleChoiceField, "choices": Scope.choices,
            "widget": forms.CheckboxSelectMultiple, **kwargs,
        })


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
    previous_key_hash = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    previous_key_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Read with the row that authenticates the key, so checking a route's scope costs no query.
    scopes = ScopesField(default=all_scopes, validators=[validate_scopes],
                         help_text="The parts of the API this key may call.")

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

    def previous_key_valid(self, now) -> bool:
        return self.previous_key_expires_at is not None and now < self.previous_key_expires_at

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


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
