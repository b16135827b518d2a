"""The holds pages: the list (filters, expiring soon first, paging), a hold, and voiding one, audited."""

import re
from datetime import UTC, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import AuditEntry
from ledger import views
from ledger.models import Account, BalanceBucket, Hold, HoldStatus
from ledger.services import hold_capture, hold_create, hold_void, holds_expire
from ledger.services import holds as hold_services
from wallets.services import wallet_hold_create, wallet_topup

from ..dashboard_helpers import htmx
from ..list_paging import assert_pages_both_ways, result_count
from .factories import AccountFactory

pytestmark = pytest.mark.django_db

_HOLD_LINK = re.compile(r'href="/holds/([0-9a-f-]{36})/"')


@pytest.fixture
def alice() -> Account:
    return AccountFactory(name="Alice", balance=100_000)


@pytest.fixture
def bob() -> Account:
    return AccountFactory(name="Bob")


def hold(source, destination, amount=300, *, expires_in=3600, description="", owner="client-a", **extra) -> Hold:
    return hold_create(source_id=source.pk, destination_id=destination.pk, amount=amount, owner=owner,
                       expires_in=expires_in, description=description, **extra)


def lapse(held: Hold) -> Hold:
    """Move a HELD hold's expiry into the past, as time would: no job has visited it."""
    Hold.objects.filter(pk=held.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    held.refresh_from_db()
    return held


def listed(html: str) -> list[str]:
    """The ids of the holds a page of the list shows, in order (each row links to its hold once)."""
    return _HOLD_LINK.findall(html)


def available(account) -> int:
    return Account.objects.with_balance().get(pk=account.pk).available


def void_url(held) -> str:
    return f"/holds/{held.pk}/void/"


# --- the list ------------------------------------------------------------------------------


def test_the_list_shows_each_hold_with_its_accounts_amounts_status_and_expiry(viewer, alice, bob):
    held = hold(alice, bob, 1_250, description="room 12")
    captured = hold(alice, bob, 500)
    hold_capture(hold_id=captured.pk, amount=200)

    response = viewer.get("/holds/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "<th>Source account</th><th>Destination</th>" in html
    assert f'<a class="mono" href="/holds/{held.pk}/">{str(held.pk)[:8]}</a>' in html
    assert f'href="/ledger/accounts/{alice.pk}/">Alice</a>' in html and f'href="/ledger/accounts/{bob.pk}/">Bob</a>' in html
    assert "12.50 USD" in html and "2.00 USD" in html  # amount, and what the capture took
    assert '<span class="badge status-held">Held</span>' in html
    assert '<span class="badge status-captured">Captured</span>' in html
    assert f'<time datetime="{held.expires_at.astimezone(UTC).isoformat(timespec="seconds")}">' in html
    assert result_count(html) == "1-2 of 2"
    assert 'aria-current="page">Holds</a>' in html


def test_the_sidebar_links_to_holds_for_who_may_see_them(viewer, as_role):
    assert '<a href="/holds/"' in viewer.get("/ledger/").content.decode()
    assert as_role(None).get("/holds/").status_code == 403


def test_active_holds_come_first_soonest_expiry_first_then_the_rest_newest_first(viewer, alice, bob):
    later = hold(alice, bob, expires_in=7200)
    sooner = hold(alice, bob, expires_in=600)
    voided = hold(alice, bob)
    hold_void(hold_id=voided.pk)
    lapsed = lapse(hold(alice, bob))
    captured = hold(alice, bob)
    hold_capture(hold_id=captured.pk)
    # Created one minute apart, oldest first, so "newest first" cannot tie.
    for minutes, row in enumerate([later, sooner, voided, lapsed, captured]):
        Hold.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(minutes=10 - minutes))

    default = listed(viewer.get("/holds/").content.decode())
    newest = listed(viewer.get("/holds/?sort=-created").content.decode())

    assert default == [str(h.pk) for h in (sooner, later, captured, lapsed, voided)]
    assert newest == [str(h.pk) for h in (captured, lapsed, voided, sooner, later)]


@pytest.mark.parametrize(("status", "expected"), [
    ("HELD", ["active"]), ("EXPIRED", ["lapsed", "recorded"]),  # HELD past its expiry is EXPIRED, visited or not
    ("VOIDED", ["voided"]), ("CAPTURED", ["captured"]), ("", ["active", "captured", "lapsed", "recorded", "voided"]),
])
def test_the_status_filter_uses_the_status_as_of_now(viewer, alice, bob, status, expected):
    rows = {"active": hold(alice, bob), "voided": hold(alice, bob), "captured": hold(alice, bob),
            "recorded": hold(alice, bob, expires_in=1)}
    hold_void(hold_id=rows["voided"].pk)
    hold_capture(hold_id=rows["captured"].pk)
    lapse(rows["recorded"])
    assert holds_expire() == [rows["recorded"]]  # the job has recorded this one...
    rows["lapsed"] = lapse(hold(alice, bob))  # ...but not this one, HELD in the database

    html = viewer.get("/holds/", {"status": status}).content.decode()

    assert sorted(listed(html)) == sorted(str(rows[name].pk) for name in expected)
    if status == "EXPIRED":
        assert html.count('<span class="badge status-expired">Expired</span>') == 2


def test_the_account_filter_matches_either_side_by_full_id_or_first_characters(viewer, alice, bob):
    carol = AccountFactory(name="Carol", balance=1_000)
    from_alice, to_alice, elsewhere = hold(alice, bob), hold(carol, alice), hold(carol, bob)

    by_id = listed(viewer.get("/holds/", {"account": str(alice.pk)}).content.decode())
    by_prefix = listed(viewer.get("/holds/", {"account": str(alice.pk)[:8]}).content.decode())
    nothing = viewer.get("/holds/", {"account": "not-an-id"}).content.decode()

    assert sorted(by_id) == sorted(by_prefix) == sorted([str(from_alice.pk), str(to_alice.pk)])
    assert str(elsewhere.pk) not in by_id
    assert listed(nothing) == [] and "No holds match on account not-an-id" in nothing
    assert 'data-testid="clear-filters"' in nothing


def test_the_search_box_finds_a_hold_by_its_id_or_amount(viewer, alice, bob):
    small, large = hold(alice, bob, 1_250, description="minibar"), hold(alice, bob, 9_900)

    assert listed(viewer.get("/holds/", {"q": str(large.pk)[:8]}).content.decode()) == [str(large.pk)]
    assert listed(viewer.get("/holds/", {"q": "12.50"}).content.decode()) == [str(small.pk)]
    assert listed(viewer.get("/holds/", {"q": "minibar"}).content.decode()) == [str(small.pk)]


def test_the_list_pages_by_number_both_ways_with_its_count(viewer, alice, bob):
    for _ in range(57):
        hold(alice, bob, 100)

    assert_pages_both_ways(viewer, "/holds/", total=57, row_marker='data-testid="hold-row"')
    assert_pages_both_ways(viewer, "/holds/?status=HELD&sort=-amount", total=57, row_marker='data-testid="hold-row"')


def test_htmx_gets_only_the_results_and_the_page_works_without_it(viewer, alice, bob):
    hold(alice, bob)

    fragment = viewer.get("/holds/", {"status": "HELD"}, **htmx(target="hold-results")).content.decode()
    page = viewer.get("/holds/", {"status": "HELD"}).content.decode()

    assert "<html" not in fragment and 'data-testid="hold-list"' in fragment
    assert '<form class="filters" method="get" action="/holds/"' in page
    assert '<option value="HELD" selected>Held (active)</option>' in page
    assert 'role="search"' not in fragment  # the filters stay put while the results change


# --- a hold --------------------------------------------------------------------------------


def test_the_hold_page_shows_every_field_and_links_the_capture_transaction(viewer, alice, bob):
    held = hold(alice, bob, 500, description="deposit for room 12")
    _, transfer = hold_capture(hold_id=held.pk, amount=200)

    html = viewer.get(f"/holds/{held.pk}/").content.decode()

    assert 'data-testid="hold-status">Captured</span>' in html
    assert "deposit for room 12" in html and "5.00 USD" in html
    assert "2.00 USD <span class=\"muted\">(the rest was released)</span>" in html
    assert f'href="/ledger/accounts/{alice.pk}/">Alice</a>' in html and f'href="/ledger/accounts/{bob.pk}/">Bob</a>' in html
    assert f'href="/ledger/transactions/{transfer.pk}/" data-testid="capture-transaction"' in html
    assert f"hold:{held.pk}" in html
    assert 'data-testid="void-panel"' not in html  # nothing to void, and a viewer may not anyway
    assert viewer.get("/holds/00000000-0000-4000-8000-000000000000/").status_code == 404


def test_a_held_hold_past_its_expiry_reads_expired_and_offers_no_void(operator, alice, bob):
    held = lapse(hold(alice, bob))

    html = operator.get(f"/holds/{held.pk}/").content.decode()

    assert 'data-testid="hold-status">Expired</span>' in html
    assert "the expiry job has not recorded it yet" in html
    assert 'data-testid="review-void"' not in html


# --- voiding -------------------------------------------------------------------------------


def test_an_operator_sees_the_void_form_with_a_required_note(operator, alice, bob):
    html = operator.get(f"/holds/{hold(alice, bob).pk}/").content.decode()

    assert '<label for="id_note">Note (required)</label>' in html
    assert 'name="note" id="id_note" value="" maxlength="500" required' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'name="step" value="review" data-testid="review-void"' in html


def test_review_names_the_hold_its_account_and_amount_and_changes_nothing(operator, alice, bob):
    held = hold(alice, bob, 3_000)
    hold(alice, bob, 1_000)  # another hold: available is 960.00

    response = operator.post(void_url(held), {"note": "guest checked out", "step": "review"},
                             **htmx(target="void-panel"))

    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert f'Void hold <span class="mono">{str(held.pk)[:8]}</span>: release 30.00 USD reserved on Alice?' in html
    assert "its available balance goes from 960.00 USD to 990.00 USD" in html
    assert 'name="note" value="guest checked out"' in html
    assert 'value="confirm" class="danger" data-autofocus data-testid="confirm-void"' in html
    assert Hold.objects.get(pk=held.pk).status == HoldStatus.HELD
    assert AuditEntry.objects.count() == 0 and available(alice) == 96_000


def test_without_javascript_the_review_is_a_whole_page(operator, alice, bob):
    held = hold(alice, bob)
    html = operator.post(void_url(held), {"note": "duplicate"}).content.decode()
    assert "<html" in html and 'data-testid="void-question"' in html
    assert Hold.objects.get(pk=held.pk).status == HoldStatus.HELD


def test_confirming_voids_audits_the_note_and_restores_available(operator, alice, bob):
    held = hold(alice, bob, 3_000)
    assert available(alice) == 97_000

    response = operator.post(void_url(held), {"note": "guest checked out", "step": "confirm"})

    assert response.status_code == 302 and response["Location"] == f"/holds/{held.pk}/"
    held.refresh_from_db()
    assert (held.status, held.captured_amount, held.finished_at is not None) == (HoldStatus.VOIDED, 0, True)
    assert available(alice) == 100_000 and Account.objects.with_balance().get(pk=alice.pk).balance == 100_000
    assert BalanceBucket.objects.get(account=alice).held == 0
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.target_type, entry.target_id, entry.note) == (
        operator.user, "hold.voided", "hold", str(held.pk), "guest checked out")
    state = {"amount": 3_000, "currency": "USD", "source_account_id": str(alice.pk)}
    assert (entry.before, entry.after) == ({**state, "status": "HELD"}, {**state, "status": "VOIDED"})
    page = operator.get(response["Location"]).content.decode()
    assert f"Voided hold {str(held.pk)[:8]}: 30.00 USD is available again on Alice (USD)." in page
    assert 'data-testid="hold-status">Voided</span>' in page and 'data-testid="void-panel"' not in page
    log = operator.get("/audit/").content.decode()
    assert "hold.voided" in log and "guest checked out" in log and "HELD → <strong>VOIDED</strong>" in log


