"""The posting function reaches every ledger table through an index, whatever the arrays hold.

PostgreSQL only. auto_explain logs the plan of every statement `ledger_post` runs (nested ones
included); none may read a ledger table whole (Seq Scan) or hash or merge join one, which is what
made 0006 slower as the ledger grew (migration 0007). PostgreSQL's own foreign-key checks are left
out: they are not ours to plan. The ledger is large enough (1,000 accounts, 3,000 transactions of
one owner) that a plan reading a table whole would be visible, and its statistics are as stale as
on a young database: no ANALYZE.
"""

import uuid

import pytest
from django.db import connection

from ledger import services
from ledger.models import Account, BalanceBucket
from ledger.services import NewTransfer

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

OWNER = "client-a"
FORBIDDEN = ("Seq Scan on ledger_", "Hash Join", "Merge Join")


@pytest.fixture
def ledger_plans():
    """Return the plans of the ledger's own statements run since the fixture started (a list)."""
    plans: list[str] = []

    def collect(diagnostic):
        message = diagnostic.message_primary or ""
        if "Query Text:" in message and 'FROM ONLY "public"' not in message:  # FK checks: PostgreSQL's
            plans.append(message)

    with connection.cursor() as cursor:
        cursor.execute("LOAD 'auto_explain'")
        cursor.execute("SET auto_explain.log_min_duration = 0")
        cursor.execute("SET auto_explain.log_nested_statements = on")
        cursor.execute("SET client_min_messages = log")
    connection.connection.add_notice_handler(collect)
    yield plans
    connection.connection.remove_notice_handler(collect)
    with connection.cursor() as cursor:
        cursor.execute("RESET auto_explain.log_min_duration")
        cursor.execute("RESET client_min_messages")


@pytest.fixture
def accounts() -> list[Account]:
    """1,000 funded accounts of one owner, who has posted 3,000 transfers between them."""
    opened = Account.objects.bulk_create(
        Account(id=uuid.uuid4(), owner=OWNER, name=f"acct-{number}", currency="USD") for number in range(1000)
    )
    BalanceBucket.objects.bulk_create(
        BalanceBucket(account=account, bucket=0, balance=10**9) for account in opened
    )
    for batch in range(3):
        services.transfers_create(
            transfers=[NewTransfer(opened[n].id, opened[(n + batch + 1) % 1000].id, 5) for n in range(1000)],
            reference=f"seed-{batch}", owner=OWNER,
        )
    return opened


def bad_plans(plans: list[str]) -> list[str]:
    return [plan for plan in plans if any(node in plan for node in FORBIDDEN)]


def test_a_transfer_reads_every_table_by_index(accounts, ledger_plans):
    services.transfer_create(source_id=accounts[0].id, destination_id=accounts[1].id, amount=7,
                             reference="one", owner=OWNER)

    assert any("ledger_post(" in plan for plan in ledger_plans)
    assert bad_plans(ledger_plans) == []


def test_a_batch_and_its_replay_read_every_table_by_index(accounts, ledger_plans):
    orders = [NewTransfer(accounts[n].id, accounts[999 - n].id, 3) for n in range(300)]

    posted = services.transfers_create(transfers=orders, reference="batch", owner=OWNER)
    replayed = services.transfers_create(transfers=orders, reference="batch", owner=OWNER)

    assert [txn.id for txn in replayed] == [txn.id for txn in posted]
    assert any("ledger_post_replay(" in plan for plan in ledger_plans)
    assert bad_plans(ledger_plans) == []


def test_a_deposit_finds_its_system_account_by_index(accounts, ledger_plans):
    services.deposit(account_id=accounts[2].id, amount=11, reference="first-cash", owner=OWNER)  # creates cash
    txn = services.deposit(account_id=accounts[3].id, amount=12, reference="cash-in", owner=OWNER)

    legs = {(posting.account.name, posting.direction, posting.amount) for posting in txn.postings.all()}
    assert legs == {("cash", "DEBIT", 12), ("acct-3", "CREDIT", 12)}
    assert bad_plans(ledger_plans) == []
