"""An account's statement downloads as CSV: every posting oldest first, streamed a chunk at a time,
optionally within a from/to window, for any account an operator may view."""

import csv
import io
import time
from datetime import UTC, timedelta
from urllib.parse import urlencode

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from ledger.models import Account, Posting
from ledger.selectors import statement_export_rows
from ledger.services import account_create, deposit, system_account_id, transfer_create, withdraw

from .factories import AccountFactory

pytestmark = pytest.mark.django_db

HEADER = ["posted_at", "transaction_id", "kind", "reference", "description", "direction", "amount", "currency",
          "balance_after", "bucket", "entry_number"]


def statement_url(account, **params) -> str:
    url = reverse("ledger:account-statement-csv", kwargs={"account_id": account.pk})
    return f"{url}?{urlencode(params)}" if params else url


def download(client, account, **params) -> list[dict]:
    response = client.get(statement_url(account, **params))
    assert response.status_code == 200, response.status_code
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith(f'attachment; filename="statement-{str(account.pk)[:8]}-')
    text = b"".join(response.streaming_content).decode()
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    assert reader.fieldnames == HEADER
    return rows


@pytest.fixture
def alice(ledger_engine):
    """A customer account with a deposit, a withdrawal and a transfer out, a moment apart."""
    account = account_create(owner="client-a", name="Alice", currency="USD")
    bob = account_create(owner="client-a", name="Bob", currency="USD")
    deposit(account_id=account.pk, amount=10_000, reference="dep-1", owner="client-a", description="Salary")
    withdraw(account_id=account.pk, amount=2_500, reference="wd-1", owner="client-a")
    transfer_create(source_id=account.pk, destination_id=bob.pk, amount=1_200, reference="tr-1", owner="client-a",
                    description="Rent share")
    return account


def test_the_statement_csv_lists_every_posting_oldest_first_with_running_balances(viewer, alice):
    rows = download(viewer, alice)

    postings = list(Posting.objects.filter(account=alice).select_related("transaction").order_by("entry_number"))
    assert len(rows) == len(postings) == 3
    assert [(r["kind"], r["reference"], r["direction"], r["amount"], r["balance_after"]) for r in rows] == [
        ("deposit", "dep-1", "CREDIT", "10000", "10000"),
        ("withdrawal", "wd-1", "DEBIT", "2500", "7500"),
        ("transfer", "tr-1", "DEBIT", "1200", "6300"),
    ]
    for row, posting in zip(rows, postings, strict=True):
        assert row == {
            "posted_at": posting.posted_at.isoformat(), "transaction_id": str(posting.transaction_id),
            "kind": posting.transaction.kind, "reference": posting.transaction.reference,
            "description": posting.transaction.description, "direction": posting.direction,
            "amount": str(posting.amount), "currency": "USD", "balance_after": str(posting.balance_after),
            "bucket": "0", "entry_number": str(posting.entry_number),
        }
    assert rows[0]["posted_at"].endswith("+00:00")
    assert rows[0]["description"] == "Salary"


def test_an_account_with_no_posting_downloads_the_header_alone(viewer):
    empty = AccountFactory()

    assert download(viewer, empty) == []


def test_the_from_and_to_window_includes_its_ends_as_instants_or_whole_utc_days(viewer, ledger_engine):
    account = account_create(owner="client-a", name="Alice", currency="USD")
    deposit(account_id=account.pk, amount=100, reference="early", owner="client-a")
    time.sleep(0.01)
    middle = timezone.now()
    time.sleep(0.01)
    deposit(account_id=account.pk, amount=200, reference="late", owner="client-a")
    late_at = Posting.objects.get(account=account, transaction__reference="late").posted_at
    today = timezone.now().date()

    def references(**params):
        return [row["reference"] for row in download(viewer, account, **params)]

    assert references(**{"from": middle.isoformat()}) == ["late"]
    assert references(to=middle.isoformat()) == ["early"]
    assert references(**{"from": late_at.isoformat(), "to": late_at.isoformat()}) == ["late"]  # both ends included
    assert references(**{"from": today.isoformat(), "to": today.isoformat()}) == ["early", "late"]  # whole day
    assert references(to=(today - timedelta(days=1)).isoformat()) == []
    assert references(**{"from": (today + timedelta(days=1)).isoformat()}) == []
    # A time without an offset is UTC; one with an offset is that instant.
    naive_utc = middle.astimezone(UTC).replace(tzinfo=None).isoformat()
    assert references(**{"from": naive_utc}) == ["late"]
    two_hours_east = middle.astimezone(timezone.get_fixed_timezone(120)).isoformat()
    assert references(**{"from": two_hours_east}) == ["late"]