def test_confirming_with_htmx_swaps_the_whole_hold_with_the_message(operator, alice, bob):
    held = hold(alice, bob)

    response = operator.post(void_url(held), {"note": "duplicate", "step": "confirm"}, **htmx(target="hold-body"))

    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert 'data-testid="hold-status">Voided</span>' in html and "is available again on Alice" in html


def test_an_operator_may_void_a_wallet_hold(operator):
    wallet_topup(owner="client-a", user_id="ana", amount=5_000, reference="top-up-1")
    held = wallet_hold_create(owner="client-a", user_id="ana", amount=2_000, reference="checkout-1")
    assert held.source_account.managed_by == "wallet" and available(held.source_account) == 3_000

    response = operator.post(void_url(held), {"note": "stuck checkout", "step": "confirm"})

    assert response.status_code == 302
    assert Hold.objects.get(pk=held.pk).status == HoldStatus.VOIDED and available(held.source_account) == 5_000


@pytest.mark.parametrize("note", ["", "   "])
def test_a_void_without_a_note_is_refused_and_changes_nothing(operator, alice, bob, note):
    held = hold(alice, bob)

    for step in ("review", "confirm"):
        response = operator.post(void_url(held), {"note": note, "step": step}, **htmx(target="void-panel"))

        assert response.status_code == 422
        html = response.content.decode()
        assert "Say why the hold is voided: the note goes to the audit log." in html
        assert 'aria-invalid="true"' in html
    assert Hold.objects.get(pk=held.pk).status == HoldStatus.HELD and AuditEntry.objects.count() == 0


