"""Fixtures of the events tests: a loopback receiver, insecure URLs allowed, a driven clock, endpoints."""

from datetime import datetime

import pytest
from django.utils import timezone

from events import services

from .receiver import Receiver


@pytest.fixture
def insecure(settings):
    """MINTGUARD_WEBHOOK_ALLOW_INSECURE on: http:// and loopback receivers are allowed (tests only)."""
    settings.MINTGUARD_WEBHOOK_ALLOW_INSECURE = True


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


class Clock:
    """`timezone.now()` under the test's control: the tasks read the time through it."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock(timezone.now().replace(microsecond=0))
    monkeypatch.setattr(timezone, "now", clock)
    return clock


@pytest.fixture
def endpoint_to(insecure):
    """Return a factory: an endpoint of `owner` at `url`, and its secret."""

    def make(url: str, *, owner: str = "client-a", events=("*",), **extra):
        return services.endpoint_create(owner=owner, url=url, events=list(events), **extra)

    return make
