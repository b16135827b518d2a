"""Persistent connections are checked before each request without a round trip (mintguard_site.db.postgresql)."""

import time

import psycopg
import pytest
from django.db import connection
from django.db.backends.postgresql.base import DatabaseWrapper as DjangoWrapper

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def test_an_idle_connection_is_judged_usable_without_asking_the_server(monkeypatch):
    connection.ensure_connection()
    monkeypatch.setattr(DjangoWrapper, "is_usable", lambda self: pytest.fail("sent SELECT 1"))

    assert connection.is_usable()


def test_a_connection_the_server_dropped_is_replaced_before_the_next_request_uses_it():
    connection.ensure_connection()
    dropped = connection.connection.info.backend_pid
    # Another session ends ours, as a restart, a failover or an idle timeout does.
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [dropped])
    deadline = time.monotonic() + 30  # the loop ends as soon as it arrives; a loaded server is slow to say it
    while connection.is_usable() and time.monotonic() < deadline:
        time.sleep(0.01)  # the server's goodbye is on its way
    assert not connection.is_usable()

    connection.health_check_done = False  # what request_started does
    connection.close_if_health_check_failed()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != dropped
