import pytest
from django.core.cache import cache
from django.test import Client

from .factories import user_with_role


@pytest.fixture(autouse=True)
def clean_cache():
    """Login rate-limit counters live in the cache: each test starts from zero."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def as_role(db):
    """Return a factory of test clients signed in as a fresh user of the given role."""

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


def htmx(**headers) -> dict:
    """The headers htmx sends with a request (a fragment request, not a boosted one)."""
    return {"HTTP_HX_REQUEST": "true", **{f"HTTP_HX_{k.upper()}": v for k, v in headers.items()}}