@pytest.mark.parametrize("params", [
    {"from": "yesterday"},
    {"to": "2026-13-45"},
    {"from": "2026-02-30"},
    {"to": "9999-12-31T23:59:59-05:00"},  # past the last instant Python can hold
    {"from": "2026-12-31", "to": "2026-12-01"},  # a window that ends before it starts
    {"from": "x" * 5000},
])
def test_a_bad_date_is_a_400_not_a_500(viewer, params):
    account = AccountFactory(balance=500)

    assert viewer.get(statement_url(account, **params)).status_code == 400


def test_operators_download_any_owners_account_and_a_system_account(viewer, ledger_engine):
    theirs = AccountFactory(owner="client-b", balance=700)
    cash = Account.objects.get(pk=system_account_id("cash", "USD"))

    assert [row["amount"] for row in download(viewer, theirs)] == ["700"]
    assert [row["direction"] for row in download(viewer, cash)] == ["DEBIT"]


def test_only_signed_in_users_who_view_accounts_download_a_statement(client, as_role):
    account = AccountFactory(balance=500)
    url = statement_url(account)

    anonymous = client.get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/?next=")
    assert as_role(None).get(url).status_code == 403
    assert as_role("viewer").get(url).status_code == 200
    assert as_role(None, is_superuser=True).get(url).status_code == 200
    assert as_role("viewer").post(url).status_code == 405


def test_an_unknown_account_is_404(viewer):
    assert viewer.get("/ledger/accounts/00000000-0000-4000-8000-000000000000/statement.csv").status_code == 404


def test_a_system_accounts_statement_walks_every_bucket_once_in_posting_order(viewer, settings, ledger_engine):
    settings.MINTGUARD_SYSTEM_BALANCE_BUCKETS = 3
    payer = account_create(owner="client-a", name="Payer", currency="USD")
    for n in range(40):
        deposit(account_id=payer.pk, amount=n + 1, reference=f"dep-{n}", owner="client-a")
    cash = Account.objects.get(pk=system_account_id("cash", "USD"))

    rows = download(viewer, cash)

    assert len(rows) == 40 and len({row["transaction_id"] for row in rows}) == 40
    assert sorted(int(row["amount"]) for row in rows) == list(range(1, 41))
    assert [row["posted_at"] for row in rows] == sorted(row["posted_at"] for row in rows)
    for bucket in {row["bucket"] for row in rows}:
        numbers = [int(row["entry_number"]) for row in rows if row["bucket"] == bucket]
        assert numbers == list(range(1, len(numbers) + 1))  # each bucket whole and in entry order


def test_the_statement_is_read_a_chunk_at_a_time_and_all_of_it(ledger_engine):
    account = AccountFactory(balance=1)
    for n in range(24):
        deposit(account_id=account.pk, amount=n + 2, reference=f"dep-{n}", owner="client-a")

    with CaptureQueriesContext(connection) as queries:
        rows = list(statement_export_rows(account=account, chunk_size=10))

    assert [row[6] for row in rows] == list(range(1, 26))  # amount: every posting once, oldest first
    assert len(queries.captured_queries) == 1 + 3  # the buckets' last entries, then chunks of 10, 10 and 5


def test_postings_made_while_the_statement_streams_are_left_for_the_next_download(ledger_engine):
    account = AccountFactory(balance=100)
    for n in range(4):
        deposit(account_id=account.pk, amount=1, reference=f"dep-{n}", owner="client-a")

    rows = statement_export_rows(account=account, chunk_size=2)
    first = next(rows)
    deposit(account_id=account.pk, amount=1, reference="while-streaming", owner="client-a")

    assert [first[3], *(row[3] for row in rows)] == [f"fund:{account.pk}", "dep-0", "dep-1", "dep-2", "dep-3"]


def test_the_account_page_offers_the_statement_download_with_a_window(viewer):
    account = AccountFactory(balance=500)

    page = viewer.get(f"/ledger/accounts/{account.pk}/").content.decode()

    assert f'action="{statement_url(account)}"' in page
    assert 'name="from"' in page and 'name="to"' in page
