import pytest

from ledger import selectors
from ledger.currencies import currency_exponent, format_amount
from ledger.exceptions import (
    BalanceLimitExceeded,
    CurrencyMismatch,
    InsufficientFunds,
    InvalidAmount,
    InvalidTransaction,
    ReferenceConflict,
    SelfTransfer,
    UnbalancedTransaction,
    UnknownCurrency,
)
from ledger.models import BALANCE_LIMIT, Account, BalanceBucket, Direction, Posting, ReferenceNamespace, Transaction
from ledger.services import (
    Leg,
    account_create,
    deposit,
    system_account_id,
    transaction_post,
    transfer_create,
    withdraw,
)

from .factories import AccountFactory
from .invariants import assert_ledger_consistent

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("ledger_engine")]

D, C = Direction.DEBIT, Direction.CREDIT
CLIENT = ReferenceNamespace.CLIENT


def balance(account: Account) -> int:
    return Account.objects.with_balance().get(pk=account.pk).balance


def test_deposit_posts_balanced_double_entry_against_cash():
    alice = AccountFactory()

    txn = deposit(account_id=alice.id, amount=1_000, reference="dep-1", owner="client-a")

    postings = {p.account_id: p for p in txn.postings.all()}
    cash = system_account_id("cash", "USD")
    assert (postings[cash].direction, postings[cash].amount) == (D, 1_000)
    assert (postings[alice.id].direction, postings[alice.id].amount) == (C, 1_000)
    assert postings[alice.id].entry_number == 1 and postings[alice.id].balance_after == 1_000
    assert balance(alice) == 1_000
    assert Account.objects.with_balance().get(pk=cash).balance == 1_000  # asset, debit-normal
    assert_ledger_consistent()


def test_transfer_moves_money_and_conserves_the_total():
    alice, bob = AccountFactory(balance=5_000), AccountFactory(balance=1_000)

    txn = transfer_create(source_id=alice.id, destination_id=bob.id, amount=1_200, reference="t-1", owner="client-a")

    assert sorted((p.direction, p.amount) for p in txn.postings.all()) == [(C, 1_200), (D, 1_200)]
    assert (balance(alice), balance(bob)) == (3_800, 2_200)
    assert_ledger_consistent()


def test_withdraw_beyond_balance_is_insufficient_funds_and_leaves_no_rows():
    alice = AccountFactory(balance=1_200)
    rows_before = (Transaction.objects.count(), Posting.objects.count())

    with pytest.raises(InsufficientFunds) as error:
        withdraw(account_id=alice.id, amount=5_000, reference="w-1", owner="client-a")

    assert error.value.code == "insufficient_funds"
    assert f"Account {alice.id} has 1200 USD available, 5000 requested." == error.value.detail
    assert (Transaction.objects.count(), Posting.objects.count()) == rows_before
    assert balance(alice) == 1_200


def test_unbalanced_transaction_is_rejected_and_leaves_no_rows():
    alice = AccountFactory()
    cash = system_account_id("cash", "USD")

    with pytest.raises(UnbalancedTransaction):
        transaction_post(namespace=CLIENT, reference="bad", kind="test",
                         legs=[Leg(cash, D, 100), Leg(alice.id, C, 90)])

    assert Transaction.objects.count() == 0 and Posting.objects.count() == 0


def test_single_posting_is_rejected():
    alice = AccountFactory()
    with pytest.raises(InvalidTransaction, match="at least two"):
        transaction_post(namespace=CLIENT, reference="one", kind="test", legs=[Leg(alice.id, C, 100)])
    assert Transaction.objects.count() == 0


@pytest.mark.parametrize("amount", [0, -5, 10**15 + 1, 1.5, "100", True])
def test_amount_that_is_not_a_positive_integer_within_limit_is_rejected(amount):
    alice = AccountFactory()
    with pytest.raises(InvalidAmount):
        deposit(account_id=alice.id, amount=amount, reference="x", owner="client-a")
    assert Posting.objects.count() == 0


def test_transfer_between_currencies_is_currency_mismatch():
    dollars, yen = AccountFactory(balance=1_000), AccountFactory(currency="JPY", balance=1_000)
    postings_before = Posting.objects.count()

    with pytest.raises(CurrencyMismatch):
        transfer_create(source_id=dollars.id, destination_id=yen.id, amount=100, reference="fx", owner="client-a")
    with pytest.raises(CurrencyMismatch):
        transaction_post(namespace=CLIENT, reference="fx2", kind="test",
                         legs=[Leg(dollars.id, D, 100), Leg(yen.id, C, 100)])

    assert Posting.objects.count() == postings_before


