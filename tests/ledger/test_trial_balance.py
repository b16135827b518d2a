"""The trial balance: every account's balance at an instant, in the debit or credit column.

`GET /api/v1/ledger/trial-balance` (scope `books`), JSON or CSV, and the selector under it.
"""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from ledger import selectors
from ledger.models import Posting
from ledger.services import system_account_id
from mintguard_site.api.models import Scope
from mintguard_site.api.services import api_client_create

from .test_accounts_api import assert_problem, deposit, open_account, post

pytestmark = pytest.mark.django_db

URL = "/api/v1/ledger/trial-balance"
CSV_HEADER = ["currency", "account_id", "name", "debits", "credits", "balance"]


@pytest.fixture
def books(api):
    """Alice deposits 1,000 USD and sends Bob 300, Bob withdraws 50; Carol deposits 70 EUR."""
    alice, bob = open_account(api, "Alice"), open_account(api, "Bob")
    carol = open_account(api, "Carol", "EUR")
    assert deposit(api, alice["id"], 1_000, "d-1").status_code == 201
    assert post(api, "/api/v1/transfers", {"source_account_id": alice["id"], "destination_account_id": bob["id"],
                                           "amount": 300}, "t-1").status_code == 201
    assert post(api, f"/api/v1/accounts/{bob['id']}/withdraw", {"amount": 50}, "w-1").status_code == 201
    assert deposit(api, carol["id"], 70, "d-2").status_code == 201
    return {"alice": alice["id"], "bob": bob["id"], "carol": carol["id"],
            "usd_cash": str(system_account_id("cash", "USD")), "eur_cash": str(system_account_id("cash", "EUR"))}


def line(id, name, debits, credits, balance):
    return {"id": id, "name": name, "debits": debits, "credits": credits, "balance": balance}


def test_each_account_stands_in_its_debit_or_credit_column_and_the_books_balance(api, books, ledger_engine):
    body = api.get(URL).json()

    assert body["balanced"] is True
    assert body["currencies"] == {
        "EUR": {"debits": 70, "credits": 70, "accounts": [
            line(books["eur_cash"], "cash", 70, 0, 70),
            line(books["carol"], "Carol", 0, 70, 70),
        ]},
        "USD": {"debits": 950, "credits": 950, "accounts": [
            line(books["usd_cash"], "cash", 950, 0, 950),  # an asset: debit-normal
            line(books["alice"], "Alice", 0, 700, 700),  # customers are liabilities: credit-normal
            line(books["bob"], "Bob", 0, 250, 250),
        ]},
    }


def test_as_of_an_earlier_instant_leaves_out_what_came_later(api, books):
    transfer_time = Posting.objects.get(account_id=books["bob"], entry_number=1).posted_at

    body = api.get(URL, {"as_of": transfer_time.isoformat(), "currency": "USD"}).json()
    before_anything = api.get(URL, {"as_of": (transfer_time - timedelta(days=1)).isoformat()}).json()

    assert body["as_of"] == transfer_time.isoformat().replace("+00:00", "Z")
    assert body["currencies"] == {"USD": {"debits": 1_000, "credits": 1_000, "accounts": [
        line(books["usd_cash"], "cash", 1_000, 0, 1_000),
        line(books["alice"], "Alice", 0, 700, 700),
        line(books["bob"], "Bob", 0, 300, 300),
    ]}}
    assert before_anything["currencies"] == {} and before_anything["balanced"] is True


def test_the_trial_balance_balances_at_every_posting_instant(books):
    for posted_at in Posting.objects.values_list("posted_at", flat=True):
        tb = selectors.trial_balance(as_of=posted_at)
        assert tb.balanced, posted_at
        for book in tb.currencies.values():
            for account in book.accounts:
                assert selectors.account_balance_as_of(account=_account(account.id), as_of=posted_at) \
                    == account.balance


def _account(account_id):
    from ledger.models import Account

    return Account.objects.get(pk=account_id)


def test_now_and_as_of_a_later_instant_agree(api, books):
    now = api.get(URL).json()
    later = api.get(URL, {"as_of": (timezone.now() + timedelta(hours=1)).isoformat()}).json()

    assert now["currencies"] == later["currencies"]


def test_a_currency_filter_keeps_one_book(api, books):
    body = api.get(URL, {"currency": "EUR"}).json()

    assert list(body["currencies"]) == ["EUR"]


