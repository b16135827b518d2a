"""Balances at an instant over HTTP: `GET /accounts/{id}?as_of=` and statement windows (`from`/`to`).

Instants come from the postings themselves (`posted_at`), so no clock is frozen: an instant at a
posting counts it, one a microsecond before does not.
"""

from datetime import timedelta

import pytest
from django.db.models import F

from ledger import selectors
from ledger.models import Account, Posting, Transaction
from ledger.services import hold_create, system_account_id, system_accounts_create, transfer_create, withdraw

from .invariants import assert_ledger_consistent
from .test_accounts_api import assert_problem, deposit, open_account, post

pytestmark = pytest.mark.django_db

US = timedelta(microseconds=1)


def postings_of(account_id) -> list[Posting]:
    return list(Posting.objects.filter(account_id=account_id).order_by("bucket", "entry_number"))


def funded_account(api, amounts=(1_000, 250, 4_000), name="Alice"):
    """An account with one deposit per amount; return it and its postings, oldest first."""
    account = open_account(api, name)
    for n, amount in enumerate(amounts):
        assert deposit(api, account["id"], amount, f"{name}-dep-{n}").status_code == 201
    return account, postings_of(account["id"])


def get_as_of(api, account_id, instant):
    return api.get(f"/api/v1/accounts/{account_id}", {"as_of": instant.isoformat()})


# --- GET /accounts/{id}?as_of= ----------------------------------------------------------------


def test_as_of_gives_the_balance_as_it_stood_at_each_posting_and_between(api, ledger_engine):
    account, postings = funded_account(api)
    assert post(api, f"/api/v1/accounts/{account['id']}/withdraw", {"amount": 700}, "w-1").status_code == 201
    postings = postings_of(account["id"])

    for posting in postings:
        at = get_as_of(api, account["id"], posting.posted_at)
        just_before = get_as_of(api, account["id"], posting.posted_at - US)
        assert at.status_code == 200 and at.json()["balance"] == posting.balance_after
        previous = [p.balance_after for p in postings if p.entry_number == posting.entry_number - 1]
        assert just_before.json()["balance"] == (previous[0] if previous else 0)
    assert [p.balance_after for p in postings] == [1_000, 1_250, 5_250, 4_550]


def test_as_of_echoes_the_instant_in_utc_and_keeps_the_account_fields(api):
    account, postings = funded_account(api, amounts=(900,))
    instant = postings[0].posted_at.astimezone(pytest.importorskip("zoneinfo").ZoneInfo("Asia/Tokyo"))

    body = get_as_of(api, account["id"], instant).json()

    assert body == {**account, "balance": 900, "available": 900,
                    "as_of": postings[0].posted_at.isoformat().replace("+00:00", "Z")}


def test_as_of_before_the_first_posting_is_zero_and_long_after_is_the_balance_now(api):
    account, postings = funded_account(api, amounts=(300, 200))

    assert get_as_of(api, account["id"], postings[0].posted_at - timedelta(days=400)).json()["balance"] == 0
    assert get_as_of(api, account["id"], postings[-1].posted_at + timedelta(days=400)).json()["balance"] == 500


def test_an_unescaped_plus_in_the_offset_is_read_as_one(api):
    account, postings = funded_account(api, amounts=(300,))
    instant = postings[0].posted_at.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+00:00"

    response = api.get(f"/api/v1/accounts/{account['id']}?as_of={instant}")  # "+" arrives as a space

    assert response.status_code == 200 and response.json()["balance"] == 300


def test_available_as_of_counts_the_holds_that_reserved_money_then(api):
    account, _ = funded_account(api, amounts=(1_000,))
    other = open_account(api, "Bob")
    owner = api.api_client.owner
    hold = hold_create(source_id=account["id"], destination_id=other["id"], amount=400, owner=owner,
                       accounts_owner=owner)
    after_hold = hold.created_at

    body = get_as_of(api, account["id"], after_hold).json()
    before = get_as_of(api, account["id"], after_hold - US).json()
    expired = get_as_of(api, account["id"], hold.expires_at).json()

    assert (body["balance"], body["available"]) == (1_000, 600)
    assert (before["balance"], before["available"]) == (1_000, 1_000)
    assert (expired["balance"], expired["available"]) == (1_000, 1_000)


