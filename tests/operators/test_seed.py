"""seed_demo gives the dashboard a user per role and a day of activity, and twice changes nothing."""

import io

import pytest
from django.core.management import call_command
from django.http import HttpRequest
from django.test import Client

from audit.models import AuditEntry
from payments.models import Order

from ..ledger.invariants import assert_ledger_consistent

pytestmark = pytest.mark.django_db


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_prints_a_login_per_role_that_works():
    output = seed()

    for username, role in [("viewer", "viewer"), ("operator", "operator"), ("admin", "admin")]:
        assert f"Login ({role}):" in output and f"{username} / mintguard-demo" in output
        client = Client()
        assert client.post("/login/", {"username": username, "password": "mintguard-demo"}).status_code == 302
        assert client.get("/orders/").status_code == 200
    # django-axes needs the request it guards; Client.login() passes none unless given one.
    assert Client().login(request=HttpRequest(), username="viewer", password="mintguard-demo")


def test_seed_demo_fills_every_queue_and_twice_changes_nothing():
    seed()
    first = (sorted(Order.objects.values_list("id", "status", "refunded_amount")), AuditEntry.objects.count())

    seed()

    assert (sorted(Order.objects.values_list("id", "status", "refunded_amount")), AuditEntry.objects.count()) == first
    statuses = set(Order.objects.values_list("status", flat=True))
    assert statuses == {"CREATED", "PENDING_PAYMENT", "PAID", "FAILED", "PARTIALLY_REFUNDED", "REFUNDED"}
    assert set(Order.objects.values_list("currency", flat=True)) == {"USD", "EUR", "JPY", "GOLD"}
    assert set(AuditEntry.objects.values_list("action", flat=True)) == {"refund.created", "payment.resolved"}
    assert_ledger_consistent()
