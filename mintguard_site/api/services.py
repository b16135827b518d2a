"""Writes of the API platform: API keys and idempotency-key housekeeping."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from .models import ApiClient, IdempotencyKey


@transaction.atomic
def api_client_create(*, name: str, key: str | None = None) -> tuple[ApiClient, str]:
    """Create an API client and return it with its key, which is shown once and stored hashed."""
    key = key or ApiClient.new_key()
    client = ApiClient(name=name)
    client.set_key(key)
    client.save(force_insert=True)
    return client, key


def api_client_revoke(*, client: ApiClient) -> None:
    ApiClient.objects.filter(pk=client.pk, is_active=True).update(is_active=False, revoked_at=timezone.now())


def idempotency_keys_purge(*, now: datetime | None = None) -> int:
    """Delete keys past their TTL (never one whose request may still be running)."""
    now = now or timezone.now()
    expired = IdempotencyKey.objects.filter(expires_at__lt=now).exclude(
        state=IdempotencyKey.State.IN_PROGRESS, locked_until__gt=now
    )
    deleted, _ = expired.delete()
    return deleted
