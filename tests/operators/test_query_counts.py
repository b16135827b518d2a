"""No N+1: each list page costs the same few queries with 50 rows as with 1."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ledger.models import Account
from ledger.services import account_create, deposit
from operators.models import AuditEntry
from payments.models import Order, Refund
from payments.services import refund_create

from .factories import paid_order, pending_order

pytestmark = pytest.mark.django_db


def queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


def many_orders(n: int):
    now = timezone.now()
    Order.objects.bulk_create([
        Order(id=uuid.uuid4(), owner="client-a", user_id=f"buyer-{i}", seller_id=f"seller-{i % 3}", amount=1_000 + i,
              currency=("USD", "JPY", "GOLD")[i % 3], status="PAID", created_at=now, updated_at=now)
        for i in range(n)
    ])


def test_the_orders_list_costs_the_same_with_one_row_and_with_fifty(viewer, django_assert_max_num_queries):
    many_orders(1)
    one = queries(viewer, "/orders/")
    many_orders(60)

    with django_assert_max_num_queries(one):
        response = viewer.get("/orders/")

    assert response.content.decode().count('href="/orders/') >= 50
    assert one <= 6  # session, user, permissions (x2), the page of orders
    assert queries(viewer, "/orders/?q=buyer-1&status=PAID") == one


def test_the_ledger_page_costs_the_same_with_fifty_accounts(viewer, django_assert_max_num_queries):
    for n in range(2):
        deposit(account_id=account_create(owner="client-a", name=f"A{n}", currency="USD").id, amount=100,
                reference=f"dep-{n}", owner="client-a")
    few = queries(viewer, "/ledger/")
    for n in range(2, 55):
        account_create(owner="client-a" if n % 2 else "client-b", name=f"A{n}", currency=("USD", "EUR")[n % 2])

    with django_assert_max_num_queries(few):
        response = viewer.get("/ledger/")

    assert response.content.decode().count("/ledger/accounts/") >= 50 + 6
    assert few <= 10


def test_an_account_statement_costs_the_same_with_fifty_entries(viewer, django_assert_max_num_queries):
    account = account_create(owner="client-a", name="Busy", currency="USD")
    deposit(account_id=account.id, amount=1, reference="dep-0", owner="client-a")
    one = queries(viewer, f"/ledger/accounts/{account.pk}/")
    for n in range(1, 60):
        deposit(account_id=account.id, amount=n, reference=f"dep-{n}", owner="client-a")

    with django_assert_max_num_queries(one):
        response = viewer.get(f"/ledger/accounts/{account.pk}/")

    assert response.content.decode().count("/ledger/transactions/") == 50
    assert "Older →" in response.content.decode()


def test_a_transaction_page_costs_a_fixed_number_of_queries(viewer, django_assert_max_num_queries):
    order = paid_order(seller_id="seller-1")
    with django_assert_max_num_queries(8):  # session, user, 2 x permissions, groups, txn, postings, owner
        assert viewer.get(f"/ledger/transactions/{order.payments.get().ledger_transaction_id}/").status_code == 200


def test_the_refunds_list_costs_the_same_with_fifty_refunds(operator, django_assert_max_num_queries):
    order = paid_order(amount=10_000)
    refund_create(order=order, amount=1, created_by=f"operator:{operator.user.pk}")
    one = queries(operator, "/refunds/")
    for n in range(55):
        target = paid_order(amount=10_000) if n % 10 == 0 else order
        refund_create(order=Order.objects.get(pk=target.pk), amount=10, created_by="client-a" if n % 2 else
                      f"operator:{operator.user.pk}")

    with django_assert_max_num_queries(one):
        response = operator.get("/refunds/")

    assert Refund.objects.count() == 56
    assert response.content.decode().count("/orders/") >= 50


def test_the_pending_queue_and_the_audit_log_cost_the_same_with_fifty_rows(operator, django_assert_max_num_queries):
    pending_order()
    one_pending, one_audit = queries(operator, "/pending/"), queries(operator, "/audit/")
    for _ in range(52):
        pending_order()
    AuditEntry.objects.bulk_create([
        AuditEntry(actor=operator.user, actor_name="op", action="refund.created", target_type="order",
                   target_id=str(uuid.uuid4())) for _ in range(55)
    ])

    with django_assert_max_num_queries(one_pending):
        assert operator.get("/pending/").content.decode().count('data-testid="pending-row"') == 50
    with django_assert_max_num_queries(one_audit + 1):  # + the actors filter list, empty before
        assert operator.get("/audit/").status_code == 200


def test_the_order_page_costs_a_fixed_number_of_queries_whatever_its_history(operator, django_assert_max_num_queries):
    order = paid_order(amount=10_000, seller_id="seller-1")
    refund_create(order=order, amount=100, created_by=f"operator:{operator.user.pk}")
    few = queries(operator, f"/orders/{order.pk}/")
    for _ in range(20):
        refund_create(order=Order.objects.get(pk=order.pk), amount=100, created_by=f"operator:{operator.user.pk}")

    with django_assert_max_num_queries(few):
        response = operator.get(f"/orders/{order.pk}/")

    assert response.content.decode().count('data-kind="refund"') == 2 * 21


def test_the_overview_costs_a_fixed_number_of_queries(viewer, django_assert_max_num_queries):
    paid_order(), pending_order()
    few = queries(viewer, "/")
    for _ in range(10):
        paid_order(currency="JPY")
        pending_order(currency="EUR")

    with django_assert_max_num_queries(few):
        assert viewer.get("/").status_code == 200
    assert Account.objects.filter(is_system=True).exists()
