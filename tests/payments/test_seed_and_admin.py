"""Demo orders seed repeatably; the admin shows payments rows and changes none."""

import pytest
from django.db import transaction
from django.urls import reverse

from ledger.models import Posting, Transaction
from payments.models import Order, Payment, PaymentStatus, Refund, SimulatedCharge
from payments.seed import seed_demo_orders

from ..admin_pages import inline_rows, readonly_fields
from ..ledger.invariants import assert_ledger_consistent

pytestmark = pytest.mark.django_db


def snapshot():
    return (
        sorted(Order.objects.values_list("id", "status", "refunded_amount")),
        Payment.objects.count(), Refund.objects.count(), Transaction.objects.count(), Posting.objects.count(),
        SimulatedCharge.objects.count(),
    )


def test_seed_demo_orders_makes_paid_refunded_failed_and_unpaid_orders_and_twice_changes_nothing():
    with transaction.atomic():  # as seed_demo runs it
        ids = seed_demo_orders(owner="demo-owner")
    first = snapshot()

    again = seed_demo_orders(owner="demo-owner")

    assert again == ids
    assert snapshot() == first
    statuses = sorted(Order.objects.filter(owner="demo-owner").values_list("status", flat=True))
    assert statuses == ["CREATED", "FAILED", "PAID", "PAID", "PARTIALLY_REFUNDED"]
    assert Order.objects.get(status="PARTIALLY_REFUNDED").refunded_amount == 1200
    assert Payment.objects.filter(status=PaymentStatus.SUCCEEDED).count() == 3
    assert_ledger_consistent()


def test_seeds_of_two_owners_do_not_collide():
    assert set(seed_demo_orders(owner="a")).isdisjoint(seed_demo_orders(owner="b"))


@pytest.mark.parametrize("model", ["order", "payment", "refund", "simulatedcharge", "simulatedrefund"])
def test_admin_lists_payments_rows_and_cannot_add_them(admin_client, model):
    seed_demo_orders(owner="demo-owner")
    assert admin_client.get(reverse(f"admin:payments_{model}_changelist")).status_code == 200
    assert admin_client.get(reverse(f"admin:payments_{model}_add")).status_code == 403


def test_admin_order_page_is_read_only_and_shows_payments_and_refunds(admin_client):
    seed_demo_orders(owner="demo-owner")
    order = Order.objects.get(status="PARTIALLY_REFUNDED")

    page = admin_client.get(reverse("admin:payments_order_change", args=[order.pk]))
    delete = admin_client.post(reverse("admin:payments_order_delete", args=[order.pk]), {"post": "yes"})

    assert page.status_code == 200
    assert 'name="_save"' not in page.text
    shown = readonly_fields(page.text)
    assert (shown["amount"], shown["refunded_amount"], shown["status"]) == ("4800", "1200", "Partially refunded")
    assert [(p["status"], p["amount"]) for p in inline_rows(page.text, "payments")] == [("Succeeded", "4800")]
    assert [(r["amount"], r["reason"]) for r in inline_rows(page.text, "refunds")] == [
        ("1200", "Demo: arrived damaged")
    ]
    assert delete.status_code == 403
    assert Order.objects.filter(pk=order.pk).exists()
