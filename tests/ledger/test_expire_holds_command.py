"""manage.py expire_holds: records overdue holds as EXPIRED, gives back their `held`, moves nothing; idempotent."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from ledger.models import Account, BalanceBucket, Hold, HoldStatus, Transaction
from ledger.services import hold_capture, hold_create, hold_void

from .factories import AccountFactory
from .invariants import assert_ledger_consistent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_engine")]


def expire(*args) -> str:
    out = StringIO()
    call_command("expire_holds", *args, stdout=out)
    return out.getvalue()


def held_column(account) -> int:
    return BalanceBucket.objects.get(account=account, bucket=0).held


def money(account) -> tuple[int, int]:
    row = Account.objects.with_balance().get(pk=account.pk)
    return row.balance, row.available


def overdue(hold: Hold, seconds: float = 1) -> Hold:
    """Make the hold's expiry `seconds` ago, as if its time had run out."""
    Hold.objects.filter(pk=hold.pk).update(expires_at=timezone.now() - timedelta(seconds=seconds))
    return hold


@pytest.fixture
def accounts():
    return AccountFactory(balance=1_000), AccountFactory()


def a_hold(accounts, amount, **extra) -> Hold:
    source, destination = accounts
    return hold_create(source_id=source.id, destination_id=destination.id, amount=amount, owner="client-a", **extra)


def test_overdue_holds_are_expired_released_and_counted_and_a_second_run_finds_none(accounts):
    source, destination = accounts
    stale, older, fresh = a_hold(accounts, 100), a_hold(accounts, 200), a_hold(accounts, 300)
    overdue(stale)
    overdue(older, seconds=3600)
    assert held_column(source) == 600

    assert expire().strip() == "Expired 2 hold(s)."

    assert {h.pk: h.status for h in Hold.objects.all()} == {
        stale.pk: HoldStatus.EXPIRED, older.pk: HoldStatus.EXPIRED, fresh.pk: HoldStatus.HELD}
    assert all(h.finished_at is not None and h.captured_amount == 0
               for h in Hold.objects.filter(status=HoldStatus.EXPIRED))
    assert held_column(source) == 300
    # nothing moved: the balances are the deposit's, the one live hold still reserves
    assert money(source) == (1_000, 700) and money(destination) == (0, 0)
    assert not Transaction.objects.filter(reference__startswith="hold:").exists()

    assert expire().strip() == "Expired 0 hold(s)."
    assert held_column(source) == 300
    assert_ledger_consistent()


def test_holds_not_yet_due_and_holds_already_ended_are_left_alone(accounts):
    source, destination = accounts
    captured, voided, live = a_hold(accounts, 100), a_hold(accounts, 200), a_hold(accounts, 50, expires_in=3600)
    hold_capture(hold_id=captured.pk, amount=40)
    hold_void(hold_id=voided.pk)
    overdue(captured)
    overdue(voided)

    assert expire().strip() == "Expired 0 hold(s)."

    statuses = dict(Hold.objects.values_list("pk", "status"))
    assert statuses == {captured.pk: HoldStatus.CAPTURED, voided.pk: HoldStatus.VOIDED, live.pk: HoldStatus.HELD}
    assert Hold.objects.get(pk=captured.pk).captured_amount == 40
    assert held_column(source) == 50
    assert money(source) == (960, 910) and money(destination) == (40, 40)
    assert_ledger_consistent()


def test_more_overdue_holds_than_one_batch_are_all_expired_in_one_run(accounts):
    source, _ = accounts
    holds = [a_hold(accounts, 10) for _ in range(5)]
    for hold in holds:
        overdue(hold)

    assert expire("--batch", "2").strip() == "Expired 5 hold(s)."

    assert set(Hold.objects.values_list("status", flat=True)) == {HoldStatus.EXPIRED}
    assert held_column(source) == 0
    assert money(source) == (1_000, 1_000)


def test_a_batch_below_one_is_refused(accounts):
    with pytest.raises(CommandError, match="--batch"):
        expire("--batch", "0")
