"""axe-core (WCAG 2.1 A and AA, and best practice) finds nothing on any dashboard page, for any role.

axe-core comes from npm (the `axe_script` fixture). Playwright injects it as an inline script, which
the app's CSP rightly refuses, so these pages open in a context that bypasses CSP: the test's
script only, the policy itself is tested in test_csp.py.
"""

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from playwright.sync_api import expect

from ledger.models import Account, Transaction
from ledger.services import hold_capture, hold_create
from mintguard_site.api.models import ApiClient
from payments.models import Order

from ..events.factories import webhook_history

pytestmark = pytest.mark.django_db(transaction=True)

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
AXE_RUN = """async (tags) => {
    const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
    return result.violations.map(v => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map(n => n.target.join(" ")).join(", ")}`);
}"""


@pytest.fixture(scope="module")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "bypass_csp": True}


@pytest.fixture
def audit(page, axe_script):
    """`audit(where)` runs axe-core on the page as it is now; `audit.violations` maps page to findings."""

    def run(where: str) -> None:
        page.add_script_tag(path=str(axe_script))
        found = page.evaluate(AXE_RUN, AXE_TAGS)
        if found:
            run.violations[where] = found

    run.violations = {}
    return run


def report(violations: dict) -> str:
    return "\n".join(f"{where}:\n  " + "\n  ".join(found) for where, found in violations.items())


def test_the_login_page_has_no_accessibility_violations(page, site, audit):
    page.goto(site("/login/"))
    audit("/login/")
    assert not audit.violations, report(audit.violations)


@pytest.mark.parametrize("username", ["viewer", "operator", "admin"])
def test_every_page_has_no_accessibility_violations_for_each_role(page, site, audit, username):
    # given: the demo data, and its user of that role (admin is also the superuser)
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    site.sign_in(get_user_model().objects.get(username=username))
    paid = Order.objects.filter(status="PAID").order_by("created_at").first()
    refunded = Order.objects.filter(status="PARTIALLY_REFUNDED").order_by("created_at").first()
    account = Account.objects.filter(owner__gt="").order_by("created_at").first()
    held, captured = holds_on_a_funded_account()
    webhooks = webhook_history(ApiClient.objects.get(name="demo").owner)
    event, hook = webhooks["event"], webhooks["endpoint"]
    paths = [
        "/", "/orders/", "/orders/?q=no-such-order", f"/orders/{paid.pk}/", f"/orders/{refunded.pk}/",
        "/pending/", "/refunds/", "/refunds/?q=no-such-refund", "/ledger/", f"/ledger/accounts/{account.pk}/",
        f"/ledger/transactions/{Transaction.objects.order_by('created_at').last().pk}/",
        "/wallets/", "/wallets/?user_id=user-ana", "/wallets/?user_id=no-such-user", "/reconciliation/",
        "/audit/", "/api-keys/", f"/orders/{uuid.uuid4()}/",
        "/holds/", "/holds/?status=EXPIRED&account=no-such-account", f"/holds/{held.pk}/", f"/holds/{captured.pk}/",
        "/events/", "/events/?type=hold.created&q=no-such-event", f"/events/{event.pk}/",
        f"/events/{event.pk}/deliveries/{hook.pk}/", f"/events/{event.pk}/deliveries/{webhooks['deleted'].pk}/",
        "/events/endpoints/", "/events/endpoints/?state=deleted&q=nowhere", f"/events/endpoints/{hook.pk}/",
        f"/events/endpoints/{webhooks['deleted'].pk}/",
    ]

    # when
    for path in paths:
        page.goto(site(path))
        audit(path)
    if username != "viewer":  # the refund form's review step, swapped in by htmx
        page.goto(site(f"/orders/{paid.pk}/"))
        page.fill("input[name=amount]", "1.00")
        page.click("[data-testid=review-refund]")
        expect(page.locator("[data-testid=confirm-refund]")).to_be_visible()
        audit(f"/orders/{paid.pk}/ (refund review)")
        page.goto(site(f"/holds/{held.pk}/"))  # the void's review step, swapped in by htmx
        page.fill("input[name=note]", "guest checked out")
        page.click("[data-testid=review-void]")
        expect(page.locator("[data-testid=confirm-void]")).to_be_visible()
        audit(f"/holds/{held.pk}/ (void review)")
        page.goto(site(f"/events/{event.pk}/deliveries/{hook.pk}/"))  # the resend's review step
        page.fill("input[name=note]", "the client lost it")
        page.click("[data-testid=review-resend]")
        expect(page.locator("[data-testid=confirm-resend]")).to_be_visible()
        audit(f"/events/{event.pk}/deliveries/{hook.pk}/ (resend review)")
        page.goto(site(f"/events/endpoints/{hook.pk}/"))  # disabling the endpoint: its review step
        page.fill("input[name=note]", "the receiver is down")
        page.click("[data-testid=review-state]")
        expect(page.locator("[data-testid=confirm-state]")).to_be_visible()
        audit(f"/events/endpoints/{hook.pk}/ (disable review)")

    # then
    assert not audit.violations, report(audit.violations)


def holds_on_a_funded_account():
    """Two holds on the demo's richest plain customer account (it seeds none): one held, one captured."""
    source, destination = (Account.objects.with_balance().filter(is_system=False, managed_by="", currency="USD")
                           .order_by("-balance", "created_at")[:2])
    held, captured = (hold_create(source_id=source.pk, destination_id=destination.pk, amount=100, owner=source.owner,
                                  description="room 12") for _ in range(2))
    hold_capture(hold_id=captured.pk, amount=50)
    return held, captured


def test_empty_pages_have_no_accessibility_violations(page, site, audit):
    site.sign_in(get_user_model().objects.create_superuser("root", "root@example.com", "pw-123-unused"))
    for path in ["/", "/orders/", "/pending/", "/refunds/", "/ledger/", "/holds/", "/wallets/", "/reconciliation/",
                 "/audit/", "/api-keys/", "/events/", "/events/endpoints/"]:
        page.goto(site(path))
        audit(path)
    assert not audit.violations, report(audit.violations)


def test_the_first_tab_reaches_the_skip_link_which_moves_focus_to_the_content(page, site):
    site.sign_in(get_user_model().objects.create_superuser("root", "root@example.com", "pw-123-unused"))
    page.goto(site("/orders/"))

    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("Skip to content")
    page.keyboard.press("Enter")

    expect(page.locator("main")).to_be_focused()
