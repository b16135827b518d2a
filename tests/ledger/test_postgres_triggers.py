"""The database is the last word: raw SQL that breaks an invariant fails on PostgreSQL."""

import uuid

import pytest
from django.db import DatabaseError, connection, transaction

from ledger.models import Account, Posting, Transaction
from ledger.services import deposit, system_account_id

from .factories import AccountFactory

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]


def insert_raw_transaction(legs: list[tuple[uuid.UUID, str, int, int]]) -> uuid.UUID:
    """Insert a transaction and its postings by hand, bypassing every service check."""
    txn_id = uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO ledger_transaction (id, owner, namespace, reference, kind, description, metadata, created_at) "
            "VALUES (%s, '', 'system', %s, 'raw', '', '{}', now())",
            [txn_id, f"raw-{txn_id}"],
        )
        for account_id, direction, amount, entry_number in legs:
            cursor.execute(
                "INSERT INTO ledger_posting "
                "(transaction_id, account_id, direction, amount, currency, bucket, entry_number, balance_after) "
                "VALUES (%s, %s, %s, %s, 'USD', 0, %s, 0)",
                [txn_id, account_id, direction, amount, entry_number],
            )
    return txn_id


def test_raw_unbalanced_transaction_fails_at_commit():
    alice = AccountFactory()
    cash = system_account_id("cash", "USD")
    deposit(account_id=alice.id, amount=1, reference="create-cash", owner="client-a")  # cash row exists

    with pytest.raises(DatabaseError, match="does not balance"):
        with transaction.atomic():
            insert_raw_transaction([(cash, "DEBIT", 100, 1000), (alice.id, "CREDIT", 90, 1000)])
            # Deferred: nothing is checked until commit, so the inserts themselves succeed.

    assert not Transaction.objects.filter(kind="raw").exists()


def test_raw_transaction_with_one_posting_fails_at_commit():
    alice = AccountFactory()
    with pytest.raises(DatabaseError, match="fewer than two postings"):
        with transaction.atomic():
            insert_raw_transaction([(alice.id, "CREDIT", 90, 1000)])
    assert not Transaction.objects.filter(kind="raw").exists()


def test_raw_balanced_transaction_commits():
    alice, bob = AccountFactory(), AccountFactory()
    with transaction.atomic():
        txn_id = insert_raw_transaction([(alice.id, "DEBIT", 5, 1000), (bob.id, "CREDIT", 5, 1000)])
    assert Transaction.objects.filter(pk=txn_id).exists()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_posting SET amount = amount + 1",
        "DELETE FROM ledger_posting",
        "UPDATE ledger_transaction SET description = 'edited'",
        "DELETE FROM ledger_transaction",
    ],
)
def test_raw_update_or_delete_of_money_rows_fails(statement):
    alice = AccountFactory(balance=500)
    before = sorted(Posting.objects.values_list("id", "amount"))

    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)

    assert sorted(Posting.objects.values_list("id", "amount")) == before
    assert Account.objects.with_balance().get(pk=alice.pk).balance == 500


def test_raw_posting_in_another_currency_than_its_account_fails_at_commit():
    # the raw postings are in USD; the euro account's is refused, though debits equal credits
    euros, dollars = AccountFactory(currency="EUR"), AccountFactory()
    with pytest.raises(DatabaseError, match="its account is not"):
        with transaction.atomic():
            insert_raw_transaction([(euros.id, "DEBIT", 5, 1000), (dollars.id, "CREDIT", 5, 1000)])
    assert not Transaction.objects.filter(kind="raw").exists()


# The CHECK constraints, on both databases: test_database_constraints.py.
