"""/healthz answers while the process lives; /readyz only while the database serves and is migrated."""

import socket

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client


def dead_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again: nothing listens there


@pytest.fixture
def unreachable_database():
    """Point the default connection at a database that cannot be opened, then restore it."""
    original = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent-mintguard-dir/db.sqlite3"
    else:
        connection.settings_dict.update(HOST="127.0.0.1", PORT=str(dead_port()),
                                        OPTIONS={**original.get("OPTIONS", {}), "connect_timeout": 2})
    yield
    connection.close()
    connection.settings_dict.clear()
    connection.settings_dict.update(original)


def test_healthz_is_public_and_answers_ok():
    response = Client().get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_is_public_and_ready_when_the_database_answers_and_is_migrated():
    response = Client().get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok"}}


@pytest.mark.django_db(transaction=True)
def test_readyz_is_503_when_the_database_is_unreachable(unreachable_database):
    response = Client().get("/readyz")

    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert response["Retry-After"] == "5"
    body = response.json()
    assert body["code"] == "not_ready"
    assert body["status"] == 503
    assert body["checks"] == {"database": "unreachable", "migrations": "unknown"}


@pytest.mark.django_db(transaction=True)
def test_healthz_stays_200_while_the_database_is_unreachable(unreachable_database):
    assert Client().get("/healthz").status_code == 200


@pytest.mark.django_db
def test_readyz_is_503_while_a_migration_is_not_applied():
    # A newest migration (a leaf): a missing older one under an applied newer one is not "pending" to Django.
    app, name = sorted(MigrationLoader(connection).graph.leaf_nodes())[0]
    MigrationRecorder(connection).migration_qs.filter(app=app, name=name).delete()

    response = Client().get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["checks"] == {"database": "ok", "migrations": "pending"}
    assert body["pending_migrations"] == [f"{app}.{name}"]
    assert f"{app}.{name}" in body["detail"]