@pytest.mark.parametrize("value", [
    "2026-11-30T23:59:59",  # no timezone
    "2026-11-30",  # a date is no instant
    "yesterday",
    "2026-13-01T00:00:00Z",
    "0001-01-01T00:00:00+05:00",  # before year 1 in UTC
    "2026-11-30T23:59:59Z" + "0" * 80,
])
def test_as_of_without_a_timezone_or_unparseable_is_400_invalid_parameter(api, value):
    account, _ = funded_account(api, amounts=(100,))

    body = assert_problem(api.get(f"/api/v1/accounts/{account['id']}", {"as_of": value}), 400, "invalid_parameter")

    assert "as_of" in body["detail"]


def test_as_of_on_another_clients_account_is_404(api, make_api_client):
    account, postings = funded_account(api, amounts=(100,))
    intruder = make_api_client("intruder")

    response = get_as_of(intruder, account["id"], postings[0].posted_at)

    assert_problem(response, 404, "account_not_found")
    assert b"100" not in response.content


def test_an_operator_reads_any_account_as_of(api, viewer):
    account, postings = funded_account(api, amounts=(100, 5))

    response = viewer.get(f"/api/v1/accounts/{account['id']}", {"as_of": postings[0].posted_at.isoformat()},
                          HTTP_ACCEPT="application/json")

    assert response.status_code == 200 and response.json()["balance"] == 100


# --- statement windows ------------------------------------------------------------------------


def statement(api, account_id, **params):
    return api.get(f"/api/v1/accounts/{account_id}/statement", params)


def net(entries) -> int:
    return sum(e["amount"] if e["type"] == "CREDIT" else -e["amount"] for e in entries)


def test_a_window_lists_the_entries_posted_within_it_with_opening_and_closing_balances(api, ledger_engine):
    account, _ = funded_account(api, amounts=(100, 200, 300, 400, 500))
    assert post(api, f"/api/v1/accounts/{account['id']}/withdraw", {"amount": 50}, "w-1").status_code == 201
    postings = postings_of(account["id"])

    body = statement(api, account["id"], **{"from": postings[1].posted_at.isoformat(),
                                            "to": postings[4].posted_at.isoformat()}).json()

    assert [e["id"] for e in body["entries"]] == [p.id for p in reversed(postings[1:5])]  # both edges included
    assert body["opening_balance"] == 100
    assert body["closing_balance"] == 1_500
    assert body["opening_balance"] + net(body["entries"]) == body["closing_balance"]
    assert body["next_cursor"] is None


def test_cursors_page_within_the_window(api):
    account, postings = funded_account(api, amounts=range(1, 12))
    window = {"from": postings[2].posted_at.isoformat(), "to": postings[8].posted_at.isoformat(), "limit": 2}

    seen, cursor, pages = [], None, 0
    while True:
        body = statement(api, account["id"], **window, **({"cursor": cursor} if cursor else {})).json()
        seen += [e["id"] for e in body["entries"]]
        pages += 1
        assert (body["opening_balance"], body["closing_balance"]) == (1 + 2, sum(range(1, 10)))
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert pages == 4
    assert seen == [p.id for p in reversed(postings[2:9])]


def test_only_from_runs_to_now_and_only_to_starts_at_zero(api):
    account, postings = funded_account(api, amounts=(10, 20, 30))

    since = statement(api, account["id"], **{"from": postings[1].posted_at.isoformat()}).json()
    until = statement(api, account["id"], to=postings[1].posted_at.isoformat()).json()

    assert ([e["amount"] for e in since["entries"]], since["opening_balance"], since["closing_balance"]) \
        == ([30, 20], 10, 60)
    assert ([e["amount"] for e in until["entries"]], until["opening_balance"], until["closing_balance"]) \
        == ([20, 10], 0, 30)


