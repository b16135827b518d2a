"""No N+1 on the payments pages: each list costs the same few queries with 50 rows as with 1."""

import uuid

import pytest
from django.utils import timezone

from payments.models import Order, Refund
from payments.services import refund_create

from ..operators.factories import paid_order, pending_order
from ..query_counts import page_queries

pytestmark = pytest.mark.django_db


def many_orders(n: int):
    now = timezone.now()
    Order.objects.bulk_create([
        Order(id=uuid.uuid4(), owner="client-a", user_id=f"buyer-{i}", seller_id=f"seller-{i % 3}", amount=1_000 + i,
              paid_amount=1_000 + i, currency=("USD", "JPY", "GOLD")[i % 3], status="PAID", created_at=now,
              updated_at=now)
        for i in range(n)
    ])


def test_the_orders_list_costs_the_same_with_one_row_and_with_fifty(viewer, django_assert_max_num_queries):
    many_orders(1)
    one = page_queries(viewer, "/orders/")
    many_orders(60)

    with django_assert_max_num_queries(one):
        response = viewer.get("/orders/")

    assert response.content.decode().count('href="/orders/') >= 50
    assert one <= 8  # the session and the operator's rights, the count and page of orders, the currencies
    assert page_queries(viewer, "/orders/?q=buyer-1&status=PAID") == one


def test_the_refunds_list_costs_the_same_with_fifty_refunds(operator, django_assert_max_num_queries):
    order = paid_order(amount=10_000)
    refund_create(order_id=order.pk, amount=1, created_by=f"operator:{operator.user.pk}")
    one = page_queries(operator, "/refunds/")
    for n in range(55):
        target = paid_order(amount=10_000) if n % 10 == 0 else order
        refund_create(order_id=target.pk, amount=10, created_by="client-a" if n % 2 else
                      f"operator:{operator.user.pk}")

    with django_assert_max_num_queries(one):
        response = operator.get("/refunds/")

    assert Refund.objects.count() == 56
    assert response.content.decode().count("/orders/") >= 50


def test_the_pending_queue_costs_the_same_with_fifty_rows(operator, django_assert_max_num_queries):
    pending_order()
    one = page_queries(operator, "/pending/")
    for _ in range(52):
        pending_order()

    with django_assert_max_num_queries(one):
        assert operator.get("/pending/").content.decode().count('data-testid="pending-row"') == 50


def test_the_order_page_costs_a_fixed_number_of_queries_whatever_its_history(operator, django_assert_max_num_queries):
    order = paid_order(amount=10_000, seller_id="seller-1")
    refund_create(order_id=order.pk, amount=100, created_by=f"operator:{operator.user.pk}")
    few = page_queries(operator, f"/orders/{order.pk}/")
    for _ in range(20):
        refund_create(order_id=order.pk, amount=100, created_by=f"operator:{operator.user.pk}")

    with django_assert_max_num_queries(few):
        response = operator.get(f"/orders/{order.pk}/")

    assert response.content.decode().count('data-kind="refund"') == 2 * 21
