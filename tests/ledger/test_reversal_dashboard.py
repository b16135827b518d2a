"""Reversals on the dashboard: the transaction page links a reversal both ways, and an operator with
`ledger.reverse_transaction` (admins, superusers) reverses with a note, in two steps, audited."""

import pytest
from django.test import Client

from audit.models import AuditAction, AuditEntry
from ledger.models import Account, Reversal, Transaction
from ledger.services import hold_capture, hold_create, reversal_refusal, transaction_reverse, transfer_create
from ledger.services import reversals as reversal_services

from ..dashboard_helpers import htmx
from .factories import AccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice() -> Account:
    return AccountFactory(name="Alice", balance=100_000)


@pytest.fixture
def bob() -> Account:
    return AccountFactory(name="Bob")


@pytest.fixture
def moved(alice, bob) -> Transaction:
    """A transfer of 250.00 USD from Alice to Bob."""
    return transfer_create(source_id=alice.pk, destination_id=bob.pk, amount=25_000, reference="rent",
                           owner="client-a")


def page(url_of) -> str:
    return f"/ledger/transactions/{url_of.pk}/"


def reverse_url(txn) -> str:
    return f"/ledger/transactions/{txn.pk}/reverse/"


def balances(*accounts) -> list[int]:
    return [Account.objects.with_balance().get(pk=a.pk).balance for a in accounts]


def nothing_reversed() -> bool:
    return not Reversal.objects.exists() and not AuditEntry.objects.exists()


# --- the links -----------------------------------------------------------------------------


def test_the_original_and_its_reversal_link_to_each_other(viewer, moved):
    reversal = transaction_reverse(transaction_id=moved.pk)

    original_page = viewer.get(page(moved)).content.decode()
    reversal_page = viewer.get(page(reversal)).content.decode()

    assert (f'<dt>Reversed by</dt><dd><a class="mono" href="/ledger/transactions/{reversal.pk}/" '
            f'data-testid="reversed-by">transaction {str(reversal.pk)[:8]}</a>') in original_page
    assert '<span class="badge">reversed</span>' in original_page
    assert (f'<dt>Reverses</dt><dd><a class="mono" href="/ledger/transactions/{moved.pk}/" '
            f'data-testid="reverses">transaction {str(moved.pk)[:8]}</a>') in reversal_page
    assert f"reversal:{moved.pk}" in reversal_page  # its reference
    assert 'data-testid="reversed-by"' not in reversal_page and 'data-testid="reverses"' not in original_page


def test_a_transaction_never_reversed_shows_no_link(viewer, moved):
    html = viewer.get(page(moved)).content.decode()
    assert "Reversed by" not in html and "<dt>Reverses</dt>" not in html


# --- who sees the action -------------------------------------------------------------------


def test_an_admin_sees_the_reverse_form_with_a_required_note(admin_role, moved):
    html = admin_role.get(page(moved)).content.decode()

    assert 'data-testid="reverse-panel"' in html
    assert '<label for="id_note">Note (required)</label>' in html
    assert 'name="note" id="id_note" value="" maxlength="500" required' in html
    assert 'name="step" value="review" data-testid="review-reverse"' in html


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_a_viewer_or_an_operator_without_the_permission_sees_no_action_and_gets_403(as_role, moved, alice, bob,
                                                                                   role):
    user = as_role(role)

    assert 'data-testid="reverse-panel"' not in user.get(page(moved)).content.decode()
    for step in ("review", "confirm"):
        assert user.post(reverse_url(moved), {"note": "forged", "step": step}).status_code == 403
        assert user.post(reverse_url(moved), {"note": "forged", "step": step}, **htmx()).status_code == 403
    assert nothing_reversed() and balances(alice, bob) == [75_000, 25_000]


def test_a_superuser_without_any_group_may_reverse(as_role, moved, alice, bob):
    root = as_role(None, is_superuser=True)

    assert 'data-testid="reverse-panel"' in root.get(page(moved)).content.decode()
    response = root.post(reverse_url(moved), {"note": "customer's mistake", "step": "confirm"})

    assert response.status_code == 302 and balances(alice, bob) == [100_000, 0]