def test_self_transfer_is_rejected():
    alice = AccountFactory(balance=100)
    with pytest.raises(SelfTransfer):
        transfer_create(source_id=alice.id, destination_id=alice.id, amount=10, reference="self", owner="client-a")


def test_same_reference_and_same_postings_returns_the_original_transaction():
    alice = AccountFactory()
    first = deposit(account_id=alice.id, amount=700, reference="dep-x", owner="client-a")

    again = deposit(account_id=alice.id, amount=700, reference="dep-x", owner="client-a")

    assert again.pk == first.pk
    assert Transaction.objects.filter(reference="dep-x").count() == 1
    assert balance(alice) == 700


def test_same_reference_with_other_postings_is_a_conflict():
    alice = AccountFactory()
    deposit(account_id=alice.id, amount=700, reference="dep-y", owner="client-a")

    with pytest.raises(ReferenceConflict):
        deposit(account_id=alice.id, amount=701, reference="dep-y", owner="client-a")

    assert balance(alice) == 700


def test_references_are_scoped_per_owner():
    alice = AccountFactory(owner="client-a")
    bob = AccountFactory(owner="client-b")
    deposit(account_id=alice.id, amount=1, reference="same", owner="client-a")
    deposit(account_id=bob.id, amount=2, reference="same", owner="client-b")
    assert Transaction.objects.filter(reference="same").count() == 2


def test_balance_limit_is_enforced():
    alice = AccountFactory(balance=10)
    BalanceBucket.objects.filter(account=alice).update(balance=BALANCE_LIMIT - 5)

    with pytest.raises(BalanceLimitExceeded):
        deposit(account_id=alice.id, amount=6, reference="too-much", owner="client-a")
    assert balance(alice) == BALANCE_LIMIT - 5


def test_unknown_currency_is_rejected_and_custom_assets_have_their_exponent():
    with pytest.raises(UnknownCurrency):
        account_create(owner="client-a", name="X", currency="XYZ")
    with pytest.raises(UnknownCurrency):
        account_create(owner="client-a", name="X", currency="usd")
    assert (currency_exponent("USD"), currency_exponent("JPY"), currency_exponent("BHD")) == (2, 0, 3)
    assert currency_exponent("GOLD") == 0
    assert format_amount(1200, "USD") == "12.00 USD"
    assert format_amount(1200, "JPY") == "1,200 JPY"
    assert format_amount(35, "GOLD") == "35 GOLD"


def test_system_accounts_are_created_on_first_use_once_per_currency():
    gold = AccountFactory(currency="GOLD")
    deposit(account_id=gold.id, amount=5, reference="g1", owner="client-a")
    deposit(account_id=gold.id, amount=5, reference="g2", owner="client-a")

    system = Account.objects.filter(is_system=True, currency="GOLD")
    assert sorted(system.values_list("name", flat=True)) == sorted(
        ["bonus_expense", "cash", "equity", "provider_fees", "revenue", "seller_payable", "treasury"]
    )
    assert system.get(name="cash").balance == 10
    assert system.get(name="cash").allow_negative


def test_entry_numbers_and_balance_after_chain_per_account():
    alice, bob = AccountFactory(balance=1_000), AccountFactory()
    for n in range(5):
        transfer_create(source_id=alice.id, destination_id=bob.id, amount=100, reference=f"chain-{n}", owner="client-a")
    withdraw(account_id=bob.id, amount=50, reference="w", owner="client-a")

    statement, position = selectors.statement_page(account=bob, limit=10)
    assert position is None
    assert [p.entry_number for p in statement] == [6, 5, 4, 3, 2, 1]
    assert [p.balance_after for p in statement] == [450, 500, 400, 300, 200, 100]
    page, position = selectors.statement_page(account=bob, limit=2, before=[5])
    assert [p.entry_number for p in page] == [4, 3]
    assert position == [3]
    assert_ledger_consistent()


def test_a_posted_transactions_postings_are_its_own_whether_read_or_queried():
    alice, bob = AccountFactory(balance=100), AccountFactory()
    txn = transfer_create(source_id=alice.id, destination_id=bob.id, amount=30, reference="t", owner="client-a")

    # served from memory, as posted
    assert sorted((p.account_id, p.direction, p.amount) for p in txn.postings.all()) == sorted(
        [(alice.id, "DEBIT", 30), (bob.id, "CREDIT", 30)])
    # anything chained queries this transaction's postings, not every posting (alice's deposit too)
    assert sorted(p.account.name for p in txn.postings.select_related("account")) == sorted([alice.name, bob.name])
    assert [p.account_id for p in txn.postings.filter(direction="DEBIT")] == [alice.id]
    assert txn.postings.count() == 2 and Posting.objects.count() == 4
