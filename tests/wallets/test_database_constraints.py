"""The wallets constraint refuses a second wallet by itself, on SQLite and on PostgreSQL.

`wallet_topup` opens wallets race-free through this very constraint; here a raw ORM write
bypasses it, and the refusal must name the constraint.
"""

import pytest

from wallets.models import Wallet

from ..constraints import constraints_without_a_test, refused_by
from ..ledger.factories import AccountFactory
from .factories import WalletFactory

pytestmark = pytest.mark.django_db


def test_wallets_wallet_unique():
    # given alice's USD wallet
    wallet = WalletFactory(owner="client-a", user_id="alice", currency="USD")

    def another_wallet(**fields) -> Wallet:
        return Wallet.objects.create(**{"owner": "client-a", "user_id": "alice", "currency": "USD",
                                        "account": AccountFactory(owner="client-a"), **fields})

    # then a second USD wallet for her is refused; one in euros, or another client's alice, is not
    with refused_by(Wallet, "wallets_wallet_unique"):
        another_wallet()
    assert another_wallet(currency="EUR").currency == "EUR"
    assert another_wallet(owner="client-b").owner == "client-b"
    assert Wallet.objects.get(owner="client-a", user_id="alice", currency="USD") == wallet


def test_every_wallets_constraint_has_a_test_named_after_it():
    assert constraints_without_a_test(Wallet, tests=globals()) == []
