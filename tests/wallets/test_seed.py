import pytest

from ledger.models import Account, BalanceBucket, Posting, Transaction
from wallets.models import Wallet
from wallets.seed import seed_demo_wallets
from wallets.selectors import wallet_balances

from ..ledger.invariants import assert_ledger_consistent

pytestmark = pytest.mark.django_db


def snapshot():
    return (
        Wallet.objects.count(),
        Account.objects.count(),
        Transaction.objects.count(),
        Posting.objects.count(),
        sorted(BalanceBucket.objects.values_list("balance", flat=True)),
    )


def test_seed_demo_wallets_gives_demo_users_usd_and_gold_and_running_it_twice_changes_nothing():
    lines = seed_demo_wallets(owner="demo-client")
    first = snapshot()
    again = seed_demo_wallets(owner="demo-client")

    assert snapshot() == first
    assert again == lines == [
        "Demo wallet user-ana: 40 GOLD, 80.00 USD",
        "Demo wallet user-ben: 10 GOLD, 50.00 USD",
    ]
    assert wallet_balances(user_id="user-ana", owner="demo-client").totals == {"GOLD": 40, "USD": 8_000}
    assert wallet_balances(user_id="user-ben", owner="demo-client").totals == {"GOLD": 10, "USD": 5_000}
    assert set(Wallet.objects.values_list("owner", flat=True)) == {"demo-client"}
    assert_ledger_consistent()
