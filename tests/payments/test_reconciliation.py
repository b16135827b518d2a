"""The payments reconciliation check: each kind of order drift, injected by raw SQL, is named precisely."""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from payments.reconciliation import check_orders

from .helpers import create_order, paid_order, refund

pytestmark = pytest.mark.django_db


def drifts():
    return [(d.check, d.order_id) for d in check_orders()]


def set_order(order_id: str, assignment: str) -> None:
    """Corrupt an order by raw SQL (SQLite stores UUIDs as 32 hex digits)."""
    key = order_id.replace("-", "") if connection.vendor == "sqlite" else order_id
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE payments_order SET {assignment} WHERE id = %s", [key])  # noqa: S608


def test_clean_orders_have_no_drift_and_reconcile_exits_zero(api):
    order = paid_order(api, amount=1_000)
    refund(api, order["id"], amount=300)
    create_order(api)
    assert drifts() == []
    call_command("reconcile", stdout=open("/dev/null", "w"))  # raises CommandError on drift


def test_refunded_amount_that_the_refunds_do_not_explain_is_a_drift(api):
    order = paid_order(api, amount=1_000)
    refund(api, order["id"], amount=300)
    set_order(order["id"], "refunded_amount = 400")

    found = list(check_orders())

    assert [(d.check, d.order_id) for d in found] == [("order_refunds_match_ledger", order["id"])]
    assert "refunded_amount 400, refunds total 300, posted 300" in found[0].message
    with pytest.raises(CommandError) as failure:  # manage.py exits non-zero on a CommandError
        call_command("reconcile", stdout=open("/dev/null", "w"))
    assert failure.value.returncode != 0


def test_an_order_marked_paid_without_a_payment_is_a_drift(api):
    order = create_order(api)
    set_order(order["id"], "status = 'PAID', paid_amount = amount")
    assert drifts() == [("order_payment_count", order["id"]), ("order_payment_matches_ledger", order["id"])]


def test_a_status_that_contradicts_the_refunds_is_a_drift(api):
    order = paid_order(api, amount=500)
    refund(api, order["id"], amount=500)
    set_order(order["id"], "status = 'PARTIALLY_REFUNDED'")
    found = list(check_orders())
    assert [(d.check, d.expected, d.actual) for d in found] == [
        ("order_status_matches_refunds", "REFUNDED", "PARTIALLY_REFUNDED")
    ]
