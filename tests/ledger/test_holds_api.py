"""Holds over HTTP: reserve, capture, void, expire, and `available` on both posting engines."""

from datetime import timedelta

import pytest
from django.utils import timezone

from ledger.models import BalanceBucket, Hold, HoldStatus
from ledger.reconciliation import reconcile_run

from .test_accounts_api import assert_problem, deposit, open_account, post

pytestmark = pytest.mark.django_db


@pytest.fixture
def funded(api, ledger_engine):
    alice, bob = open_account(api, "Alice"), open_account(api, "Bob")
    assert deposit(api, alice["id"], 1000, "fund-alice").status_code == 201
    return alice, bob


def hold(api, source, destination, amount, key, **extra):
    body = {"source_account_id": source["id"], "destination_account_id": destination["id"], "amount": amount, **extra}
    return post(api, "/api/v1/holds", body, key)


def account(api, account_id):
    return api.get(f"/api/v1/accounts/{account_id}").json()


def test_a_hold_reserves_without_moving_and_lowers_available(api, funded):
    alice, bob = funded
    response = hold(api, alice, bob, 300, "h1", description="room 12")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["amount"], body["captured_amount"], body["status"], body["currency"]) == (300, 0, "HELD", "USD")
    assert (account(api, alice["id"])["balance"], account(api, alice["id"])["available"]) == (1000, 700)
    assert account(api, bob["id"])["balance"] == 0


def test_a_withdrawal_beyond_available_is_refused_with_the_available_figure(api, funded):
    alice, bob = funded
    assert hold(api, alice, bob, 800, "h1").status_code == 201
    problem = assert_problem(post(api, f"/api/v1/accounts/{alice['id']}/withdraw", {"amount": 300}, "w1"),
                             409, "insufficient_funds")
    assert "has 200 USD available, 300 requested" in problem["detail"]
    withdrawn = post(api, f"/api/v1/accounts/{alice['id']}/withdraw", {"amount": 200}, "w2")
    assert withdrawn.status_code == 201 and withdrawn.json()["account"]["available"] == 0


def test_a_hold_beyond_available_is_409(api, funded):
    alice, bob = funded
    assert hold(api, alice, bob, 600, "h1").status_code == 201
    assert_problem(hold(api, alice, bob, 401, "h2"), 409, "insufficient_funds")
    assert hold(api, alice, bob, 400, "h3").status_code == 201


def test_a_partial_capture_moves_that_amount_once_and_releases_the_rest(api, funded):
    alice, bob = funded
    held = hold(api, alice, bob, 500, "h1").json()
    captured = post(api, f"/api/v1/holds/{held['id']}/capture", {"amount": 200}, "c1")
    assert captured.status_code == 201, captured.content
    body = captured.json()
    assert (body["hold"]["status"], body["hold"]["captured_amount"]) == ("CAPTURED", 200)
    assert (body["transfer"]["amount"], body["transfer"]["source_account_id"]) == (200, alice["id"])
    assert (account(api, alice["id"])["balance"], account(api, alice["id"])["available"]) == (800, 800)
    assert account(api, bob["id"])["balance"] == 200
    assert post(api, f"/api/v1/holds/{held['id']}/capture", {"amount": 200}, "c1").json() == body  # replay
    assert_problem(post(api, f"/api/v1/holds/{held['id']}/capture", {}, "c2"), 409, "hold_not_active")
    assert BalanceBucket.objects.get(account_id=alice["id"]).held == 0
    assert reconcile_run(store=False).ok


def test_capture_above_the_hold_is_409_and_changes_nothing(api, funded):
    alice, bob = funded
    held = hold(api, alice, bob, 500, "h1").json()
    assert_problem(post(api, f"/api/v1/holds/{held['id']}/capture", {"amount": 501}, "c1"), 409,
                   "capture_exceeds_hold")
    assert Hold.objects.get(pk=held["id"]).status == HoldStatus.HELD
    assert account(api, alice["id"])["available"] == 500


def test_void_releases_everything_and_a_second_void_is_409(api, funded):
    alice, bob = funded
    held = hold(api, alice, bob, 500, "h1").json()
    voided = api.post(f"/api/v1/holds/{held['id']}/void", {}, format="json")
    assert voided.status_code == 200 and voided.json()["hold"]["status"] == "VOIDED"
    assert account(api, alice["id"])["available"] == 1000
    assert_problem(api.post(f"/api/v1/holds/{held['id']}/void", {}, format="json"), 409, "hold_not_active")
    assert_problem(post(api, f"/api/v1/holds/{held['id']}/capture", {}, "c1"), 409, "hold_not_active")


def test_an_expired_hold_reserves_nothing_before_any_job_visits_it(api, funded):
    alice, bob = funded
    held = hold(api, alice, bob, 900, "h1", expires_in=60).json()
    Hold.objects.filter(pk=held["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert api.get(f"/api/v1/holds/{held['id']}").json()["status"] == "EXPIRED"
    assert account(api, alice["id"])["available"] == 1000
    assert post(api, f"/api/v1/accounts/{alice['id']}/withdraw", {"amount": 1000}, "w1").status_code == 201
    assert_problem(post(api, f"/api/v1/holds/{held['id']}/capture", {}, "c1"), 409, "hold_expired")
    from ledger.services import holds_expire

    assert [h.pk for h in holds_expire()] == [Hold.objects.get(pk=held["id"]).pk]
    assert BalanceBucket.objects.get(account_id=alice["id"]).held == 0
    assert reconcile_run(store=False).ok
