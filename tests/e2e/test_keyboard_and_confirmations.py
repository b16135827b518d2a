"""Irreversible actions ask first and never happen on a bare Enter; the keyboard alone gets there.

Focus follows each htmx swap (static/js/dashboard.js): to Confirm after a review, to the first
invalid field after a refusal.
"""

import pytest
from playwright.sync_api import expect

from mintguard_site.api.models import ApiClient
from mintguard_site.api.services import api_client_create
from payments import services as payment_services
from payments.models import Order, Refund

from ..operators.factories import paid_order, pending_order
from ..role_helpers import user_with_role

pytestmark = pytest.mark.django_db(transaction=True)


def focused_testid(page) -> str | None:
    return page.evaluate("document.activeElement && document.activeElement.getAttribute('data-testid')")


def test_the_pending_queue_cannot_resolve_on_a_bare_enter(page, site, shot):
    # given
    order = pending_order(amount=18_900)
    site.sign_in(user_with_role("operator"))
    page.goto(site("/pending/"))
    row = page.locator(f"#pending-{order.pk}")
    note = row.locator("input[name=note]")

    # when: a note and Enter, no outcome chosen
    note.fill("Provider dashboard shows the charge captured")
    note.press("Enter")
    page.wait_for_timeout(500)

    # then: nothing was sent, nothing changed
    assert Order.objects.get(pk=order.pk).status == "PENDING_PAYMENT"
    expect(row.locator("[data-testid=resolve-question]")).to_have_count(0)

    # when: an outcome chosen, Enter in the note only asks the question...
    row.get_by_role("radio", name="Mark paid").check()
    note.press("Enter")
    question = row.locator("[data-testid=resolve-question]")
    expect(question).to_contain_text(f"Mark order {str(order.pk)[:8]} paid: 189.00 USD?")
    assert Order.objects.get(pk=order.pk).status == "PENDING_PAYMENT"
    shot("pending-question")

    # ...with Confirm focused: Enter there is the explicit answer
    expect(row.locator("[data-testid=confirm-resolve]")).to_be_focused()
    page.keyboard.press("Enter")
    expect(row).to_contain_text("now Paid")
    assert Order.objects.get(pk=order.pk).status == "PAID"


def test_a_refund_done_with_the_keyboard_alone_reaches_confirm_within_3_tabs_of_review(page, site):
    # given: an order refunded in part, so the field is empty and "Refund the rest" offers 36.00
    order = paid_order(amount=4_800)
    payment_services.refund_create(order_id=order.pk, amount=1_200, created_by="client-a")
    site.sign_in(user_with_role("operator"))
    page.goto(site(f"/orders/{order.pk}/"))
    amount = page.locator("#id_amount")
    expect(amount).to_have_value("")

    # when: from the amount field, keys only
    amount.focus()
    page.keyboard.press("Tab")
    assert focused_testid(page) == "refund-rest"
    page.keyboard.press("Enter")
    expect(amount).to_have_value("36.00")
    expect(amount).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.type("Never delivered")
    page.keyboard.press("Tab")
    assert focused_testid(page) == "review-refund"
    page.keyboard.press("Enter")
    expect(page.locator(".confirm-box")).to_contain_text("Refund 36.00 USD")
    # Wait for htmx to settle with a locator: wait_for_function polls with eval, which the CSP refuses.
    expect(page.locator(".htmx-settling, .htmx-request")).to_have_count(0)

    # then: Confirm is at most 3 Tabs away (focus lands on it)
    tabs = 0
    while focused_testid(page) != "confirm-refund" and tabs < 3:
        page.keyboard.press("Tab")
        tabs += 1
    assert focused_testid(page) == "confirm-refund"
    page.keyboard.press("Enter")
    expect(page.locator("[data-testid=refundable-amount]")).to_have_text("0.00 USD")
    assert sorted(Refund.objects.values_list("amount", flat=True)) == [1_200, 3_600]


def test_focus_lands_on_the_first_invalid_field_after_an_error(page, site):
    # given
    order = paid_order(amount=4_800)
    pending = pending_order()
    site.sign_in(user_with_role("operator"))
    page.goto(site(f"/orders/{order.pk}/"))

    # when: an amount in the European way
    page.fill("#id_amount", "1.000,00")
    page.click("[data-testid=review-refund]")

    # then: the field has focus, is marked invalid and described by its error
    amount = page.locator("#id_amount")
    expect(amount).to_be_focused()
    expect(amount).to_have_attribute("aria-invalid", "true")
    expect(amount).to_have_attribute("aria-describedby", "id_amount_help id_amount_error")
    expect(page.locator("#id_amount_error")).to_have_text(
        "Use a comma only between thousands, as in 1,000.00; a point separates the decimals.")

    # and on the pending queue, a note of blanks only is refused at the note
    page.goto(site("/pending/"))
    row = page.locator(f"#pending-{pending.pk}")
    row.get_by_role("radio", name="Mark failed").check()
    row.locator("input[name=note]").fill("   ")
    row.get_by_role("button", name="Review").click()
    note = page.locator(f"#note-{pending.pk}")
    expect(note).to_be_focused()
    expect(note).to_have_attribute("aria-describedby", f"note-{pending.pk}-error")
    assert Order.objects.get(pk=pending.pk).status == "PENDING_PAYMENT"


def test_revoking_a_key_asks_first_and_slash_focuses_search(page, site):
    client, _ = api_client_create(name="old-service")
    site.sign_in(user_with_role("admin"))
    page.goto(site("/api-keys/"))

    page.get_by_role("button", name="Revoke…").click()
    confirm = page.locator("[data-testid=confirm-revoke]")
    expect(page.locator("[data-testid=revoke-question]")).to_contain_text("Revoke the key of old-service")
    expect(confirm).to_be_focused()
    assert ApiClient.objects.get(pk=client.pk).is_active
    page.keyboard.press("Enter")
    expect(page.locator("[data-testid=api-clients]")).to_contain_text("revoked")
    assert not ApiClient.objects.get(pk=client.pk).is_active

    page.goto(site("/orders/"))
    page.keyboard.press("/")
    expect(page.locator("input[type=search][name=q]")).to_be_focused()
