"""Reversing a transaction in a real browser: note, review (swapped in by htmx), confirm, and the links
both ways; axe-core finds nothing on the way."""

import pytest
from playwright.sync_api import expect

from audit.models import AuditEntry
from ledger.models import Account, Reversal
from ledger.services import account_create, deposit, transfer_create

from ..role_helpers import user_with_role
from .test_accessibility import audit, browser_context_args, report  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_admin_reverses_a_transfer_in_two_steps_and_sees_the_links(page, site, audit):  # noqa: F811
    # given a transfer of 12.00 USD from Alice to Bob, and an admin signed in
    alice, bob = (account_create(owner="client-a", name=name) for name in ("Alice", "Bob"))
    deposit(account_id=alice.pk, amount=5_000, reference="fund", owner="client-a")
    rent = transfer_create(source_id=alice.pk, destination_id=bob.pk, amount=1_200, reference="rent",
                           owner="client-a", description="Rent share")
    site.sign_in(user_with_role("admin"))
    page.goto(site(f"/ledger/transactions/{rent.pk}/"))
    audit("transaction")

    # when the note is typed and the reversal reviewed, then confirmed
    page.fill("input[name=note]", "sent to the wrong flatmate")
    page.click("[data-testid=review-reverse]")
    expect(page.locator("[data-testid=reverse-legs]")).to_contain_text("CR Alice 12.00 USD")
    expect(page.locator("[data-testid=reverse-legs]")).to_contain_text("DR Bob 12.00 USD")
    assert not Reversal.objects.exists()  # the review did nothing
    audit("review")
    page.click("[data-testid=confirm-reverse]")

    # then the page reloads with the message and the link to the reversal, which links back
    expect(page.locator("[data-testid=reversed-by]")).to_be_visible()
    expect(page.locator(".message")).to_contain_text(f"Reversed transfer {str(rent.pk)[:8]}")
    audit("reversed")
    page.click("[data-testid=reversed-by]")
    expect(page.locator("[data-testid=reverses]")).to_have_text(f"transaction {str(rent.pk)[:8]}")
    assert not audit.violations, report(audit.violations)
    assert [Account.objects.with_balance().get(pk=a.pk).balance for a in (alice, bob)] == [5_000, 0]
    assert AuditEntry.objects.get().note == "sent to the wrong flatmate"
