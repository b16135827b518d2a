"""The orders list finds an order by anything an operator has at hand, filters, sorts and pages with a count."""

import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from payments.models import PAID_ORDER_STATUSES, Order, Payment

from ..list_paging import assert_pages_both_ways, result_count
from ..operators.factories import paid_order
from ..query_counts import page_queries

pytestmark = pytest.mark.django_db

ROW = '<a class="mono" href="/orders/'


def bulk_orders(n: int, *, start: datetime | None = None, **fields) -> list[Order]:
    """Create `n` PAID USD orders one minute apart, oldest first, without the services (for speed)."""
    start = start or timezone.now() - timedelta(days=1)
    defaults = {"owner": "client-a", "amount": 1_000, "currency": "USD", "status": "PAID"}
    orders = [Order(id=uuid.uuid4(), created_at=start + timedelta(minutes=i), updated_at=start,
                    **({"user_id": f"crowd-{i}"} | defaults | fields)) for i in range(n)]
    for order in orders:  # a paid order was paid its amount (a CHECK says so)
        order.paid_amount = order.amount if order.status in PAID_ORDER_STATUSES else 0
    return Order.objects.bulk_create(orders)


def listed(client, **params) -> str:
    return client.get(f"/orders/?{urlencode(params)}").content.decode()


@pytest.fixture
def walnut():
    """The order an operator is looking for, among others that must not match."""
    bulk_orders(20)
    paid_order(amount=1_000, currency="EUR", user_id="buyer-bob", description="Oak shelf")
    return paid_order(amount=48_900, user_id="buyer-ann", seller_id="seller-nut", description="Walnut desk")


@pytest.mark.parametrize("typed", ["489.00", "489", "$489", "489.00 USD", "walnut", "WALNUT", "buyer-ann", "seller-nut"])
def test_the_search_box_finds_the_order_by_amount_description_buyer_or_seller(viewer, walnut, typed):
    page = listed(viewer, q=typed)

    assert result_count(page) == "1-1 of 1"
    assert f"/orders/{walnut.pk}/" in page


def test_the_search_box_finds_the_order_by_its_provider_reference_and_its_id_prefix(viewer, walnut):
    reference = Payment.objects.get(order=walnut).provider_reference
    assert reference.startswith("sim_ch_")

    for typed in (reference, str(walnut.pk)[:8], str(walnut.pk)):
        page = listed(viewer, q=typed)
        assert result_count(page) == "1-1 of 1", typed
        assert f"/orders/{walnut.pk}/" in page


def test_an_amount_is_read_in_each_row_s_own_currency(viewer):
    dollars = paid_order(amount=100_000, currency="USD", user_id="buyer-usd")
    yen = paid_order(amount=1_000, currency="JPY", user_id="buyer-jpy")
    paid_order(amount=1_000, currency="USD", user_id="buyer-ten-dollars")

    assert f"/orders/{dollars.pk}/" in listed(viewer, q="1,000.00")
    by_yen = listed(viewer, q="1,000")
    assert result_count(by_yen) == "1-2 of 2"  # 1,000 JPY and 1,000.00 USD; not 10.00 USD
    assert f"/orders/{yen.pk}/" in by_yen and f"/orders/{dollars.pk}/" in by_yen
    assert result_count(listed(viewer, q="¥1,000")) == "1-1 of 1"


def test_filters_narrow_by_currency_status_trust_and_utc_dates(viewer):
    day = datetime(2026, 3, 10, tzinfo=UTC)
    bulk_orders(3, start=day - timedelta(minutes=1))  # 23:59 the day before, then 00:00, 00:01
    bulk_orders(2, start=day, currency="EUR", status="FAILED", buyer_trust="trusted")

    assert result_count(listed(viewer, currency="EUR")) == "1-2 of 2"
    assert result_count(listed(viewer, status="FAILED", trust="trusted")) == "1-2 of 2"
    assert result_count(listed(viewer, status="PAID", trust="trusted")) == "0 of 0"
    assert result_count(listed(viewer, **{"from": "2026-03-10", "to": "2026-03-10"})) == "1-4 of 4"
    assert result_count(listed(viewer, to="2026-03-09")) == "1-1 of 1"
    assert result_count(listed(viewer, status="NOT-A-STATUS", **{"from": "not-a-date"})) == "1-5 of 5"


@pytest.mark.parametrize(("sort", "expected"), [
    ("-created", ["c", "b", "a"]), ("created", ["a", "b", "c"]), ("-amount", ["b", "a", "c"]), ("amount", ["c", "a", "b"]),
])
def test_the_list_sorts_by_created_or_amount_both_ways(viewer, sort, expected):
    start = timezone.now() - timedelta(hours=1)
    for minutes, (name, amount) in enumerate([("a", 500), ("b", 900), ("c", 100)]):
        bulk_orders(1, start=start + timedelta(minutes=minutes), user_id=f"sorted-{name}", amount=amount)

    page = listed(viewer, sort=sort)

    assert [page.index(f"sorted-{name}") for name in expected] == sorted(page.index(f"sorted-{n}") for n in "abc")


@pytest.mark.parametrize("total", [0, 1, 50, 51, 326])
def test_counts_and_paging_both_ways_are_right(viewer, total):
    bulk_orders(total)

    assert_pages_both_ways(viewer, "/orders/?status=PAID&sort=amount", total=total, row_marker=ROW)


def test_a_page_past_the_end_shows_the_last_page_and_a_bad_one_the_first(viewer):
    bulk_orders(51)

    assert result_count(listed(viewer, page=99)) == "51-51 of 51"
    assert result_count(listed(viewer, page="x")) == "1-50 of 51"
    assert result_count(listed(viewer, page=-1)) == "51-51 of 51"


def test_an_empty_result_says_why_in_words_and_offers_to_clear_the_filters(viewer, walnut):
    response = viewer.get("/orders/?q=walnut&currency=EUR")

    assert response.status_code == 200
    page = response.content.decode()
    assert "No orders match “walnut” in EUR." in page
    assert '<a href="/orders/" data-testid="clear-filters">Clear filters</a>' in page


def test_the_url_carries_the_whole_state_into_the_form_and_the_pager(viewer):
    bulk_orders(60, user_id="same", amount=2_000)
    page = listed(viewer, q="same", currency="USD", trust="standard", sort="-amount", to="2099-01-01")

    assert 'name="q" value="same"' in page
    assert '<option value="-amount" selected>' in page and 'value="2099-01-01"' in page
    assert "?q=same&amp;currency=USD&amp;trust=standard&amp;sort=-amount&amp;to=2099-01-01&amp;page=2" in page


def test_a_search_costs_the_same_queries_with_fifty_rows_as_with_one(viewer, django_assert_max_num_queries):
    bulk_orders(1, amount=48_900)
    one = page_queries(viewer, "/orders/?q=489.00&status=PAID")
    bulk_orders(80, amount=48_900)

    with django_assert_max_num_queries(one):
        assert listed(viewer, q="489.00", status="PAID").count(ROW) == 50


@pytest.mark.parametrize("dates", [{"to": "9999-12-31"}, {"from": "0001-01-01"}, {"from": "2026-13-01"}])
def test_dates_at_the_ends_of_the_calendar_or_past_them_show_the_list(viewer, dates):
    bulk_orders(2)

    assert result_count(listed(viewer, **dates)) == "1-2 of 2"