def test_no_action_is_offered_for_a_reversal_a_reversed_transaction_or_a_hold_capture(admin_role, moved, alice, bob):
    reversal = transaction_reverse(transaction_id=moved.pk)
    held = hold_create(source_id=alice.pk, destination_id=bob.pk, amount=100, owner="client-a")
    _, capture = hold_capture(hold_id=held.pk)

    for txn in (moved, reversal, capture):
        assert 'data-testid="reverse-panel"' not in admin_role.get(page(txn)).content.decode(), txn.kind


# --- two steps -----------------------------------------------------------------------------


def test_review_names_the_transaction_and_every_leg_and_changes_nothing(admin_role, moved, alice, bob):
    response = admin_role.post(reverse_url(moved), {"note": "paid the wrong person", "step": "review"},
                               **htmx(target="reverse-panel"))

    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert f'Reverse transfer <span class="mono">{str(moved.pk)[:8]}</span>' in html
    assert "CR Alice 250.00 USD · available 750.00 USD → 1,000.00 USD" in html
    assert "DR Bob 250.00 USD · available 250.00 USD → 0.00 USD" in html
    assert 'name="note" value="paid the wrong person"' in html
    assert 'value="confirm" class="danger" data-autofocus data-testid="confirm-reverse"' in html
    assert nothing_reversed() and balances(alice, bob) == [75_000, 25_000]


def test_without_javascript_the_review_is_a_whole_page(admin_role, moved):
    html = admin_role.post(reverse_url(moved), {"note": "duplicate"}).content.decode()

    assert "<html" in html and 'data-testid="reverse-question"' in html
    assert nothing_reversed()


def test_edit_goes_back_to_the_form_with_the_note_typed(admin_role, moved):
    html = admin_role.post(reverse_url(moved), {"note": "duplicate", "step": "edit"},
                           **htmx(target="reverse-panel")).content.decode()

    assert 'name="note" id="id_note" value="duplicate"' in html and 'data-testid="reverse-question"' not in html
    assert nothing_reversed()


def test_confirming_reverses_audits_the_note_and_shows_the_link(admin_role, moved, alice, bob):
    response = admin_role.post(reverse_url(moved), {"note": "paid the wrong person", "step": "confirm"})

    assert response.status_code == 302 and response["Location"] == page(moved)
    assert balances(alice, bob) == [100_000, 0]
    link = Reversal.objects.get()
    reversal = link.reversal
    assert link.original_id == moved.pk and reversal.owner == "client-a"  # the original's owner, not the operator
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.target_type, entry.target_id, entry.note) == (
        admin_role.user, AuditAction.TRANSACTION_REVERSED, "transaction", str(moved.pk), "paid the wrong person")
    assert (entry.before, entry.after) == (
        {"reversed_by": None}, {"reversed_by": str(reversal.pk), "amount": 25_000, "currency": "USD"})
    html = admin_role.get(response["Location"]).content.decode()
    assert f"Reversed transfer {str(moved.pk)[:8]}: reversal {str(reversal.pk)[:8]} posted its opposite legs." in html
    assert 'data-testid="reversed-by"' in html and 'data-testid="reverse-panel"' not in html
    log = admin_role.get("/audit/").content.decode()
    assert "Transaction reversed" in log and "paid the wrong person" in log and "250.00 USD" in log


def test_confirming_with_htmx_sends_the_browser_to_the_page(admin_role, moved):
    response = admin_role.post(reverse_url(moved), {"note": "duplicate", "step": "confirm"},
                               **htmx(target="reverse-panel"))

    assert response.status_code == 200 and response["HX-Redirect"] == page(moved)
    assert Reversal.objects.filter(original=moved).exists()


