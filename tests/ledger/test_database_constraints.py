"""Every ledger constraint refuses a bad row by itself, on SQLite and on PostgreSQL.

The services check each rule first; these tests bypass them (raw ORM writes) to prove that the
database is the last word. Each test is named after the constraint it hits, and the refusal must
name that constraint, so a row refused for another reason does not pass.
"""

import contextlib
import uuid
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from ledger.models import BALANCE_LIMIT, Account, BalanceBucket, Hold, HoldStatus, Posting, Transaction
from ledger.services import deposit, system_account_id

from ..constraints import constraints_without_a_test, refused_by
from .factories import AccountFactory

pytestmark = pytest.mark.django_db


def raw_transaction(reference: str | None = None, **fields) -> Transaction:
    """A transaction row written directly, with none of the posting engine's checks."""
    if reference is None:
        reference = f"raw-{uuid.uuid4()}"
    return Transaction.objects.create(**{"namespace": "system", "reference": reference, "kind": "raw", **fields})


@contextlib.contextmanager
def rolled_back():
    """Roll back the raw rows the block wrote and kept: at the test's end PostgreSQL checks its
    deferred balance trigger, which a lone raw transaction or posting fails."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def raw_posting(account: Account, **fields) -> Posting:
    """A posting row written directly to `account` (by default a valid-looking CREDIT of 5)."""
    values = {"transaction": raw_transaction(), "account": account, "direction": "CREDIT", "amount": 5,
              "currency": account.currency, "bucket": 0, "entry_number": 1_000, "balance_after": 5}
    return Posting.objects.create(**{**values, **fields})


def cash_bucket(currency: str = "USD") -> BalanceBucket:
    """A bucket of the cash system account (which may go negative), created by a first deposit."""
    deposit(account_id=AccountFactory(currency=currency).id, amount=1, reference="open-cash", owner="client-a")
    return BalanceBucket.objects.filter(account_id=system_account_id("cash", currency)).first()


# --- postings ------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [0, -5])
def test_ledger_posting_amount_positive(amount):
    alice = AccountFactory()
    with refused_by(Posting, "ledger_posting_amount_positive"):
        raw_posting(alice, amount=amount)


def test_ledger_posting_direction_valid():
    alice = AccountFactory()
    with refused_by(Posting, "ledger_posting_direction_valid"):
        raw_posting(alice, direction="debit")  # the right word, the wrong case


def test_ledger_posting_entry_number_positive():
    alice = AccountFactory()
    with refused_by(Posting, "ledger_posting_entry_number_positive"):
        raw_posting(alice, entry_number=0)


def test_ledger_posting_entry_unique():
    # given alice's first posting, entry 1 of her only bucket
    alice = AccountFactory(balance=500)
    assert list(Posting.objects.filter(account=alice).values_list("bucket", "entry_number")) == [(0, 1)]

    # then a second entry 1 in that bucket is refused, and entry 2 is not
    with refused_by(Posting, "ledger_posting_entry_unique"):
        raw_posting(alice, entry_number=1)
    with rolled_back():
        assert raw_posting(alice, entry_number=2).entry_number == 2


# --- transactions --------------------------------------------------------------------------


def test_ledger_transaction_reference_unique():
    with rolled_back():
        raw_transaction("order-7", owner="client-a")
        with refused_by(Transaction, "ledger_transaction_reference_unique"):
            raw_transaction("order-7", owner="client-a")
        # the same reference is free for another owner and in the other namespace
        assert raw_transaction("order-7", owner="client-b").reference == "order-7"
        assert raw_transaction("order-7", owner="client-a", namespace="client").reference == "order-7"


def test_ledger_transaction_reference_required():
    with refused_by(Transaction, "ledger_transaction_reference_required"):
        raw_transaction("")


def test_ledger_transaction_namespace_valid():
    with refused_by(Transaction, "ledger_transaction_namespace_valid"):
        raw_transaction(namespace="mine")


# --- balance buckets -----------------------------------------------------------------------


def test_ledger_balance_not_negative_on_a_customer_bucket():
    alice = AccountFactory(balance=500)
    with refused_by(BalanceBucket, "ledger_balance_not_negative"):
        BalanceBucket.objects.filter(account=alice).update(balance=-1)
    assert Account.objects.with_balance().get(pk=alice.pk).balance == 500


def test_ledger_balance_not_negative_leaves_system_buckets_free_to_go_negative():
    cash = cash_bucket()
    BalanceBucket.objects.filter(pk=cash.pk).update(balance=-BALANCE_LIMIT)
    assert BalanceBucket.objects.get(pk=cash.pk).balance == -BALANCE_LIMIT


@pytest.mark.parametrize("balance", [BALANCE_LIMIT + 1, -BALANCE_LIMIT - 1])
def test_ledger_balance_within_limit(balance):
    cash = cash_bucket()
    with refused_by(BalanceBucket, "ledger_balance_within_limit"):
        BalanceBucket.objects.filter(pk=cash.pk).update(balance=balance)
    assert BalanceBucket.objects.get(pk=cash.pk).balance == cash.balance


def test_ledger_balance_one_bucket():
    alice = AccountFactory()
    with refused_by(BalanceBucket, "ledger_balance_one_bucket"):
        BalanceBucket.objects.create(account=alice, bucket=1, allow_negative=False)
    assert BalanceBucket.objects.filter(account=alice).count() == 1


def test_ledger_balance_bucket_unique():
    alice = AccountFactory()
    with refused_by(BalanceBucket, "ledger_balance_bucket_unique"):
        BalanceBucket.objects.create(account=alice, bucket=0, allow_negative=False)


def test_ledger_balance_entry_number():
    alice = AccountFactory(balance=500)
    with refused_by(BalanceBucket, "ledger_balance_entry_number"):
        BalanceBucket.objects.filter(account=alice).update(last_entry_number=-1)


@pytest.mark.parametrize("held", [-1, BALANCE_LIMIT + 1])
def test_ledger_balance_held(held):
    alice = AccountFactory(balance=500)
    with refused_by(BalanceBucket, "ledger_balance_held"):
        BalanceBucket.objects.filter(account=alice).update(held=held)
    assert BalanceBucket.objects.get(account=alice).held == 0
    BalanceBucket.objects.filter(account=alice).update(held=BALANCE_LIMIT)
    assert BalanceBucket.objects.get(account=alice).held == BALANCE_LIMIT


# --- holds ---------------------------------------------------------------------------------


def raw_hold(**fields) -> Hold:
    """A hold row written directly (by default a valid HELD hold of 100 from one new account to another)."""
    values = {"owner": "client-a", "amount": 100, "currency": "USD", "expires_at": timezone.now() + timedelta(hours=1)}
    if "source_account" not in fields:
        values["source_account"] = AccountFactory()
    if "destination_account" not in fields:
        values["destination_account"] = AccountFactory()
    return Hold.objects.create(**{**values, **fields})


def ended(status: str, captured_amount: int = 0) -> dict:
    """The fields of a hold that ended with `status`, as the hold services write them."""
    return {"status": status, "captured_amount": captured_amount, "finished_at": timezone.now()}


@pytest.mark.parametrize("amount", [0, -5, BALANCE_LIMIT + 1])
def test_ledger_hold_amount_positive(amount):
    with refused_by(Hold, "ledger_hold_amount_positive"):
        raw_hold(amount=amount)
    with rolled_back():
        assert raw_hold(amount=BALANCE_LIMIT).amount == BALANCE_LIMIT


def test_ledger_hold_captured_within_amount():
    with refused_by(Hold, "ledger_hold_captured_within_amount"):
        raw_hold(amount=100, **ended(HoldStatus.CAPTURED, 101))
    with rolled_back():
        assert raw_hold(amount=100, **ended(HoldStatus.CAPTURED, 100)).captured_amount == 100


def test_ledger_hold_captured_within_amount_holds_on_update():
    hold = raw_hold(amount=100, **ended(HoldStatus.CAPTURED, 60))
    with refused_by(Hold, "ledger_hold_captured_within_amount"):
        Hold.objects.filter(pk=hold.pk).update(amount=59)
    assert Hold.objects.get(pk=hold.pk).amount == 100


def test_ledger_hold_status_valid():
    with refused_by(Hold, "ledger_hold_status_valid"):
        raw_hold(status="held", finished_at=timezone.now())  # the right word, the wrong case
    hold = raw_hold()
    with refused_by(Hold, "ledger_hold_status_valid"):
        Hold.objects.filter(pk=hold.pk).update(status="PENDING", finished_at=timezone.now())
    assert Hold.objects.get(pk=hold.pk).status == HoldStatus.HELD


def test_ledger_hold_not_to_itself():
    alice = AccountFactory(balance=500)
    with refused_by(Hold, "ledger_hold_not_to_itself"):
        raw_hold(source_account=alice, destination_account=alice)
    assert Hold.objects.count() == 0


@pytest.mark.parametrize(("status", "captured_amount"), [
    (HoldStatus.CAPTURED, 0),   # captured, yet nothing moved
    (HoldStatus.VOIDED, 5),     # money moved for a hold that was not captured
    (HoldStatus.EXPIRED, 5),
    (HoldStatus.HELD, 5),
])
def test_ledger_hold_capture_recorded(status, captured_amount):
    with refused_by(Hold, "ledger_hold_capture_recorded"):
        raw_hold(**ended(status, captured_amount))
    with rolled_back():
        for ending in (HoldStatus.VOIDED, HoldStatus.EXPIRED):
            assert raw_hold(**ended(ending)).captured_amount == 0


@pytest.mark.parametrize("status", [HoldStatus.CAPTURED, HoldStatus.VOIDED, HoldStatus.EXPIRED])
def test_ledger_hold_finished_at(status):
    with refused_by(Hold, "ledger_hold_finished_at"):
        raw_hold(**{**ended(status, 100 if status == HoldStatus.CAPTURED else 0), "finished_at": None})
    # a HELD hold has not finished
    with rolled_back():
        assert raw_hold(status=HoldStatus.HELD, finished_at=None).finished_at is None


# --- accounts ------------------------------------------------------------------------------


def test_ledger_account_system_unique():
    Account.objects.create(name="escrow", currency="USD", is_system=True, allow_negative=True)
    with refused_by(Account, "ledger_account_system_unique"):
        Account.objects.create(name="escrow", currency="USD", is_system=True, allow_negative=True)
    # customer accounts may share a name
    Account.objects.create(name="Alice", currency="USD")
    assert Account.objects.create(name="Alice", currency="USD").name == "Alice"


def test_ledger_account_customer_not_negative():
    with refused_by(Account, "ledger_account_customer_not_negative"):
        Account.objects.create(name="Alice", currency="USD", is_system=False, allow_negative=True)


def test_every_ledger_constraint_has_a_test_named_after_it():
    assert constraints_without_a_test(Account, BalanceBucket, Transaction, Posting, Hold,
                                      tests=globals()) == []
