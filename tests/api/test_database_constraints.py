"""The idempotency keys' constraints refuse a bad row by themselves, on SQLite and on PostgreSQL.

`mintguard_site/api/idempotency.py` reserves keys in raw SQL that relies on them; here raw ORM
writes bypass it, and each refusal must name its constraint.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from mintguard_site.api.models import IdempotencyKey

from ..constraints import constraints_without_a_test, refused_by

pytestmark = pytest.mark.django_db


def key_row(**fields) -> IdempotencyKey:
    return IdempotencyKey.objects.create(**{
        "owner": "client-a", "key": "k-1", "fingerprint": "f" * 64, "method": "POST", "path": "/api/v1/orders",
        "expires_at": timezone.now() + timedelta(days=1), **fields,
    })


def test_api_idempotency_key_unique():
    key_row()
    with refused_by(IdempotencyKey, "api_idempotency_key_unique"):
        key_row()
    # keys are per client: another client's "k-1" is another key
    assert key_row(owner="client-b").owner == "client-b"


def test_api_idempotency_completed_has_response():
    reserved = key_row()
    with refused_by(IdempotencyKey, "api_idempotency_completed_has_response"):
        IdempotencyKey.objects.filter(pk=reserved.pk).update(state="completed")
    assert IdempotencyKey.objects.filter(pk=reserved.pk).update(state="completed", response_status=201) == 1


def test_every_idempotency_key_constraint_has_a_test_named_after_it():
    assert constraints_without_a_test(IdempotencyKey, tests=globals()) == []
