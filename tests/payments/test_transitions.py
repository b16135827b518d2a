"""The order lifecycle table: every allowed change passes, every other one raises."""

import itertools

import pytest

from payments.exceptions import InvalidOrderTransition
from payments.models import Order, OrderStatus
from payments.transitions import (
    ALLOWED_TRANSITIONS,
    PAYABLE_STATUSES,
    REFUNDABLE_STATUSES,
    order_transition,
    status_after_refunds,
)

S = OrderStatus
EXPECTED_ALLOWED = {
    (S.CREATED, S.PAID), (S.CREATED, S.FAILED), (S.CREATED, S.PENDING_PAYMENT), (S.CREATED, S.AUTHORIZED),
    (S.PENDING_PAYMENT, S.PAID), (S.PENDING_PAYMENT, S.FAILED), (S.PENDING_PAYMENT, S.AUTHORIZED),
    (S.FAILED, S.PAID), (S.FAILED, S.FAILED), (S.FAILED, S.PENDING_PAYMENT), (S.FAILED, S.AUTHORIZED),
    (S.AUTHORIZED, S.PAID), (S.AUTHORIZED, S.CANCELED),
    (S.PAID, S.PARTIALLY_REFUNDED), (S.PAID, S.REFUNDED),
    (S.PARTIALLY_REFUNDED, S.PARTIALLY_REFUNDED), (S.PARTIALLY_REFUNDED, S.REFUNDED),
}


def test_the_table_covers_every_status():
    assert set(ALLOWED_TRANSITIONS) == set(OrderStatus.values)


@pytest.mark.parametrize("from_status, to_status", list(itertools.product(OrderStatus.values, repeat=2)))
def test_order_transition_allows_exactly_the_lifecycle(from_status, to_status):
    order = Order(status=from_status, amount=1, currency="USD")
    if (from_status, to_status) in EXPECTED_ALLOWED:
        assert order_transition(order, to_status).status == to_status
    else:
        with pytest.raises(InvalidOrderTransition) as error:
            order_transition(order, to_status)
        assert error.value.code == "invalid_order_transition"
        assert order.status == from_status


def test_payable_and_refundable_statuses():
    assert PAYABLE_STATUSES == {S.CREATED, S.FAILED}
    assert REFUNDABLE_STATUSES == {S.PAID, S.PARTIALLY_REFUNDED}


def test_authorized_and_canceled_orders_are_neither_payable_nor_refundable():
    assert not {S.AUTHORIZED, S.CANCELED} & (PAYABLE_STATUSES | REFUNDABLE_STATUSES)
    assert ALLOWED_TRANSITIONS[S.CANCELED] == frozenset()


@pytest.mark.parametrize(("refunded", "status"), [(0, S.PAID), (1, S.PARTIALLY_REFUNDED), (799, S.PARTIALLY_REFUNDED),
                                                  (800, S.REFUNDED)])
def test_refunds_are_measured_against_what_was_paid_not_the_order_amount(refunded, status):
    # an order of 1,200 of which 800 was captured: refunding the 800 refunds it all
    assert status_after_refunds(paid=800, refunded=refunded) == status
