"""Balances at an earlier moment on the dashboard: the account page's "as of" picker, and the trial
balance page (any instant, any currency) with its CSV."""

import csv
import html
import io
import re
import time
from datetime import UTC, timedelta
from urllib.parse import urlencode

import pytest
from django.http import StreamingHttpResponse
from django.utils import timezone

from ledger.models import Posting
from ledger.selectors import trial_balance, trial_balance_csv_rows
from ledger.services import account_create, deposit, system_account_id, transfer_create, withdraw

pytestmark = pytest.mark.django_db

def balance_shown(page: str) -> tuple[str, str]:
    """(the instant as the page names it, the balance it shows there)."""
    found = re.search(r'data-testid="balance-as-of">Balance at (.+?): <strong>([^<]+)</strong>', page)
    return html.unescape(found[1]), found[2]


@pytest.fixture
def history(ledger_engine):
    """Alice's account: 100.00 USD in, then (a moment later) 30.00 out; `between` falls between them."""
    alice = account_create(owner="client-a", name="Alice", currency="USD")
    deposit(account_id=alice.pk, amount=10_000, reference="dep-1", owner="client-a")
    time.sleep(0.01)
    between = timezone.now()
    time.sleep(0.01)
    withdraw(account_id=alice.pk, amount=3_000, reference="wd-1", owner="client-a")
    euro = account_create(owner="client-b", name="Bruno", currency="EUR")
    deposit(account_id=euro.pk, amount=500, reference="dep-eur", owner="client-b")
    return {"alice": alice, "euro": euro, "between": between}


def page(client, path: str, **params):
    response = client.get(f"{path}?{urlencode(params)}")
    return response.status_code, response.content.decode()


# --- the account page's "as of" picker -------------------------------------------------------


def test_the_account_page_shows_the_balance_at_the_instant_asked(viewer, history):
    alice, between = history["alice"], history["between"]
    url = f"/ledger/accounts/{alice.pk}/"

    status, body = page(viewer, url, as_of=between.isoformat())

    assert status == 200
    assert balance_shown(body) == (f"{between:%Y-%m-%d %H:%M:%S} UTC", "100.00 USD")
    assert 'data-testid="account-balance">70.00 USD' in body  # the balance now is still shown above
    # The picker shows the instant asked as its date and time (UTC).
    utc = between.astimezone(UTC)
    assert f'name="as_of" value="{utc:%Y-%m-%d}"' in body and f'name="at" step="1" value="{utc:%H:%M:%S}"' in body


def test_a_date_and_a_time_picked_in_the_two_inputs_are_one_utc_instant(viewer, history):
    url = f"/ledger/accounts/{history['alice'].pk}/"
    today = timezone.now().astimezone(UTC).date()

    assert balance_shown(page(viewer, url, as_of=today.isoformat(), at="23:59:59")[1]) == (
        f"{today} 23:59:59 UTC", "70.00 USD")
    assert balance_shown(page(viewer, url, as_of=today.isoformat(), at="00:00")[1]) == (
        f"{today} 00:00:00 UTC", "0.00 USD")  # the day began before either entry


def test_a_date_alone_means_the_end_of_that_utc_day_and_the_page_says_so(viewer, history):
    alice = history["alice"]
    today = timezone.now().astimezone(UTC).date()
    url = f"/ledger/accounts/{alice.pk}/"

    _, end_of_today = page(viewer, url, as_of=today.isoformat())
    _, end_of_yesterday = page(viewer, url, as_of=(today - timedelta(days=1)).isoformat())

    assert balance_shown(end_of_today) == (f"the end of {today} (UTC)", "70.00 USD")
    assert balance_shown(end_of_yesterday)[1] == "0.00 USD"  # before its first entry
    assert "A date alone means the end of that day in UTC" in end_of_today


def test_an_instant_before_the_withdrawal_and_at_its_posting_time(viewer, history):
    alice = history["alice"]
    withdrawal = Posting.objects.get(account=alice, transaction__reference="wd-1")
    url = f"/ledger/accounts/{alice.pk}/"

    at_posting = balance_shown(page(viewer, url, as_of=withdrawal.posted_at.isoformat())[1])[1]
    just_before = balance_shown(page(viewer, url, as_of=(withdrawal.posted_at - timedelta(microseconds=1))
                                     .isoformat())[1])[1]

    assert (just_before, at_posting) == ("100.00 USD", "70.00 USD")  # an entry counts from its instant on


