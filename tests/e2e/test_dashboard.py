"""The operators' dashboard in a real browser: refunds, double clicks, roles, the pending queue, filters."""

import pytest
from playwright.sync_api import expect

from audit.models import AuditEntry
from payments.models import Order, Refund

from ..operators.factories import paid_order, pending_order
from ..role_helpers import PASSWORD, user_with_role
from .page_helpers import csrf_token, mark_page, still_same_page

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_operator_signs_in_finds_an_order_refunds_part_and_sees_the_ledger_lines_without_a_reload(
    page, site, shot
):
    # given
    user_with_role("operator", username="olga")
    order = paid_order(amount=4_800, user_id="buyer-zoe", seller_id="seller-lumen")
    paid_order(amount=900, user_id="buyer-yann")

    # when: sign in through the form, search, open the order
    page.goto(site("/orders/"))
    expect(page).to_have_url(site("/login/?next=/orders/"))
    page.fill("input[name=username]", "olga")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(site("/orders/"))
    # The URL changes before the page has loaded: typing then could beat htmx to the form.
    page.wait_for_load_state("load")
    page.fill("input[name=q]", "zoe")
    expect(page.locator("[data-testid=orders-table] tbody tr")).to_have_count(1)
    page.click(f"a[href='/orders/{order.pk}/']")
    expect(page.locator("[data-testid=ledger-lines] tbody tr")).to_have_count(2)  # DR cash, CR seller_payable
    mark_page(page)

    # ...and refund 12.00 of it, reviewing first
    page.fill("input[name=amount]", "12.00")
    page.fill("input[name=reason]", "Lamp arrived scratched")
    page.click("[data-testid=review-refund]")
    expect(page.locator(".confirm-box")).to_contain_text("Refund 12.00 USD")
    page.click("[data-testid=confirm-refund]")

    # then: the new ledger lines are there, in the same document
    expect(page.locator(".message-success")).to_have_text("Refunded 12.00 USD.")
    expect(page.locator("[data-testid=ledger-lines] tr[data-kind=refund]")).to_have_count(2)
    expect(page.locator("[data-testid=refunded-amount]")).to_have_text("12.00 USD")
    expect(page.locator("[data-testid=refundable-amount]")).to_have_text("36.00 USD")
    expect(page.locator("[data-testid=order-audit]")).to_contain_text("Lamp arrived scratched")
    assert still_same_page(page)
    refund = Refund.objects.get()
    assert (refund.order_id, refund.amount, refund.reason) == (order.pk, 1_200, "Lamp arrived scratched")
    shot("refund-done")


def test_a_double_click_and_a_retried_request_refund_exactly_once(page, site, shot):
    operator = user_with_role("operator")
    order = paid_order(amount=4_800)
    site.sign_in(operator)
    page.goto(site(f"/orders/{order.pk}/"))
    page.fill("input[name=amount]", "5.00")
    page.click("[data-testid=review-refund]")
    confirm = page.locator("[data-testid=confirm-refund]")
    expect(confirm).to_be_visible()
    form = {name: page.locator(f"[data-testid=refund-panel] input[name={name}]").input_value()
            for name in ("amount", "idempotency_key")}

    confirm.dblclick()

    expect(page.locator(".message-success")).to_have_text("Refunded 5.00 USD.")
    # The same form sent again twice at once, as a flaky network's retries would.
    statuses = page.evaluate(
        """async ([url, body, token]) => {
            const send = () => fetch(url, {method: "POST", body: new URLSearchParams(body),
                                           headers: {"X-CSRFToken": token}, redirect: "manual"});
            return (await Promise.all([send(), send()])).map(r => r.type === "opaqueredirect" ? 302 : r.status);
        }""",
        [site(f"/orders/{order.pk}/refund/"), {**form, "reason": "", "step": "confirm"}, csrf_token(page)],
    )

    assert statuses == [302, 302]
    assert Refund.objects.filter(order=order).count() == 1
    assert AuditEntry.objects.filter(target_id=str(order.pk)).count() == 1
    assert Order.objects.get(pk=order.pk).refunded_amount == 500
    page.reload()
    expect(page.locator("[data-testid=refunds-table] tbody tr")).to_have_count(1)
    shot("refund-double-click")


def test_a_viewer_sees_no_refund_action_and_a_forged_post_is_refused(page, site, shot):
    viewer = user_with_role("viewer")
    order = paid_order(amount=4_800)
    site.sign_in(viewer)

    page.goto(site(f"/orders/{order.pk}/"))

    expect(page.locator("[data-testid=ledger-lines]")).to_be_visible()
    expect(page.locator("[data-testid=refund-panel]")).to_have_count(0)
    expect(page.get_by_text("Review refund")).to_have_count(0)
    status = page.evaluate(
        """async ([url, token]) => (await fetch(url, {method: "POST", headers: {"X-CSRFToken": token},
            body: new URLSearchParams({amount: "48.00", idempotency_key: "f".repeat(32), step: "confirm"})})).status""",
        [site(f"/orders/{order.pk}/refund/"), csrf_token(page)],
    )
    assert status == 403
    assert Refund.objects.count() == 0
    shot("viewer-order")


def test_the_pending_queue_resolves_an_order_in_place(page, site, shot):
    operator = user_with_role("operator")
    first = pending_order(amount=18_500, user_id="buyer-chen")
    second = pending_order(amount=15_900, user_id="buyer-eli")
    site.sign_in(operator)
    page.goto(site("/pending/"))
    mark_page(page)
    row = page.locator(f"#pending-{first.pk}")

    row.get_by_role("radio", name="Mark paid").check()
    row.locator("input[name=note]").fill("Provider dashboard shows the charge captured")
    row.get_by_role("button", name="Review").click()
    page.locator(f"#pending-{first.pk}").get_by_role("button", name="Confirm: mark paid").click()

    expect(page.locator(f"#pending-{first.pk}")).to_contain_text("now Paid")
    expect(page.locator(f"#pending-{second.pk}").get_by_role("radio", name="Mark paid")).to_be_visible()
    assert still_same_page(page)
    assert Order.objects.get(pk=first.pk).status == "PAID"
    assert Order.objects.get(pk=second.pk).status == "PENDING_PAYMENT"
    entry = AuditEntry.objects.get()
    assert (entry.actor_id, entry.note) == (operator.pk, "Provider dashboard shows the charge captured")
    shot("pending-resolved")


def test_the_orders_filter_narrows_the_list_through_htmx(page, site, shot):
    for buyer in ("buyer-ann", "buyer-ann", "buyer-bob", "buyer-bob", "buyer-bob"):
        paid_order(amount=1_000, user_id=buyer)
    Order.objects.filter(pk=Order.objects.filter(user_id="buyer-ann").first().pk).update(status="REFUNDED")
    site.sign_in(user_with_role("viewer"))
    page.goto(site("/orders/"))
    rows = page.locator("[data-testid=orders-table] tbody tr")
    expect(rows).to_have_count(5)
    mark_page(page)
    requests = []
    page.on("request", lambda request: requests.append(request.headers.get("hx-request")))

    page.fill("input[name=q]", "ann")
    expect(rows).to_have_count(2)
    page.select_option("select[name=status]", "PAID")
    expect(rows).to_have_count(1)

    assert still_same_page(page)
    assert requests and all(header == "true" for header in requests)
    expect(page).to_have_url(site("/orders/?q=ann&status=PAID"))
    shot("orders-filtered")
    # The pushed URL is a real page: without htmx it renders the same list.
    page.goto(site("/orders/?q=ann&status=PAID"))
    expect(rows).to_have_count(1)

