"""POST /api/v1/transfers/batch: up to 1,000 transfers, all-or-nothing, idempotent as a whole."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from ledger.models import Account, Posting, Transaction

from ..concurrency import run_concurrently
from .invariants import assert_ledger_consistent

pytestmark = pytest.mark.django_db


def open_accounts(api, n, fund=0):
    ids = [api.post("/api/v1/accounts", {"owner_name": f"B{i}"}, format="json").json()["id"] for i in range(n)]
    for account_id in ids:
        if fund:
            api.post(f"/api/v1/accounts/{account_id}/deposit", {"amount": fund}, format="json",
                     HTTP_IDEMPOTENCY_KEY=f"fund-{account_id}")
    return ids


def batch(api, transfers, key="batch-1"):
    return api.post("/api/v1/transfers/batch", {"transfers": transfers}, format="json", HTTP_IDEMPOTENCY_KEY=key)


def move(source, destination, amount):
    return {"source_account_id": source, "destination_account_id": destination, "amount": amount}


def balances(ids):
    rows = dict(Account.objects.with_balance().filter(pk__in=ids).values_list("id", "balance"))
    return [rows[__import__("uuid").UUID(i)] for i in ids]


def test_a_batch_posts_every_transfer_in_order(api):
    a, b, c = open_accounts(api, 3)
    api.post(f"/api/v1/accounts/{a}/deposit", {"amount": 1_000}, format="json", HTTP_IDEMPOTENCY_KEY="fund")

    # B starts empty: the second transfer spends what the first one brought.
    response = batch(api, [move(a, b, 600), move(b, c, 250), move(c, a, 50)])

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["count"] == 3 and [t["amount"] for t in body["transfers"]] == [600, 250, 50]
    assert body["transfers"][1]["entries"] == [
        {"account_id": b, "type": "DEBIT", "amount": 250}, {"account_id": c, "type": "CREDIT", "amount": 250},
    ]
    assert balances([a, b, c]) == [450, 350, 200]
    assert sorted(Transaction.objects.filter(kind="transfer").values_list("reference", flat=True)) == [
        "batch-1:0", "batch-1:1", "batch-1:2"]
    assert api.get(f"/api/v1/transfers/{body['transfers'][0]['id']}").json() == body["transfers"][0]
    assert_ledger_consistent()


def test_one_overdraft_refuses_the_whole_batch(api):
    a, b = open_accounts(api, 2, fund=100)
    before = Posting.objects.count()

    response = batch(api, [move(a, b, 60), move(a, b, 60)])

    assert response.status_code == 409 and response.json()["code"] == "insufficient_funds"
    assert Posting.objects.count() == before
    assert balances([a, b]) == [100, 100]


def test_a_batch_is_replayed_whole(api):
    a, b = open_accounts(api, 2, fund=100)
    first = batch(api, [move(a, b, 10), move(b, a, 5)], key="same")
    again = batch(api, [move(a, b, 10), move(b, a, 5)], key="same")
    other = batch(api, [move(a, b, 11)], key="same")

    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    assert balances([a, b]) == [95, 105]


@pytest.mark.parametrize("size", [0, 1001])
def test_an_empty_or_oversized_batch_is_422(api, size):
    a, b = open_accounts(api, 2, fund=10_000)
    response = batch(api, [move(a, b, 1)] * size)
    assert response.status_code == 422 and "transfers" in response.json()["errors"]
    assert Transaction.objects.filter(kind="transfer").count() == 0


def test_a_batch_touching_another_clients_account_or_itself_moves_nothing(api, make_api_client):
    a, b = open_accounts(api, 2, fund=100)
    (theirs,) = open_accounts(make_api_client("other"), 1)

    foreign = batch(api, [move(a, b, 1), move(a, theirs, 1)], key="k1")
    selfish = batch(api, [move(a, b, 1), move(a, a, 1)], key="k2")

    assert foreign.status_code == 404 and foreign.json()["code"] == "account_not_found"
    assert selfish.status_code == 400 and selfish.json()["code"] == "self_transfer"
    assert balances([a, b]) == [100, 100]


def test_a_thousand_transfers_take_a_constant_number_of_statements(api):
    ids = open_accounts(api, 20, fund=100_000)
    transfers = [move(ids[n % 20], ids[(n * 7 + 1) % 20], 1 + n % 9) for n in range(1000)]
    transfers = [t for t in transfers if t["source_account_id"] != t["destination_account_id"]][:1000]

    with CaptureQueriesContext(connection) as captured:
        response = batch(api, transfers, key="big")

    assert response.status_code == 201 and response.json()["count"] == len(transfers)
    # Not one statement per transfer (that would be 3,000+): bulk statements, which SQLite's
    # 999-parameter limit splits into a few dozen and PostgreSQL runs in about a dozen. The
    # transfers' events are two of them on PostgreSQL: one INSERT of them all and their one dispatch
    # task (SQLite splits the INSERT in 166-row parts: eight statements here, 42 in all).
    assert len(captured.captured_queries) <= (14 if connection.vendor == "postgresql" else 48)
    assert sum(balances(ids)) == 20 * 100_000
    assert_ledger_consistent()


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_over_the_same_accounts_in_opposite_orders_never_deadlock(api):
    ids = open_accounts(api, 6, fund=10_000)
    forward = [move(ids[i], ids[i + 1], 3) for i in range(5)]
    backward = [move(ids[i + 1], ids[i], 2) for i in reversed(range(5))]

    def send(n):
        http = APIClient()
        http.credentials(HTTP_AUTHORIZATION=f"Bearer {api.api_key}")
        return batch(http, forward if n % 2 else backward, key=f"race-{n}").status_code

    statuses = run_concurrently(send, [(n,) for n in range(16)], workers=8)

    assert statuses == [201] * 16
    assert sum(balances(ids)) == 6 * 10_000
    assert_ledger_consistent()