def test_the_account_page_without_as_of_shows_no_past_balance(viewer, history):
    _, body = page(viewer, f"/ledger/accounts/{history['alice'].pk}/")

    assert 'data-testid="account-as-of"' in body  # the picker is there
    assert 'data-testid="balance-as-of"' not in body
    assert 'name="as_of"' in body and 'name="at"' in body


@pytest.mark.parametrize("params", [
    {"as_of": "last tuesday"},
    {"as_of": "2026-02-30"},
    {"as_of": "2026-12-31", "at": "25:00"},
    {"at": "10:00"},  # a time with no date
    {"as_of": "9999-12-31T23:59:59-05:00"},  # past the last instant Python holds
    {"as_of": "x" * 3000},
])
def test_a_bad_as_of_is_a_400_page_with_the_error_by_the_picker(viewer, history, params):
    status, body = page(viewer, f"/ledger/accounts/{history['alice'].pk}/", **params)

    assert status == 400
    assert 'data-testid="as-of-error"' in body
    assert 'aria-invalid="true"' in body
    assert 'data-testid="balance-as-of"' not in body


def test_a_system_account_shows_its_balance_at_an_instant_over_all_its_buckets(viewer, settings, ledger_engine):
    settings.MINTGUARD_SYSTEM_BALANCE_BUCKETS = 3
    payer = account_create(owner="client-a", name="Payer", currency="USD")
    for n in range(12):
        deposit(account_id=payer.pk, amount=100, reference=f"dep-{n}", owner="client-a")
    time.sleep(0.01)
    middle = timezone.now()
    time.sleep(0.01)
    deposit(account_id=payer.pk, amount=5_000, reference="dep-late", owner="client-a")

    _, body = page(viewer, f"/ledger/accounts/{system_account_id('cash', 'USD')}/", as_of=middle.isoformat())

    assert balance_shown(body)[1] == "12.00 USD"


# --- the trial balance page and its CSV --------------------------------------------------------


def rows_of(client, **params) -> list[list[str]]:
    response = client.get(f"/ledger/trial-balance.csv?{urlencode(params)}")
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Disposition"].startswith('attachment; filename="trial-balance-')
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_trial_balance_lists_every_account_with_totals_that_balance(viewer, history):
    status, body = page(viewer, "/ledger/trial-balance/")

    assert status == 200
    usd = re.search(r'data-testid="trial-balance-USD">(.*?)</table>', body, re.S)[1]
    assert re.search(r">Alice</a>.*?<td class=\"num cr\">70.00 USD</td>", usd, re.S)
    assert re.search(r">cash</a>.*?<td class=\"num dr\">70.00 USD</td>", usd, re.S)
    assert re.search(r'data-testid="total-debits">70.00 USD<.*data-testid="total-credits">70.00 USD<', usd, re.S)
    assert 'data-testid="trial-balance-EUR"' in body
    assert "(now)" in body and '<span class="badge ok">balanced</span>' in body


def test_the_trial_balance_at_an_earlier_instant_and_in_one_currency(viewer, history):
    between = history["between"]

    status, body = page(viewer, "/ledger/trial-balance/", as_of=between.isoformat(), currency="USD")

    assert status == 200
    assert f"{between:%Y-%m-%d %H:%M:%S} UTC" in body
    usd = re.search(r'data-testid="trial-balance-USD">(.*?)</table>', body, re.S)[1]
    assert 'data-testid="total-debits">100.00 USD<' in usd and 'data-testid="total-credits">100.00 USD<' in usd
    assert 'data-testid="trial-balance-EUR"' not in body
    # Each account links to its page at the same instant.
    day, second = between.astimezone(UTC).strftime("%Y-%m-%d"), between.astimezone(UTC).strftime("%H:%M:%S")
    assert f'href="/ledger/accounts/{history["alice"].pk}/?as_of={day}&amp;at={second.replace(":", "%3A")}"' in usd


def test_the_trial_balance_before_anything_was_posted_is_empty_and_says_so(viewer, history):
    status, body = page(viewer, "/ledger/trial-balance/", as_of="2001-01-01")

    assert status == 200
    assert "Nothing was posted by then." in body
    assert rows_of(viewer, as_of="2001-01-01") == [["currency", "account_id", "name", "debits", "credits", "balance"]]