def test_a_window_before_any_posting_is_empty_at_zero_and_one_after_all_is_empty_at_the_balance(api):
    account, postings = funded_account(api, amounts=(10, 20))
    early, late = postings[0].posted_at - timedelta(days=2), postings[-1].posted_at + timedelta(days=2)

    before = statement(api, account["id"], **{"from": (early - timedelta(days=1)).isoformat(),
                                              "to": early.isoformat()}).json()
    after = statement(api, account["id"], **{"from": late.isoformat()}).json()

    assert (before["entries"], before["opening_balance"], before["closing_balance"]) == ([], 0, 0)
    assert (after["entries"], after["opening_balance"], after["closing_balance"]) == ([], 30, 30)


def test_without_a_window_the_statement_opens_at_zero_and_closes_at_the_balance(api):
    account, _ = funded_account(api, amounts=(10, 20))

    body = statement(api, account["id"]).json()

    assert (len(body["entries"]), body["opening_balance"], body["closing_balance"]) == (2, 0, 30)


@pytest.mark.parametrize("params", [
    {"from": "2026-11-01T00:00:00"}, {"to": "not-a-time"}, {"from": "2026-11-01"},
    {"from": "2026-12-01T00:00:00Z", "to": "2026-11-01T00:00:00Z"},  # from after to
])
def test_a_bad_or_inverted_window_is_400_invalid_parameter(api, params):
    account, _ = funded_account(api, amounts=(10,))

    assert_problem(statement(api, account["id"], **params), 400, "invalid_parameter")


def test_a_window_on_another_clients_statement_is_404(api, make_api_client):
    account, postings = funded_account(api, amounts=(10,))

    response = statement(make_api_client("intruder"), account["id"], **{"from": postings[0].posted_at.isoformat()})

    assert_problem(response, 404, "account_not_found")


def test_a_system_account_window_spans_every_bucket(api, settings):
    settings.MINTGUARD_SYSTEM_BALANCE_BUCKETS = 3
    system_accounts_create(currencies=["USD"])
    account, _ = funded_account(api, amounts=range(1, 31))
    cash = Account.objects.get(pk=system_account_id("cash", "USD"))
    postings = sorted(Posting.objects.filter(account=cash), key=lambda p: (p.posted_at, p.id))
    start, end = postings[5].posted_at, postings[24].posted_at

    window = selectors.statement_window(account=cash, start=start, end=end)
    page, _ = selectors.statement_page(account=cash, limit=200, window=window)

    assert {p.id for p in page} == {p.id for p in postings[5:25]}
    assert window.opening_balance == sum(range(1, 6))  # cash is an asset: deposits debit it
    assert window.closing_balance == sum(range(1, 26))
    assert selectors.account_balance_as_of(account=cash, as_of=end) == window.closing_balance


# --- posted_at itself -------------------------------------------------------------------------


def test_each_posting_is_posted_at_its_transactions_time_in_entry_order(api, ledger_engine, settings):
    settings.MINTGUARD_SYSTEM_BALANCE_BUCKETS = 2
    a, _ = funded_account(api, amounts=(500, 600))
    b = open_account(api, "Bob")
    owner = api.api_client.owner
    for n in range(5):
        transfer_create(source_id=a["id"], destination_id=b["id"], amount=10 + n, reference=f"t-{n}", owner=owner,
                        accounts_owner=owner)
    withdraw(account_id=b["id"], amount=5, reference="w", owner=owner, accounts_owner=owner)

    assert not Posting.objects.exclude(posted_at=F("transaction__created_at")).exists()
    by_bucket: dict = {}
    for posting in Posting.objects.order_by("account_id", "bucket", "entry_number"):
        previous = by_bucket.get((posting.account_id, posting.bucket))
        assert previous is None or previous <= posting.posted_at
        by_bucket[(posting.account_id, posting.bucket)] = posting.posted_at
    assert Transaction.objects.count() == 8
    assert_ledger_consistent()
