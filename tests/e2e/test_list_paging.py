"""A list in a real browser: search, sort and page both ways through htmx, the URL keeping the state."""

import pytest
from playwright.sync_api import expect

from ..operators.factories import paid_order
from ..payments.test_order_search import bulk_orders
from ..role_helpers import user_with_role
from .page_helpers import mark_page, still_same_page

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_operator_pages_the_orders_both_ways_and_finds_one_by_amount(page, site, shot):
    bulk_orders(51)
    walnut = paid_order(amount=48_900, user_id="buyer-ann", description="Walnut desk")
    site.sign_in(user_with_role("viewer"))
    page.goto(site("/orders/"))
    count = page.locator("[data-testid=result-count]")
    rows = page.locator("[data-testid=orders-table] tbody tr")
    expect(count).to_have_text("1-50 of 52")
    mark_page(page)

    page.get_by_role("link", name="Next →").click()
    expect(count).to_have_text("51-52 of 52")
    expect(page).to_have_url(site("/orders/?page=2"))
    page.get_by_role("link", name="← Previous").click()
    expect(count).to_have_text("1-50 of 52")
    page.get_by_role("link", name="Last ⇥").click()
    expect(rows).to_have_count(2)

    page.select_option("select[name=sort]", "-amount")
    expect(count).to_have_text("1-50 of 52")
    expect(rows.first).to_contain_text("489.00")
    page.fill("input[name=q]", "489.00")
    expect(count).to_have_text("1-1 of 1")
    expect(rows.first).to_contain_text(str(walnut.pk)[:8])
    expect(page).to_have_url(site("/orders/?q=489.00&sort=-amount"))
    assert still_same_page(page)
    shot("orders-searched-by-amount")

    page.goto(site("/orders/?q=walnut&currency=EUR"))
    expect(page.locator(".empty-state")).to_have_text("No orders match “walnut” in EUR. Clear filters")
    page.get_by_role("link", name="Clear filters").click()
    expect(page).to_have_url(site("/orders/"))
    expect(count).to_have_text("1-50 of 52")
