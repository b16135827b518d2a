"""The wallets page: a user's wallets by user id, or every wallet, filtered, sorted and paged with a count."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ledger.models import Account
from wallets.models import Wallet

from ..list_paging import assert_pages_both_ways, result_count
from ..query_counts import page_queries

pytestmark = pytest.mark.django_db


def wallets_in_bulk(n: int, *, currency: str = "USD", start=datetime(2026, 4, 1, tzinfo=UTC)) -> None:
    accounts = Account.objects.bulk_create([
        Account(id=uuid.uuid4(), owner="client-a", name=f"wallet {i}", currency=currency) for i in range(n)
    ])
    Wallet.objects.bulk_create([
        Wallet(owner="client-a", user_id=f"user-{currency}-{i}", currency=currency, account=account,
               created_at=start + timedelta(minutes=i))
        for i, account in enumerate(accounts)
    ])


@pytest.mark.parametrize("total", [0, 1, 50, 51, 326])
def test_every_wallet_is_counted_and_paged_both_ways(viewer, total):
    wallets_in_bulk(total)

    assert_pages_both_ways(viewer, "/wallets/?sort=created", total=total, row_marker='<a href="?user_id=')


def test_the_list_filters_by_currency_and_date_and_sorts_both_ways(viewer):
    wallets_in_bulk(2)
    wallets_in_bulk(1, currency="EUR", start=datetime(2026, 5, 1, tzinfo=UTC))

    assert result_count(viewer.get("/wallets/?currency=EUR").content.decode()) == "1-1 of 1"
    assert result_count(viewer.get("/wallets/?from=2026-04-02").content.decode()) == "1-1 of 1"
    newest = viewer.get("/wallets/").content.decode()
    assert newest.index("user-EUR-0") < newest.index("user-USD-1") < newest.index("user-USD-0")
    oldest = viewer.get("/wallets/?sort=created").content.decode()
    assert oldest.index("user-USD-0") < oldest.index("user-USD-1") < oldest.index("user-EUR-0")
    empty = viewer.get("/wallets/?currency=GBP").content.decode()
    assert "No wallets in GBP opened." in empty and "Clear filters" in empty


def test_looking_a_user_up_still_shows_their_wallets(viewer):
    wallets_in_bulk(1)

    page = viewer.get("/wallets/?user_id=user-USD-0").content.decode()

    assert 'data-testid="wallet-balances"' in page and 'data-testid="result-count"' not in page


def test_the_list_costs_the_same_with_fifty_wallets_as_with_one(viewer, django_assert_max_num_queries):
    wallets_in_bulk(1)
    one = page_queries(viewer, "/wallets/")
    wallets_in_bulk(60, currency="EUR")

    with django_assert_max_num_queries(one):
        assert viewer.get("/wallets/").content.decode().count('<a href="?user_id=') == 50


def test_the_box_looks_a_user_up_exactly_or_else_lists_the_wallets_whose_user_id_contains_it(viewer):
    wallets_in_bulk(3)  # user-USD-0, user-USD-1, user-USD-2

    exact = viewer.get("/wallets/?user_id=user-USD-1").content.decode()
    partial = viewer.get("/wallets/?user_id=USD-1").content.decode()
    none = viewer.get("/wallets/?user_id=nobody").content.decode()

    assert 'data-testid="wallet-balances"' in exact
    assert "No wallet for exactly" in partial and result_count(partial) == "1-1 of 1" and "user-USD-1" in partial
    assert "nor any whose user id contains it" in none
