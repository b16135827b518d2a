"""The wallets constraints refuse a second wallet, or a second hold of one reference_id, by themselves,
on SQLite and on PostgreSQL.

`wallet_topup` opens wallets race-free through the first; `wallet_hold_create` checks the second
first, for a clear error. Here a raw ORM write bypasses them, and the refusal must name the constraint.
"""

import pytest

from wallets.models import Wallet, WalletHold
from wallets.services import wallet_hold_create

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


def test_wallets_hold_reference_unique():
    # given a hold of alice's wallet under reference_id "order-1"
    wallet = WalletFactory(owner="client-a", user_id="alice", balance=500)
    first = wallet_hold_create(owner="client-a", user_id="alice", amount=100, reference="order-1")
    second = wallet_hold_create(owner="client-a", user_id="alice", amount=100, reference="order-2")

    # then a second hold of that reference_id is refused; another client's "order-1" is not
    with refused_by(WalletHold, "wallets_hold_reference_unique"):
        WalletHold.objects.filter(pk=second.pk).update(reference_id="order-1")
    WalletHold.objects.filter(pk=second.pk).update(owner="client-b", reference_id="order-1")
    assert WalletHold.objects.get(owner="client-a", reference_id="order-1").pk == first.pk
    assert WalletHold.objects.get(pk=second.pk).wallet_id == wallet.pk


def test_every_wallets_constraint_has_a_test_named_after_it():
    assert constraints_without_a_test(Wallet, WalletHold, tests=globals()) == []