def test_the_service_refuses_a_void_without_a_note(operator, alice, bob):
    held = hold(alice, bob)
    with pytest.raises(ValueError, match="needs a note"):
        hold_services.operator_hold_void(hold_id=held.pk, user=operator.user, note=" ")
    assert Hold.objects.get(pk=held.pk).status == HoldStatus.HELD


def test_a_viewer_may_not_void(viewer, alice, bob):
    held = hold(alice, bob)

    assert 'data-testid="void-panel"' not in viewer.get(f"/holds/{held.pk}/").content.decode()
    assert viewer.post(void_url(held), {"note": "forged", "step": "confirm"}).status_code == 403
    assert Hold.objects.get(pk=held.pk).status == HoldStatus.HELD and AuditEntry.objects.count() == 0


@pytest.mark.parametrize(("end", "word"), [("void", "voided"), ("capture", "captured"), ("lapse", "expired")])
def test_a_hold_no_longer_active_gets_a_message_not_a_500(operator, alice, bob, end, word):
    held = hold(alice, bob)
    {"void": lambda: hold_void(hold_id=held.pk), "capture": lambda: hold_capture(hold_id=held.pk),
     "lapse": lambda: lapse(held)}[end]()

    for step, target in (("review", "void-panel"), ("confirm", "hold-body")):
        response = operator.post(void_url(held), {"note": "again", "step": step}, **htmx(target=target))

        assert response.status_code == 409
        assert f"This hold is {word}: it reserves nothing any more, so there is nothing to void." in (
            response.content.decode())
    assert AuditEntry.objects.count() == 0


