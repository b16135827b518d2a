import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ledger.exceptions import InsufficientFunds, InvalidAmount, UnknownCurrency
from ledger.models import Account, BalanceBucket, Transaction
from wallets.models import Wallet
from wallets.services import _wallet_open, wallet_account_name, wallet_get_or_create, wallet_spend, wallet_topup

from .factories import WalletFactory

pytestmark = pytest.mark.django_db


def statements_of(call) -> tuple[object, list[str]]:
    """Call, and name each statement it sent by its verb and first quoted table."""
    with CaptureQueriesContext(connection) as captured:
        result = call()
    return result, [q["sql"].split(" ", 1)[0] + " " + q["sql"].split('"')[1] for q in captured.captured_queries]


def test_wallet_account_is_a_customer_liability_of_the_client_that_never_goes_negative():
    wallet = wallet_get_or_create(owner="client-a", user_id="user-ana", currency="JPY")

    stored = Wallet.objects.select_related("account").get(pk=wallet.id)
    account = stored.account
    assert (stored.owner, stored.user_id, stored.currency, account.id) == ("client-a", "user-ana", "JPY",
                                                                          wallet.account_id)
    assert (account.owner, account.name, account.currency) == ("client-a", "wallet:user-ana", "JPY")
    assert (account.kind, account.is_system, account.allow_negative, account.managed_by) == (
        "liability", False, False, "wallet")
    assert list(account.balance_buckets.values_list("bucket", "balance", "allow_negative")) == [(0, 0, False)]
    assert wallet_get_or_create(owner="client-a", user_id="user-ana", currency="JPY") == wallet
    assert Wallet.objects.count() == Account.objects.count() == BalanceBucket.objects.count() == 1


def test_an_open_wallet_is_found_by_one_statement_and_a_new_one_opens_with_three_inserts_and_no_savepoint():
    opened, opening = statements_of(lambda: wallet_get_or_create(owner="client-a", user_id="user-ana",
                                                                 currency="USD"))
    found, finding = statements_of(lambda: wallet_get_or_create(owner="client-a", user_id="user-ana",
                                                                currency="USD"))

    assert found == opened
    assert finding == ["SELECT wallets_wallet"]
    assert opening == ["SELECT wallets_wallet", "INSERT wallets_wallet", "INSERT ledger_account",
                       "INSERT ledger_balancebucket"]


def test_opening_a_wallet_another_top_up_opened_first_opens_no_account_and_finds_that_wallet():
    # given: the wallet a concurrent first top-up committed after this one looked and found nothing
    winner = wallet_get_or_create(owner="client-a", user_id="user-ana", currency="USD")

    # when
    lost = _wallet_open(owner="client-a", user_id="user-ana", currency="USD")

    # then
    assert lost is None
    assert Wallet.objects.count() == Account.objects.count() == BalanceBucket.objects.count() == 1
    assert wallet_get_or_create(owner="client-a", user_id="user-ana", currency="USD") == winner


def test_wallet_account_name_fits_the_ledgers_64_char_column():
    assert wallet_account_name("ana") == "wallet:ana"
    long_name = wallet_account_name("u" * 64)
    assert len(long_name) == 64 and long_name.startswith("wallet:uuu") and long_name.endswith("…")


def test_a_wallet_in_an_unknown_currency_never_opens():
    with pytest.raises(UnknownCurrency):
        wallet_get_or_create(owner="client-a", user_id="user-ana", currency="XYZ")

    assert Wallet.objects.count() == Account.objects.count() == 0


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
