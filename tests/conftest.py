"""Shared test setup: database-vendor markers and helpers for concurrency tests."""

import pytest
from django.conf import settings

from .payments.helpers import WEBHOOK_SECRET

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "mintguard_site.db.postgresql"


def pytest_collection_modifyitems(config, items):
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL (make test-postgres)")
    for item in items:
        if "postgres_only" in item.keywords and not ON_POSTGRES:
            item.add_marker(skip_pg)


@pytest.fixture
def make_api_client(db):
    """Return a factory of (DRF test client authenticated with a fresh API key, its ApiClient row)."""
    from rest_framework.test import APIClient

    from mintguard_site.api.services import api_client_create

    counter = iter(range(10**6))

    def make(name: str | None = None):
        client, key = api_client_create(name=name or f"client-{next(counter)}")
        http = APIClient()
        http.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        http.api_client = client
        http.api_key = key
        return http

    return make


@pytest.fixture
def api(make_api_client):
    """An HTTP client authenticated as one API client (`api.api_client` is its row)."""
    return make_api_client("primary")


@pytest.fixture
def operator_user(db, django_user_model):
    """Return a factory of dashboard users in a role group (viewer, operator, admin)."""
    from django.contrib.auth.models import Group

    def make(role: str = "viewer", username: str | None = None):
        user = django_user_model.objects.create_user(username or f"{role}-user", password="pw")
        user.groups.add(Group.objects.get(name=role))
        return user

    return make


@pytest.fixture
def webhook_secret(settings) -> str:
    """Configure one Standard Webhooks secret (whsec_...) for the provider's webhooks; return it."""
    settings.MINTGUARD_PROVIDER_WEBHOOK_SECRET = WEBHOOK_SECRET
    return WEBHOOK_SECRET