def test_another_clients_accounts_fold_into_one_line_and_the_totals_stay_whole(api, books, make_api_client):
    other = make_api_client("other")
    dave = open_account(other, "Dave")
    assert deposit(other, dave["id"], 5, "d-other").status_code == 201

    mine = api.get(URL, {"currency": "USD"}).json()["currencies"]["USD"]
    operator_view = selectors.trial_balance(currency="USD").currencies["USD"]

    assert (mine["debits"], mine["credits"]) == (955, 955)
    assert mine["accounts"][-1] == line(None, "other_clients_accounts", 0, 5, 5)
    assert dave["id"] not in str(mine)
    assert [a.name for a in operator_view.accounts] == ["cash", "Alice", "Bob", "Dave"]


def test_csv_with_accept_text_csv_streams_the_same_rows(api, books):
    response = api.get(URL, HTTP_ACCEPT="text/csv")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.streaming
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows == [
        CSV_HEADER,
        ["EUR", books["eur_cash"], "cash", "70", "0", "70"],
        ["EUR", books["carol"], "Carol", "0", "70", "70"],
        ["USD", books["usd_cash"], "cash", "950", "0", "950"],
        ["USD", books["alice"], "Alice", "0", "700", "700"],
        ["USD", books["bob"], "Bob", "0", "250", "250"],
    ]


def test_csv_with_format_csv_and_as_of(api, books):
    first = Posting.objects.order_by("id").first().posted_at

    response = api.get(URL, {"format": "csv", "as_of": first.isoformat()})

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert 'filename="trial-balance-' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows == [CSV_HEADER, ["USD", books["usd_cash"], "cash", "1000", "0", "1000"],
                    ["USD", books["alice"], "Alice", "0", "1000", "1000"]]


def test_format_json_is_the_json_body(api, books):
    response = api.get(URL, {"format": "json"})

    assert response.status_code == 200 and response.json()["balanced"] is True


@pytest.mark.parametrize("fmt", ["xml", "api2", "CSV"])
def test_an_unknown_format_is_400_invalid_parameter(api, books, fmt):
    assert_problem(api.get(URL, {"format": fmt}), 400, "invalid_parameter")


def test_an_accept_the_route_cannot_serve_is_406(api, books):
    assert_problem(api.get(URL, HTTP_ACCEPT="application/xml"), 406, "not_acceptable")


@pytest.mark.parametrize("params", [{"as_of": "2026-11-30T00:00:00"}, {"as_of": "soon"}, {"currency": "usd"},
                                    {"currency": "XYZ1"}])
@pytest.mark.parametrize("accept", ["application/json", "text/csv"])
def test_a_bad_as_of_or_currency_is_400_problem_json_even_for_csv(api, books, params, accept):
    assert_problem(api.get(URL, params, HTTP_ACCEPT=accept), 400, "invalid_parameter")


def test_a_key_without_books_gets_403_scope_denied():
    _, key = api_client_create(name="accounts-only", scopes=[Scope.ACCOUNTS])
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    assert_problem(client.get(URL), 403, "scope_denied")
    assert_problem(client.get(URL, HTTP_ACCEPT="text/csv"), 403, "scope_denied")


def test_without_a_key_it_is_401(books):
    from rest_framework.test import APIClient

    assert_problem(APIClient().get(URL), 401, "not_authenticated")


def test_an_operator_sees_every_account_and_gets_csv_too(books, viewer, make_api_client):
    other = make_api_client("other")
    dave = open_account(other, "Dave")
    assert deposit(other, dave["id"], 5, "d-other").status_code == 201

    body = viewer.get(URL, {"currency": "USD"}, HTTP_ACCEPT="application/json").json()
    csv_response = viewer.get(URL, {"format": "csv", "currency": "USD"})

    assert [a["name"] for a in body["currencies"]["USD"]["accounts"]] == ["cash", "Alice", "Bob", "Dave"]
    assert csv_response.status_code == 200
    assert dave["id"] in b"".join(csv_response.streaming_content).decode()


def test_the_csv_rows_of_the_selector_match_its_json(books):
    tb = selectors.trial_balance()

    rows = list(selectors.trial_balance_csv_rows(tb))

    assert len(rows) == sum(len(book.accounts) for book in tb.currencies.values()) == 5
    assert all(len(row) == len(selectors.TRIAL_BALANCE_CSV_HEADER) for row in rows)
