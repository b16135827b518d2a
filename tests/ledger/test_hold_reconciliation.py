"""Reconciliation over holds: each drift of invariant 9 is found, named, and stored as JSON."""

import pytest

from ledger.models import BalanceBucket, Hold
from ledger.reconciliation import AVAILABLE_NOT_NEGATIVE, HELD_MATCHES_HOLDS, HOLD_CAPTURED_ONCE, reconcile_run
from ledger.services import deposit, hold_capture, hold_create

from .factories import AccountFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def captured(ledger_engine):
    alice, bob = AccountFactory(owner="c1"), AccountFactory(owner="c1")
    deposit(account_id=alice.id, amount=1000, reference="fund", owner="c1")
    hold = hold_create(source_id=alice.id, destination_id=bob.id, amount=600, owner="c1")
    hold_capture(hold_id=hold.id, amount=400)
    return alice, Hold.objects.get(pk=hold.id)


def drift_checks(run) -> set[str]:
    return {drift["check"] for drift in run.drifts}


def test_holds_that_agree_with_the_books_reconcile_clean(captured):
    assert reconcile_run().ok


def test_a_capture_that_moved_another_amount_is_a_stored_drift_naming_the_legs(captured):
    _, hold = captured
    Hold.objects.filter(pk=hold.pk).update(captured_amount=500)  # the books say 400 moved

    run = reconcile_run()  # stored: every drift must be JSON

    assert not run.ok and HOLD_CAPTURED_ONCE in drift_checks(run)
    drift = next(d for d in run.drifts if d["check"] == HOLD_CAPTURED_ONCE)
    assert drift["expected"] == 500 and sorted(d.split()[:2] for d in drift["actual"]) == [
        ["CREDIT", "400"], ["DEBIT", "400"]]


def test_a_held_total_off_the_holds_and_an_available_below_zero_are_drifts(captured):
    alice, _ = captured
    BalanceBucket.objects.filter(account=alice).update(held=1)
    hold_create(source_id=alice.id, destination_id=AccountFactory(owner="c1").id, amount=600, owner="c1")
    BalanceBucket.objects.filter(account=alice).update(balance=100)  # below what is held

    checks = drift_checks(reconcile_run())

    assert {HELD_MATCHES_HOLDS, AVAILABLE_NOT_NEGATIVE} <= checks