@pytest.mark.parametrize("note", ["", "   "])
def test_a_reversal_without_a_note_is_refused_and_changes_nothing(admin_role, moved, alice, bob, note):
    for step in ("review", "confirm"):
        response = admin_role.post(reverse_url(moved), {"note": note, "step": step}, **htmx(target="reverse-panel"))

        assert response.status_code == 422
        html = response.content.decode()
        assert "Say why the transaction is reversed: the note goes to the audit log." in html
        assert 'aria-invalid="true"' in html
    assert nothing_reversed() and balances(alice, bob) == [75_000, 25_000]


# --- refusals ------------------------------------------------------------------------------


def test_a_transaction_reversed_already_gets_a_409_message_not_a_second_reversal(admin_role, moved):
    transaction_reverse(transaction_id=moved.pk)

    response = admin_role.post(reverse_url(moved), {"note": "again", "step": "confirm"})

    assert response.status_code == 409
    assert f"Transaction {moved.pk} was already reversed." in response.content.decode()
    assert Reversal.objects.count() == 1 and not AuditEntry.objects.exists()


def test_a_reversal_reversed_between_the_review_and_the_confirm_gets_the_message(admin_role, moved, monkeypatch):
    # the early check sees it not reversed; a twin reverses it before the service runs
    monkeypatch.setattr("ledger.views.services.reversal_refusal", lambda txn, reversed_already: None)
    transaction_reverse(transaction_id=moved.pk)

    response = admin_role.post(reverse_url(moved), {"note": "again", "step": "confirm"})

    assert response.status_code == 409
    html = response.content.decode()
    assert 'data-testid="reverse-error"' in html and "was already reversed" in html
    assert Reversal.objects.count() == 1 and not AuditEntry.objects.exists()


def test_a_reversal_is_not_reversible_on_the_dashboard_either(admin_role, moved):
    reversal = transaction_reverse(transaction_id=moved.pk)

    response = admin_role.post(reverse_url(reversal), {"note": "undo the undo", "step": "review"})

    assert response.status_code == 409
    assert "is itself a reversal" in response.content.decode()
    assert Reversal.objects.count() == 1


def test_insufficient_funds_at_confirm_gets_the_message_and_moves_nothing(admin_role, moved, alice, bob):
    transfer_create(source_id=bob.pk, destination_id=alice.pk, amount=20_000, reference="back", owner="client-a")
    review = admin_role.post(reverse_url(moved), {"note": "wrong payee", "step": "review"}).content.decode()
    assert ("DR Bob 250.00 USD · available 50.00 USD → -200.00 USD <strong>(not enough available: the reversal "
            "will be refused)</strong>") in review

    response = admin_role.post(reverse_url(moved), {"note": "wrong payee", "step": "confirm"})

    assert response.status_code == 409
    assert "5000 USD available, 25000 requested" in response.content.decode()  # the API's words
    assert nothing_reversed() and balances(alice, bob) == [95_000, 5_000]


def test_a_reversal_that_fails_to_audit_rolls_back_with_it(admin_role, moved, alice, bob, monkeypatch):
    def broken_audit(**kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(reversal_services, "audit_record", broken_audit)
    admin_role.raise_request_exception = False
    assert admin_role.post(reverse_url(moved), {"note": "x", "step": "confirm"}).status_code == 500
    assert not Reversal.objects.exists() and balances(alice, bob) == [75_000, 25_000]


def test_a_reversal_without_the_csrf_token_is_refused(admin_role, moved):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_role.user)

    assert browser.post(reverse_url(moved), {"note": "forged", "step": "confirm"}).status_code == 403
    assert nothing_reversed()


@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_users_are_sent_to_the_login_page(client, moved, method):
    url = page(moved) if method == "get" else reverse_url(moved)

    response = getattr(client, method)(url, {"note": "x", "step": "confirm"})

    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")
    assert nothing_reversed()


def test_the_early_check_and_the_service_share_one_rule(moved):
    reversal = transaction_reverse(transaction_id=moved.pk)
    assert reversal_refusal(moved, reversed_already=True).code == "already_reversed"
    assert reversal_refusal(reversal, reversed_already=False).code == "not_reversible"
    assert reversal_refusal(moved, reversed_already=False) is None
