"""Writes of the API platform: API keys and idempotency-key housekeeping."""

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from .auth import forget_api_client
from .models import ApiClient, IdempotencyKey, all_scopes, scopes_normalise


@transaction.atomic
def api_client_create(*, name: str, key: str | None = None,
                      scopes: Iterable[str] | None = None) -> tuple[ApiClient, str]:
    """Create an API client and return it with its key, which is shown once and stored hashed.

    The key has every scope unless `scopes` names fewer; an unknown or empty list raises ValueError.
    """
    scopes = all_scopes() if scopes is None else scopes_normalise(list(scopes))
    key = key or ApiClient.new_key()
    client = ApiClient(name=name, scopes=scopes)
    client.set_key(key)
    client.save(force_insert=True)
    return client, key


def api_client_revoke(*, client: ApiClient) -> None:
    """Revoke the client's key, and its previous key if a rotation left one valid, at once."""
    ApiClient.objects.filter(pk=client.pk, is_active=True).update(
        is_active=False, revoked_at=timezone.now(), previous_key_hash=None, previous_key_expires_at=None,
    )
    forget_api_client(client.pk)  # .update() sends no signal: this process refuses the key from now on


API_KEY_ROTATION_GRACE = timedelta(hours=24)


@transaction.atomic
def api_key_rotate(*, client_id, grace: timedelta = API_KEY_ROTATION_GRACE) -> tuple[ApiClient, str]:
    """Give an active client a new key; its current key keeps working for `grace`, then stops.

    The client stays the same, so the new key sees and replays everything the old one made. A
    zero grace retires the old key at once (a leaked key); a key rotated twice within its grace
    keeps only the newest previous key.
    """
    client = ApiClient.objects.select_for_update().get(pk=client_id, is_active=True)
    key = ApiClient.new_key()
    if grace > timedelta(0):
        client.previous_key_hash, client.previous_key_expires_at = client.key_hash, timezone.now() + grace
    else:
        client.previous_key_hash = client.previous_key_expires_at = None
    client.set_key(key)
    # The save's signal makes this process forget the client's keys (mintguard_site.api.auth).
    client.save(update_fields=["prefix", "key_hash", "previous_key_hash", "previous_key_expires_at"])
    return client, key


def idempotency_keys_purge(*, now: datetime | None = None) -> int:
    """Delete keys past their TTL (never one whose request may still be running)."""
    now = now or timezone.now()
    expired = IdempotencyKey.objects.filter(expires_at__lt=now).exclude(
        state=IdempotencyKey.State.IN_PROGRESS, locked_until__gt=now
    )
    deleted, _ = expired.delete()
    return deleted
