"""Helpers for the operations tests: metric samples, raw SQL that bypasses the ledger's guards."""

import uuid

import pytest
from django.core.cache import cache
from django.db import connection
from prometheus_client import REGISTRY


def sample(name: str, **labels) -> float:
    """Return a metric sample of this process's registry (0 when it has none yet)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def raw_sql(sql: str, params: tuple = ()) -> int:
    """Run SQL as an intruder would: past the services, and on PostgreSQL past the triggers.

    `SET LOCAL session_replication_role = replica` skips the append-only and balance triggers
    for the rest of the test's transaction only (rolled back with it); the cluster's superuser may.
    The balance checks already queued by the seeding run first, while the books are still whole:
    queued deferred triggers would otherwise fire at the test's end against the tampered rows.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            assert connection.in_atomic_block, "needs the test's transaction: SET LOCAL must not leak"
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(sql, params)
        return cursor.rowcount


def db_uuid(value: uuid.UUID):
    """A UUID as this database stores it in raw SQL (SQLite: 32 hex characters)."""
    return value.hex if connection.vendor == "sqlite" else value


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
