"""Every dashboard page renders the seed_demo data and is reachable from the navigation.

Each page leaves a screenshot: MINTGUARD_SCREENSHOT_DIR=docs/screenshots refreshes the README's set.
"""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from playwright.sync_api import expect

from payments.models import Order

pytestmark = pytest.mark.django_db(transaction=True)

NAVIGATION = ["Overview", "Orders", "Pending payments", "Refunds", "Ledger", "Holds", "Wallets", "Events",
              "Reconciliation", "Audit log", "API keys"]


@pytest.fixture
def demo(settings):
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    return get_user_model().objects.get(username="admin")


def test_the_login_page(page, site, shot):
    page.goto(site("/"))

    expect(page).to_have_url(site("/login/?next=/"))
    expect(page.locator("input[name=username]")).to_be_visible()
    expect(page.locator("input[name=password]")).to_be_visible()
    shot("login")


def test_every_page_renders_the_demo_data_from_the_navigation(page, site, shot, demo):
    site.sign_in(demo)
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(site("/"))
    expect(page.locator("[data-testid=books-balanced]")).to_contain_text("Balanced")
    expect(page.locator(".chart svg")).to_have_count(4)  # EUR, GOLD, JPY, USD
    shot("overview")

    # link: (rows the demo data fills, how many at least, screenshot name)
    checks = {
        "Orders": ("[data-testid=orders-table] tbody tr", 25, "orders"),
        "Pending payments": ("[data-testid=pending-row]", 3, "pending"),
        "Refunds": ("[data-testid=refund-list] tbody tr", 5, "refunds"),
        "Ledger": ("[data-testid=customer-accounts] tbody tr", 8, "ledger"),
        "Holds": ("[data-testid=hold-list] tbody tr", 1, "holds"),  # the demo seeds none: its empty state
        "Wallets": ("[data-testid=recent-wallets] tbody tr", 4, "wallets"),
        "Events": ("[data-testid=event-list] tbody tr", 1, "events"),  # the demo seeds none: its empty state
        "Reconciliation": ("[data-testid=reconciliation-runs] tbody tr", 1, "reconciliation"),
        "Audit log": ("[data-testid=audit-table] tbody tr", 6, "audit"),
        "API keys": ("[data-testid=api-clients] tbody tr", 1, "api-keys"),
    }
    for link in NAVIGATION[1:]:
        page.locator("nav.sidebar").get_by_role("link", name=link, exact=True).click()
        selector, at_least, name = checks[link]
        expect(page.locator("nav.sidebar a[aria-current=page]")).to_have_text(link)
        expect(page.locator(selector).first).to_be_visible()
        assert page.locator(selector).count() >= at_least, link
        if name == "wallets":
            page.locator("[data-testid=recent-wallets] a", has_text="user-ana").first.click()
            expect(page.locator("[data-testid=wallet-balances]")).to_contain_text("80.00 USD")
        shot(name)
    assert errors == []


def test_an_order_its_accounts_and_its_transactions_link_to_each_other(page, site, shot, demo):
    site.sign_in(demo)
    order = Order.objects.filter(status="PARTIALLY_REFUNDED", seller_id__isnull=False).order_by("created_at").last()

    page.goto(site("/orders/?status=PARTIALLY_REFUNDED"))
    page.click(f"a[href='/orders/{order.pk}/']")
    expect(page.locator("[data-testid=ledger-lines] tr[data-kind=refund]").first).to_be_visible()
    expect(page.locator(".timeline li")).to_have_count(4)  # created, attempt, charged, refund
    shot("order-detail")

    page.locator("[data-testid=ledger-lines] a", has_text="seller_payable").first.click()
    expect(page.locator("[data-testid=statement] tbody tr").first).to_be_visible()
    shot("account")

    page.locator("[data-testid=statement] a").first.click()
    expect(page.locator("[data-testid=postings] tbody tr")).to_have_count(2)
    expect(page.locator("h2", has_text="Postings")).to_contain_text("balanced")
    shot("transaction")


def test_reconciliation_runs_from_the_page_and_polls_until_it_finishes(page, site, shot, demo):
    site.sign_in(demo)
    page.goto(site("/reconciliation/"))
    runs = page.locator("[data-testid=reconciliation-runs] tbody tr")
    expect(runs).to_have_count(1)

    page.click("[data-testid=run-reconciliation]")

    expect(page.locator("[data-testid=reconciliation-running]")).to_be_visible()
    expect(page.locator("[data-testid=reconciliation-result]")).to_contain_text("clean: the books balance")
    expect(runs).to_have_count(2)
    shot("reconciliation-run")


def test_a_phone_sees_the_overview_the_orders_and_an_order_without_scrolling_sideways(page, site, shot, demo):
    page.set_viewport_size({"width": 390, "height": 844})
    site.sign_in(demo)
    order = Order.objects.filter(status="PARTIALLY_REFUNDED", seller_id__isnull=False).order_by("created_at").last()

    for path, name in [("/", "overview-phone"), ("/orders/", "orders-phone"), (f"/orders/{order.pk}/", "order-detail-phone")]:
        page.goto(site(path))
        expect(page.locator("main h1")).to_be_in_viewport()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
        shot(name)