def test_a_hold_voided_between_the_review_and_the_confirm_gets_a_message(operator, alice, bob, monkeypatch):
    held = hold(alice, bob)
    real = views.services.operator_hold_void

    def another_operator_first(**kwargs):
        hold_void(hold_id=held.pk)
        return real(**kwargs)

    monkeypatch.setattr(views.services, "operator_hold_void", another_operator_first)

    response = operator.post(void_url(held), {"note": "late", "step": "confirm"})

    assert response.status_code == 409
    assert "This hold is voided: it reserves nothing any more" in response.content.decode()
    assert AuditEntry.objects.count() == 0


def test_a_void_that_fails_to_audit_rolls_back_with_it(operator, alice, bob, monkeypatch):
    held = hold(alice, bob, 3_000)

    def broken_audit(**kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(hold_services, "audit_record", broken_audit)
    operator.raise_request_exception = False
    assert operator.post(void_url(held), {"note": "x", "step": "confirm"}).status_code == 500
    assert Hold.objects.get(pk=held.pk).status == HoldStatus.HELD and available(alice) == 97_000


def test_a_void_without_the_csrf_token_is_refused(alice, bob, operator):
    held = hold(alice, bob)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(operator.user)
    assert browser.post(void_url(held), {"note": "forged", "step": "confirm"}).status_code == 403
    assert Hold.objects.get(pk=held.pk).status == HoldStatus.HELD


@pytest.mark.parametrize(("method", "path"), [("get", "/holds/"), ("get", "/holds/{id}/"), ("post", "/holds/{id}/void/")])
def test_anonymous_users_are_sent_to_the_login_page(client, alice, bob, method, path):
    held = hold(alice, bob)

    response = getattr(client, method)(path.format(id=held.pk), {"note": "x", "step": "confirm"})

    assert response.status_code == 302 and response["Location"].startswith("/login/?next=")
    assert Hold.objects.get(pk=held.pk).status == HoldStatus.HELD


# --- the account page ----------------------------------------------------------------------


def test_the_account_page_shows_available_and_its_active_holds_soonest_first(viewer, alice, bob):
    later, sooner = hold(alice, bob, 1_000, expires_in=7200), hold(alice, bob, 2_000, expires_in=600)
    hold_void(hold_id=hold(alice, bob, 500).pk)
    lapse(hold(alice, bob, 400))

    html = viewer.get(f"/ledger/accounts/{alice.pk}/").content.decode()

    assert 'data-testid="account-balance">1,000.00 USD' in html
    assert 'data-testid="account-available">970.00 USD' in html
    assert listed(html) == [str(sooner.pk), str(later.pk)]
    assert f'href="/holds/?account={alice.pk}"' in html
    assert "Every active hold on this account" not in html  # all of them are shown


def test_the_account_page_lists_a_few_active_holds_and_links_to_the_rest(viewer, alice, bob):
    for _ in range(views.ACCOUNT_HOLDS_SHOWN + 1):
        hold(alice, bob, 100)

    html = viewer.get(f"/ledger/accounts/{alice.pk}/").content.decode()

    assert len(listed(html)) == views.ACCOUNT_HOLDS_SHOWN
    assert f'href="/holds/?account={alice.pk}&amp;status=HELD">Every active hold on this account' in html


def test_an_account_without_holds_has_its_whole_balance_available(viewer, alice):
    html = viewer.get(f"/ledger/accounts/{alice.pk}/").content.decode()
    assert 'data-testid="account-available">1,000.00 USD' in html and "No active hold: the whole" in html
