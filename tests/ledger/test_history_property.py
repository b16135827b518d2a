"""Property: for any history and any instant, the balance as of it is the sum of the postings up to it.

Hypothesis posts random deposits, withdrawals and transfers between customer accounts (USD and
EUR) through the services, so system accounts spread over several balance buckets, then asks
`account_balance_as_of` and `trial_balance` about random instants: at a posting, a microsecond
either side of it, and before and after everything. Each must equal the sum of the postings with
`posted_at` at or before the instant, summed naively here, and the trial balance must balance.
No clock is frozen: the instants come from the postings the engine wrote. Each example runs in a
savepoint rolled back at its end, so examples never see each other's rows.
"""

from datetime import timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import selectors
from ledger.exceptions import InsufficientFunds
from ledger.models import DEBIT_NORMAL_KINDS, Account, Posting, balance_effect
from ledger.services import account_create, deposit, transfer_create, withdraw

pytestmark = pytest.mark.django_db

OWNER = "history-client"
US = timedelta(microseconds=1)

operations = st.lists(
    st.tuples(st.sampled_from(["deposit", "withdraw", "transfer"]), st.integers(0, 3), st.integers(0, 3),
              st.integers(1, 5_000)),
    min_size=1, max_size=25,
)


class Rollback(Exception):  # noqa: N818 - ends the example's savepoint
    pass


def _post(kind: str, accounts: list[Account], source: int, destination: int, amount: int, n: int) -> None:
    account = accounts[source]
    try:
        if kind == "deposit":
            deposit(account_id=account.id, amount=amount, reference=f"op-{n}", owner=OWNER)
        elif kind == "withdraw":
            withdraw(account_id=account.id, amount=amount, reference=f"op-{n}", owner=OWNER)
        else:
            other = accounts[destination]
            if other.id == account.id or other.currency != account.currency:
                other = next(a for a in accounts if a.id != account.id and a.currency == account.currency)
            transfer_create(source_id=account.id, destination_id=other.id, amount=amount, reference=f"op-{n}",
                            owner=OWNER)
    except InsufficientFunds:
        pass  # refused: nothing posted, which the sums below see too


def _sum_up_to(postings: list[Posting], account: Account, instant) -> int:
    debit_normal = account.kind in DEBIT_NORMAL_KINDS
    return sum(balance_effect(debit_normal=debit_normal, direction=p.direction, amount=p.amount)
               for p in postings if p.account_id == account.id and p.posted_at <= instant)


@pytest.fixture
def system_buckets(settings):
    settings.MINTGUARD_SYSTEM_BALANCE_BUCKETS = 3


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(ops=operations, data=st.data())
def test_as_of_equals_the_sum_of_postings_up_to_the_instant(ledger_engine, system_buckets, ops, data):
    try:
        with transaction.atomic():
            _check(ops, data)
            raise Rollback
    except Rollback:
        pass


def _check(ops, data) -> None:
    accounts = [account_create(owner=OWNER, name=f"Customer {n}", currency=currency)
                for n, currency in enumerate(["USD", "USD", "EUR", "EUR"])]
    for n, (kind, source, destination, amount) in enumerate(ops):
        _post(kind, accounts, source, destination, amount, n)
    postings = list(Posting.objects.all())
    every_account = list(Account.objects.filter(pk__in={p.account_id for p in postings} | {a.id for a in accounts}))
    moments = sorted({p.posted_at for p in postings})
    if not moments:
        return
    candidates = [moments[0] - timedelta(days=1), moments[-1] + timedelta(days=1)]
    candidates += [m + shift for m in moments for shift in (-US, timedelta(0), US)]
    instants = data.draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=6), label="instants")

    for instant in instants:
        expected = {a.id: _sum_up_to(postings, a, instant) for a in every_account}
        for account in every_account:
            assert selectors.account_balance_as_of(account=account, as_of=instant) == expected[account.id], \
                (account, instant)
        tb = selectors.trial_balance(as_of=instant)
        assert tb.balanced
        listed = {row.id: row.balance for book in tb.currencies.values() for row in book.accounts}
        assert listed == {a.id: expected[a.id] for a in every_account
                          if any(p.account_id == a.id and p.posted_at <= instant for p in postings)}
        if any(a.is_system for a in every_account):  # a system account's buckets, window by window
            cash = next(a for a in every_account if a.is_system)
            window = selectors.statement_window(account=cash, start=instant, end=None)
            assert window.opening_balance == _sum_up_to(postings, cash, instant - US)
