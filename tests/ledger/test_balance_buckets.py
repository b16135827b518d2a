"""System accounts keep their balance in several buckets; customer accounts keep exactly one.

Bucket choice is random in production; these tests give the services a seeded generator, so
every run books the same postings to the same buckets.
"""

import random
import threading
from collections import Counter, defaultdict

import pytest
from django.db import OperationalError, connection, transaction

from ledger import reconciliation, selectors, services
from ledger.exceptions import InvalidStatementPosition
from ledger.models import Account, BalanceBucket, Posting
from ledger.services import deposit, postings, system_account_id

from ..concurrency import run_concurrently
from .factories import AccountFactory
from .invariants import assert_ledger_consistent

pytestmark = pytest.mark.usefixtures("ledger_engine")

# Seconds a thread may take to reach its next step: generous, so a loaded machine is not mistaken
# for a deadlock; a step that never comes still fails the test instead of hanging it.
WAIT = 60


@pytest.fixture
def buckets(settings, monkeypatch):
    """Four buckets per system account, chosen by a seeded generator."""
    settings.MINTGUARD_SYSTEM_BALANCE_BUCKETS = 4
    monkeypatch.setattr(postings, "random", random.Random(20261121))
    return 4


def cash_usd() -> Account:
    return Account.objects.with_balance().get(pk=system_account_id("cash", "USD"))


@pytest.mark.django_db
def test_postings_to_a_system_account_spread_over_its_buckets_and_each_bucket_chains(buckets):
    alice, bob = AccountFactory(), AccountFactory()
    amounts = [100 + n for n in range(40)]
    for n, amount in enumerate(amounts):
        deposit(account_id=(alice if n % 2 else bob).id, amount=amount, reference=f"d-{n}", owner="client-a")

    cash = cash_usd()
    assert cash.balance == sum(amounts)  # cash is debit-normal: deposits raise it
    assert cash.entry_count == 40
    rows = BalanceBucket.objects.filter(account=cash).order_by("bucket")
    assert [row.bucket for row in rows] == [0, 1, 2, 3]
    assert sum(row.balance for row in rows) == sum(amounts)
    per_bucket = Counter(Posting.objects.filter(account=cash).values_list("bucket", flat=True))
    assert len(per_bucket) == 4, per_bucket  # 40 postings over 4 buckets: each got some
    for row in rows:
        postings = list(Posting.objects.filter(account=cash, bucket=row.bucket).order_by("entry_number"))
        assert [p.entry_number for p in postings] == list(range(1, per_bucket[row.bucket] + 1))
        running = 0
        for posting in postings:
            running += posting.amount
            assert posting.balance_after == running
        assert row.balance == running and row.last_entry_number == len(postings)
    # customer accounts: one bucket, numbered per account
    for account in (alice, bob):
        assert list(BalanceBucket.objects.filter(account=account).values_list("bucket", flat=True)) == [0]
        assert list(Posting.objects.filter(account=account).order_by("entry_number")
                    .values_list("bucket", "entry_number")) == [(0, n) for n in range(1, 21)]
    assert_ledger_consistent()


@pytest.mark.django_db
def test_raising_the_bucket_count_adds_buckets_on_first_use(buckets, settings):
    alice = AccountFactory()
    deposit(account_id=alice.id, amount=10, reference="before", owner="client-a")
    settings.MINTGUARD_SYSTEM_BALANCE_BUCKETS = 9
    for n in range(30):
        deposit(account_id=alice.id, amount=1, reference=f"after-{n}", owner="client-a")

    assert BalanceBucket.objects.filter(account_id=system_account_id("cash", "USD")).count() == 9
    assert cash_usd().balance == 40
    assert_ledger_consistent()


@pytest.mark.django_db
def test_a_system_account_statement_pages_through_every_bucket_without_skip_or_repeat(buckets):
    alice = AccountFactory()
    for n in range(45):
        deposit(account_id=alice.id, amount=n + 1, reference=f"first-{n}", owner="client-a")
    before_walk = set(Posting.objects.filter(account_id=system_account_id("cash", "USD")).values_list("pk", flat=True))

    seen, position, pages = [], None, 0
    while True:
        page, position = selectors.statement_page(account=cash_usd(), limit=7, before=position)
        seen.extend(page)
        pages += 1
        # postings keep arriving while the walk goes on
        for n in range(3):
            deposit(account_id=alice.id, amount=1, reference=f"during-{pages}-{n}", owner="client-a")
        if position is None:
            break
        assert len(position) == 4

    ids = [p.pk for p in seen]
    assert len(ids) == len(set(ids)), "a posting was shown twice"
    assert before_walk <= set(ids), "a posting was skipped"
    assert pages == 7  # 45 postings, 7 a page
    by_bucket = defaultdict(list)
    for posting in seen:
        by_bucket[posting.bucket].append(posting.entry_number)
    for numbers in by_bucket.values():
        assert numbers == sorted(numbers, reverse=True)  # each bucket read newest first, in order


