"""Fixtures of the operations tests: a clean cache, a frozen rate-limit clock.

Plain helpers are imported from `tests.metrics_helpers` (sample) and `tests.db_helpers` (raw SQL).
"""

import pytest
from django.core.cache import cache


@pytest.fixture
def clean_cache():
    cache.clear()
    yield cache
    cache.clear()


# Mid-window (the minute runs from ...9980 to ...10040): tests never straddle a window's end.
FROZEN_NOW = 1_700_000_030.5


@pytest.fixture
def frozen_clock(monkeypatch):
    """Pin the rate limiter's clock 9.5 s before the end of a one-minute window."""
    monkeypatch.setattr("mintguard_site.ratelimit._now", lambda: FROZEN_NOW)
    return FROZEN_NOW
