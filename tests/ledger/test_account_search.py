"""The ledger page's customer accounts: search by id, name, owner or balance, filters, sorting, paging."""

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest

from ledger.models import Account

from ..list_paging import assert_pages_both_ways, result_count
from .factories import AccountFactory

pytestmark = pytest.mark.django_db

ROW = '<td class="num muted">'  # the entries column: one per customer account


def listed(client, **params) -> str:
    return client.get(f"/ledger/?{urlencode(params)}").content.decode()


def accounts_in_bulk(n: int, *, start: datetime, currency: str = "USD") -> None:
    Account.objects.bulk_create([
        Account(owner="client-b", name=f"Crowd {i}", currency=currency, created_at=start + timedelta(minutes=i))
        for i in range(n)
    ])


def test_the_search_finds_an_account_by_id_prefix_name_owner_or_balance(viewer):
    ann = AccountFactory(name="Ann's savings", owner="client-ann", balance=100_000)
    AccountFactory(name="Bob's savings", balance=5_000)

    for typed in (str(ann.pk)[:8], "ann's", "client-ann", "1,000.00", "$1,000"):
        page = listed(viewer, q=typed)
        assert result_count(page) == "1-1 of 1", typed
        assert f"/ledger/accounts/{ann.pk}/" in page


def test_filters_and_sorting(viewer):
    AccountFactory(name="Small", balance=100)
    AccountFactory(name="Large", balance=90_000)
    AccountFactory(name="Euros", currency="EUR")
    accounts_in_bulk(2, start=datetime(2026, 1, 5, 23, 59, tzinfo=UTC), currency="GBP")

    assert result_count(listed(viewer, currency="EUR")) == "1-1 of 1"
    assert result_count(listed(viewer, **{"from": "2026-01-05", "to": "2026-01-05"})) == "1-1 of 1"
    by_balance = listed(viewer, sort="-amount")
    assert by_balance.index("<td>Large</td>") < by_balance.index("<td>Small</td>") < by_balance.index("<td>Crowd 0")
    oldest_first = listed(viewer, sort="created")
    assert oldest_first.index("<td>Crowd 0") < oldest_first.index("<td>Crowd 1") < oldest_first.index("<td>Small</td>")


@pytest.mark.parametrize("total", [0, 1, 50, 51, 326])
def test_counts_and_paging_both_ways_are_right(viewer, total):
    accounts_in_bulk(total, start=datetime(2026, 1, 1, tzinfo=UTC))

    assert_pages_both_ways(viewer, "/ledger/?currency=USD", total=total, row_marker=ROW)


def test_an_empty_result_says_why_and_offers_to_clear_the_filters(viewer):
    page = listed(viewer, q="walnut", currency="EUR", to="2026-01-31")

    assert "No customer accounts match “walnut” in EUR to Jan 31, 2026 (UTC)." in page
    assert '<a href="/ledger/" data-testid="clear-filters">Clear filters</a>' in page
