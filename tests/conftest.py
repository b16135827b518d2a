"""Shared test setup: database-vendor markers, API clients, dashboard users per role."""

import pytest
from django.test import Client

from .db_helpers import ON_POSTGRES
from .payments.helpers import WEBHOOK_SECRET
from .role_helpers import user_with_role


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
def operator_user(db):
    """Return a factory of dashboard users in a role group (viewer, operator, admin)."""

    def make(role: str = "viewer", username: str | None = None):
        return user_with_role(role, username=username)

    return make


@pytest.fixture
def as_role(db):
    """Return a factory of test clients signed in as a fresh user of the given role (None: no role)."""

    def make(role: str | None, **extra) -> Client:
        client = Client()
        client.user = user_with_role(role, **extra)
        client.force_login(client.user)
        return client

    return make


@pytest.fixture
def viewer(as_role):
    return as_role("viewer")


@pytest.fixture
def operator(as_role):
    return as_role("operator")


@pytest.fixture
def admin_role(as_role):
    return as_role("admin")


@pytest.fixture
def webhook_secret(settings) -> str:
    """Configure one Standard Webhooks secret (whsec_...) for the provider's webhooks; return it."""
    settings.MINTGUARD_PROVIDER_WEBHOOK_SECRET = WEBHOOK_SECRET
    return WEBHOOK_SECRET