def test_the_trial_balance_csv_has_the_pages_rows(viewer, history):
    between = history["between"]

    now_rows = rows_of(viewer)
    then_rows = rows_of(viewer, as_of=between.isoformat(), currency="USD")

    assert now_rows[0] == ["currency", "account_id", "name", "debits", "credits", "balance"]
    expected = [[str(cell) for cell in row] for row in trial_balance_csv_rows(trial_balance())]
    assert now_rows[1:] == expected and len(expected) == 4  # cash and Alice in USD, cash and Bruno in EUR
    assert ["USD", str(history["alice"].pk), "Alice", "0", "7000", "7000"] in now_rows
    assert then_rows[1:] == [
        ["USD", str(system_account_id("cash", "USD")), "cash", "10000", "0", "10000"],
        ["USD", str(history["alice"].pk), "Alice", "0", "10000", "10000"],
    ]


def test_the_trial_balance_page_links_to_its_csv_at_the_same_instant_and_currency(viewer, history):
    _, body = page(viewer, "/ledger/trial-balance/", as_of="2030-01-31", currency="EUR")

    link = html.unescape(re.search(r'<a href="([^"]+)" download data-testid="export-csv"', body)[1])

    assert link == "/ledger/trial-balance.csv?as_of=2030-01-31&currency=EUR"
    assert rows_of(viewer, as_of="2030-01-31", currency="EUR")[1:] == [
        ["EUR", str(system_account_id("cash", "EUR")), "cash", "500", "0", "500"],
        ["EUR", str(history["euro"].pk), "Bruno", "0", "500", "500"],
    ]


@pytest.mark.parametrize("params", [
    {"as_of": "31/12/2026"},
    {"as_of": "2026-12-31", "at": "noon"},
    {"at": "12:00"},
    {"currency": "XYZ"},  # no account is kept in it
    {"currency": "US<script>"},
])
def test_a_bad_instant_or_currency_is_a_400_on_the_page_and_the_csv(viewer, history, params):
    status, body = page(viewer, "/ledger/trial-balance/", **params)

    assert status == 400
    assert 'role="alert"' in body and "<script>" not in body
    assert "data-testid=\"trial-balance-USD\"" not in body
    assert viewer.get(f"/ledger/trial-balance.csv?{urlencode(params)}").status_code == 400


def test_a_transfer_moves_balances_between_accounts_and_the_totals_still_agree(viewer, ledger_engine):
    alice = account_create(owner="client-a", name="Alice", currency="USD")
    bob = account_create(owner="client-a", name="Bob", currency="USD")
    idle = account_create(owner="client-a", name="Idle", currency="USD")
    deposit(account_id=alice.pk, amount=2_000, reference="dep", owner="client-a")
    transfer_create(source_id=alice.pk, destination_id=bob.pk, amount=500, reference="tr", owner="client-a")

    rows = {row[2]: row[3:] for row in rows_of(viewer)[1:]}

    assert rows == {"cash": ["2000", "0", "2000"], "Alice": ["0", "1500", "1500"], "Bob": ["0", "500", "500"]}
    assert idle.name not in rows  # no entry yet: left out


# --- who sees it, and where it is linked ------------------------------------------------------


@pytest.mark.parametrize("path", ["/ledger/trial-balance/", "/ledger/trial-balance.csv"])
def test_only_signed_in_users_who_view_accounts_see_the_trial_balance(client, as_role, path):
    anonymous = client.get(path)

    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/?next=")
    assert as_role(None).get(path).status_code == 403
    assert as_role("viewer").get(path).status_code == 200
    assert as_role(None, is_superuser=True).get(path).status_code == 200


def test_the_ledger_page_picks_an_instant_for_the_trial_balance_and_the_nav_links_it(viewer):
    body = viewer.get("/ledger/").content.decode()

    picker = re.search(r'<form[^>]*data-testid="trial-balance-picker">(.*?)</form>', body, re.S)
    assert 'action="/ledger/trial-balance/"' in re.search(r'<form[^>]*data-testid="trial-balance-picker">', body)[0]
    assert 'type="date" name="as_of"' in picker[1] and 'type="time" name="at"' in picker[1]
    assert "A date alone means the end of that day in UTC" in body
    assert '<a href="/ledger/trial-balance/"' in body  # the nav
    trial = viewer.get("/ledger/trial-balance/").content.decode()
    assert '<a href="/ledger/trial-balance/" aria-current="page">Trial balance</a>' in trial
