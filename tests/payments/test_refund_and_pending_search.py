"""The refunds list and the pending queue search, filter, sort and page like the orders list."""

from urllib.parse import urlencode

import pytest

from payments.models import Order, Payment
from payments.services import refund_create

from ..list_paging import assert_pages_both_ways, result_count
from ..operators.factories import paid_order, pending_order
from ..query_counts import page_queries

pytestmark = pytest.mark.django_db


def listed(client, path: str, **params) -> str:
    return client.get(f"{path}?{urlencode(params)}").content.decode()


def refunds_of_one_order(n: int) -> None:
    """Make `n` refunds of 0.01 USD through the service (each posts its own ledger transaction)."""
    order = paid_order(amount=100_000)
    for i in range(n):
        refund_create(order_id=order.pk, amount=1, created_by="client-a", reason=f"crowd {i}")


def test_the_refunds_search_finds_a_refund_by_amount_reason_order_buyer_and_seller(operator):
    order = paid_order(amount=100_000, user_id="buyer-ann", seller_id="seller-nut", description="Walnut desk")
    refund, _ = refund_create(order_id=order.pk, amount=48_900, created_by="client-a", reason="scratched top")
    other = paid_order(amount=5_000, user_id="buyer-bob")
    refund_create(order_id=other.pk, amount=100, created_by="client-a", reason="late")
    reference = Payment.objects.get(order=order).provider_reference

    for typed in ("489.00", "scratched", "walnut", "buyer-ann", "seller-nut", str(order.pk)[:8], str(refund.pk)[:8],
                  reference):
        page = listed(operator, "/refunds/", q=typed)
        assert result_count(page) == "1-1 of 1", typed
        assert str(refund.pk)[:8] in page


@pytest.mark.parametrize("total", [0, 1, 50, 51, 326])
def test_the_refunds_list_counts_and_pages_both_ways(operator, total):
    refunds_of_one_order(total)

    assert_pages_both_ways(operator, "/refunds/?sort=created", total=total, row_marker='class="mono">')


def test_an_empty_refunds_list_says_why_and_offers_to_clear_the_filters(operator):
    page = listed(operator, "/refunds/", q="walnut", source="api", currency="EUR")

    assert "No refunds match “walnut” made by API clients in EUR." in page
    assert "Clear filters" in page
    assert "No refunds yet." in listed(operator, "/refunds/") and "Clear filters" not in listed(operator, "/refunds/")


def test_the_pending_queue_searches_filters_and_sorts(operator):
    small = pending_order(amount=1_000, user_id="buyer-small")
    large = pending_order(amount=9_000, user_id="buyer-large", currency="EUR")

    assert result_count(listed(operator, "/pending/", q="90.00")) == "1-1 of 1"
    assert result_count(listed(operator, "/pending/", q="buyer-small")) == "1-1 of 1"
    assert result_count(listed(operator, "/pending/", currency="EUR")) == "1-1 of 1"
    assert result_count(listed(operator, "/pending/", trust="new")) == "0 of 0"
    by_amount = listed(operator, "/pending/", sort="-amount")
    assert by_amount.index(str(large.pk)) < by_amount.index(str(small.pk))
    oldest_first = listed(operator, "/pending/")
    assert oldest_first.index(str(small.pk)) < oldest_first.index(str(large.pk))
    newest_first = listed(operator, "/pending/", sort="-waiting")
    assert newest_first.index(str(large.pk)) < newest_first.index(str(small.pk))
    assert "No pending payment matches “nothing-like-it”." in listed(operator, "/pending/", q="nothing-like-it")


@pytest.mark.parametrize("total", [0, 1, 51])
def test_the_pending_queue_counts_and_pages_both_ways(operator, total):
    if total:
        model = pending_order()
        Order.objects.bulk_create([
            Order(owner="client-a", user_id=f"waiting-{i}", amount=100 + i, currency="USD", status=model.status,
                  buyer_trust="trusted")
            for i in range(total - 1)
        ])

    assert_pages_both_ways(operator, "/pending/", total=total, row_marker='data-testid="pending-row"')


def test_searching_the_pending_queue_costs_the_same_with_fifty_rows(operator, django_assert_max_num_queries):
    pending_order(amount=3_000)
    one = page_queries(operator, "/pending/?q=30.00")
    for _ in range(52):
        pending_order(amount=3_000)

    with django_assert_max_num_queries(one):
        assert listed(operator, "/pending/", q="30.00").count('data-testid="pending-row"') == 50
