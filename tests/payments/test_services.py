"""The services the dashboard calls directly, without the HTTP platform's idempotency keys."""

import pytest

from payments.exceptions import OrderNotPayable, RefundKeyConflict
from payments.models import Order, Refund
from payments.services import order_create, order_pay, refund_create

from ..ledger.invariants import assert_ledger_consistent
from .helpers import refund_transactions

pytestmark = pytest.mark.django_db


@pytest.fixture
def paid():
    order = order_create(owner="client-a", user_id="u", amount=1000)
    order_pay(order_id=order.id, idempotency_key="pay-1")
    return Order.objects.get(pk=order.id)


def test_refund_create_with_the_same_key_returns_the_first_refund(paid):
    first, created = refund_create(order_id=paid.id, amount=300, created_by="operator:1", idempotency_key="form-1")
    again, created_again = refund_create(order_id=paid.id, amount=300, created_by="operator:1",
                                         idempotency_key="form-1")
    default_amount, _ = refund_create(order_id=paid.id, created_by="operator:1", idempotency_key="form-1")

    assert again.pk == first.pk == default_amount.pk
    assert (created, created_again) == (True, False)
    assert (again.order.status, again.order.refunded_amount) == ("PARTIALLY_REFUNDED", 300)
    assert Order.objects.get(pk=paid.pk).refunded_amount == 300
    assert len(refund_transactions(paid.id)) == 1


def test_refund_create_with_the_same_key_and_another_amount_is_a_conflict(paid):
    refund_create(order_id=paid.id, amount=300, created_by="operator:1", idempotency_key="form-1")
    with pytest.raises(RefundKeyConflict):
        refund_create(order_id=paid.id, amount=200, created_by="operator:1", idempotency_key="form-1")
    assert Refund.objects.count() == 1


def test_refund_keys_belong_to_their_caller(paid):
    refund_create(order_id=paid.id, amount=300, created_by="operator:1", idempotency_key="k")
    refund_create(order_id=paid.id, amount=300, created_by="client-a", idempotency_key="k")

    assert Refund.objects.count() == 2
    assert Order.objects.get(pk=paid.pk).refunded_amount == 600
    assert_ledger_consistent()


def test_refund_create_without_a_key_refunds_every_time_until_nothing_remains(paid):
    refund_create(order_id=paid.id, amount=400, created_by="operator:1")
    refund_create(order_id=paid.id, created_by="operator:1")

    order = Order.objects.get(pk=paid.pk)
    assert (order.status, order.refunded_amount) == ("REFUNDED", 1000)


def test_order_pay_refuses_a_paid_order_with_a_new_key(paid):
    with pytest.raises(OrderNotPayable):
        order_pay(order_id=paid.id, idempotency_key="pay-2")
