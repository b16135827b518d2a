"""Many threads transferring among few accounts: money is conserved and nothing deadlocks.

Runs on PostgreSQL (row locks in pk order) and on SQLite (a file database, IMMEDIATE
transactions queue on the busy timeout).
"""

import random

import pytest

from ledger.exceptions import InsufficientFunds
from ledger.models import Account
from ledger.services import transfer_create

from ..concurrency import run_concurrently
from .factories import AccountFactory
from .invariants import assert_ledger_consistent

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("ledger_engine")]

ACCOUNTS, OPENING, THREADS, TRANSFERS = 10, 1_000, 8, 1_600


def test_random_concurrent_transfers_conserve_money_and_never_overdraw():
    # given ten funded customer accounts
    accounts = [AccountFactory(balance=OPENING) for _ in range(ACCOUNTS)]
    rng = random.Random(20261121)
    calls = []
    for n in range(TRANSFERS):
        source, destination = rng.sample(accounts, 2)
        calls.append((source, destination, rng.randint(1, 400), f"race-{n}"))

    def transfer(source: Account, destination: Account, amount: int, reference: str):
        return transfer_create(
            source_id=source.id, destination_id=destination.id, amount=amount, reference=reference, owner="client-a"
        )

    # when eight threads run 1,600 random transfers, some of them overdrafts
    results = run_concurrently(transfer, calls, workers=THREADS)

    # then every outcome is a transfer or a clean refusal: no deadlock, no serialization error
    refused = [r for r in results if isinstance(r, InsufficientFunds)]
    unexpected = [r for r in results if isinstance(r, Exception) and not isinstance(r, InsufficientFunds)]
    assert unexpected == []
    assert refused, "the workload should include overdraft attempts"
    assert len(results) - len(refused) > TRANSFERS // 2
    balances = Account.objects.with_balance().filter(pk__in=[a.pk for a in accounts]).values_list("balance", flat=True)
    assert sum(balances) == ACCOUNTS * OPENING
    assert min(balances) >= 0
    assert_ledger_consistent()
