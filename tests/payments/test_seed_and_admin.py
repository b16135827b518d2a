"""Demo orders seed repeatably; the admin shows payments rows and changes none."""

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from ledger.models import Posting, Transaction
from payments.models import Order, Payment, PaymentStatus, Refund, SimulatedCharge
from payments.seed import seed_demo_orders
from payments.services import order_create, payment_attempt_begin

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


def test_the_database_refuses_a_second_payment_in_flight_and_overrefunds():
    order = order_create(owner="o", user_id="u", amount=100)
    payment_attempt_begin(order_id=order.id, idempotency_key="k1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.create(order=order, amount=100, idempotency_key="k2", status=PaymentStatus.PROCESSING)
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=order.pk).update(refunded_amount=101)
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.filter(pk=order.pk).update(status="SHIPPED")
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.filter(order=order).update(status=PaymentStatus.SUCCEEDED)  # succeeded but not booked


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
    assert "48.00 USD" in page.text or "Demo: arrived damaged" in page.text
    assert delete.status_code == 403
    assert Order.objects.filter(pk=order.pk).exists()
