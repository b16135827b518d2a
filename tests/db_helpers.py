"""Helpers for tests that depend on the database: which one runs, and SQL past the ORM's guards."""

import uuid

from django.conf import settings
from django.db import connection

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "mintguard_site.db.postgresql"


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