@pytest.mark.django_db
def test_a_statement_position_of_another_shape_is_refused(buckets):
    deposit(account_id=AccountFactory().id, amount=5, reference="d", owner="client-a")
    with pytest.raises(InvalidStatementPosition):
        selectors.statement_page(account=cash_usd(), limit=5, before=[3, 3, 3, 3, 3])
    with pytest.raises(InvalidStatementPosition):
        selectors.statement_page(account=cash_usd(), limit=5, before=[1, 1, "x", 1])


@pytest.mark.django_db
def test_reconciliation_names_the_bucket_that_drifted(buckets):
    alice = AccountFactory()
    for n in range(12):
        deposit(account_id=alice.id, amount=10, reference=f"d-{n}", owner="client-a")
    cash = system_account_id("cash", "USD")
    BalanceBucket.objects.filter(account_id=cash, bucket=2).update(balance=-1)  # raw damage, as a bad script would

    run = reconciliation.reconcile_run(store=False)

    drifts = [d for d in run.drifts if d["check"] == reconciliation.BALANCE_MATCHES_POSTINGS]
    assert [d["account_id"] for d in drifts] == [str(cash)]
    assert drifts[0]["message"].startswith(f"System account {cash} (cash, USD), bucket 2: stored balance -1")


@pytest.mark.django_db
def test_reconciliation_finds_postings_booked_to_a_bucket_that_does_not_exist():
    alice, bob = AccountFactory(balance=50), AccountFactory()
    services.transfer_create(source_id=alice.id, destination_id=bob.id, amount=5, reference="t", owner="client-a")
    # As a bad migration could: move bob's posting to bucket 3, which a customer account never has.
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")  # past the append-only trigger
        cursor.execute("UPDATE ledger_posting SET bucket = 3 WHERE account_id = %s",
                       [bob.id.hex if connection.vendor == "sqlite" else bob.id])

    run = reconciliation.reconcile_run(store=False)

    missing = [d for d in run.drifts if d["check"] == reconciliation.BUCKET_EXISTS]
    assert [(d["account_id"], d["actual"]) for d in missing] == [(str(bob.id), 1)]


@pytest.mark.django_db(transaction=True)
def test_concurrent_deposits_all_crediting_cash_conserve_money(buckets):
    accounts = [AccountFactory() for _ in range(8)]
    calls = [(accounts[n % 8], n % 50 + 1, f"hot-{n}") for n in range(400)]

    results = run_concurrently(
        lambda account, amount, reference: deposit(account_id=account.id, amount=amount, reference=reference,
                                                   owner="client-a"),
        calls, workers=8,
    )

    assert [r for r in results if isinstance(r, Exception)] == []
    assert cash_usd().balance == sum(amount for _, amount, _ in calls)
    assert sum(Account.objects.with_balance().filter(pk__in=[a.pk for a in accounts])
               .values_list("balance", flat=True)) == cash_usd().balance
    assert_ledger_consistent()


def _deposit_holding_the_lock(account, held, release):
    """Deposit, then keep the transaction (and its bucket lock on cash) open until released."""
    try:
        with transaction.atomic():
            deposit(account_id=account.id, amount=1, reference="held", owner="client-a")
            held.set()
            release.wait(WAIT)
    finally:
        connection.close()


def _deposit_while_cash_is_locked(settings, monkeypatch, *, buckets: int) -> None:
    settings.MINTGUARD_SYSTEM_BALANCE_BUCKETS = buckets
    turns = iter(range(100))
    monkeypatch.setattr(postings, "random", type("Turns", (), {"randrange": lambda self, n: next(turns) % n})())
    services.system_accounts_create(currencies=["USD"])  # committed, so neither deposit creates them
    alice, bob = AccountFactory(), AccountFactory()  # no postings yet: the next bucket picked is 0
    held, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_deposit_holding_the_lock, args=(alice, held, release))
    holder.start()
    try:
        assert held.wait(WAIT)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '1s'")
            deposit(account_id=bob.id, amount=1, reference="beside", owner="client-a")
    finally:
        release.set()
        holder.join(WAIT)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_deposit_proceeds_while_another_holds_a_cash_bucket(settings, monkeypatch):
    # one transaction holds bucket 0 of cash; the next one takes bucket 1 and commits at once
    _deposit_while_cash_is_locked(settings, monkeypatch, buckets=2)

    assert cash_usd().balance == 2
    assert sorted(Posting.objects.filter(account=cash_usd()).values_list("bucket", flat=True)) == [0, 1]
    assert_ledger_consistent()


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_with_one_bucket_a_deposit_queues_behind_the_holder(settings, monkeypatch):
    # the control: one bucket means one lock, so the second deposit waits past its lock timeout
    with pytest.raises(OperationalError, match="lock timeout"):
        _deposit_while_cash_is_locked(settings, monkeypatch, buckets=1)

    assert cash_usd().balance == 1
