import pytest

from ledger.exceptions import InsufficientFunds, InvalidAmount, UnknownCurrency
from ledger.models import Account, Transaction
from wallets.models import Wallet
from wallets.services import wallet_account_name, wallet_get_or_create, wallet_spend, wallet_topup

from .factories import WalletFactory

pytestmark = pytest.mark.django_db


def test_wallet_account_is_a_customer_liability_of_the_client_that_never_goes_negative():
    wallet = wallet_get_or_create(owner="client-a", user_id="user-ana", currency="JPY")

    account = wallet.account
    assert (account.owner, account.name, account.currency) == ("client-a", "wallet:user-ana", "JPY")
    assert (account.kind, account.is_system, account.allow_negative) == ("liability", False, False)
    assert wallet_get_or_create(owner="client-a", user_id="user-ana", currency="JPY") == wallet
    assert Wallet.objects.count() == Account.objects.count() == 1


def test_wallet_account_name_fits_the_ledgers_64_char_column():
    assert wallet_account_name("ana") == "wallet:ana"
    long_name = wallet_account_name("u" * 64)
    assert len(long_name) == 64 and long_name.startswith("wallet:uuu") and long_name.endswith("…")


def test_topup_in_an_unknown_currency_opens_nothing():
    with pytest.raises(UnknownCurrency):
        wallet_topup(owner="client-a", user_id="user-ana", amount=100, currency="XYZ", reference="r-1")

    assert Wallet.objects.count() == Account.objects.count() == 0


def test_spend_without_a_wallet_refuses_bad_amounts_before_reporting_no_funds():
    with pytest.raises(InvalidAmount):
        wallet_spend(owner="client-a", user_id="user-ana", amount=0, reference="s-1")
    with pytest.raises(InsufficientFunds) as error:
        wallet_spend(owner="client-a", user_id="user-ana", amount=10, reference="s-1")

    assert (error.value.context["available"], error.value.context["requested"]) == (0, 10)
    assert Transaction.objects.count() == Wallet.objects.count() == 0


def test_a_failed_spend_rolls_back_with_the_wallet_untouched():
    wallet = WalletFactory(balance=100)

    with pytest.raises(InsufficientFunds):
        wallet_spend(owner=wallet.owner, user_id=wallet.user_id, amount=101, reference="s-1")

    assert Account.objects.with_balance().get(pk=wallet.account_id).balance == 100
    assert not Transaction.objects.filter(reference="s-1").exists()
