"""Concurrent duplicates and races through the real HTTP stack (one client per thread)."""

import threading

import pytest
from rest_framework.test import APIClient

from ledger.models import Account, Transaction

from ..concurrency import run_concurrently
from ..ledger.invariants import assert_ledger_consistent

pytestmark = pytest.mark.django_db(transaction=True)


def client_for(key: str) -> APIClient:
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return http


def test_twenty_identical_deposits_with_one_key_deposit_once(api):
    account = api.post("/api/v1/accounts", {"owner_name": "Race"}, format="json").json()["id"]

    def deposit(_):
        return client_for(api.api_key).post(
            f"/api/v1/accounts/{account}/deposit", {"amount": 2_500}, format="json", HTTP_IDEMPOTENCY_KEY="same"
        )

    responses = run_concurrently(deposit, [(n,) for n in range(20)], workers=20)

    statuses = [r.status_code for r in responses]
    assert all(s in (201, 409) for s in statuses), statuses
    created = [r for r in responses if r.status_code == 201]
    in_use = [r for r in responses if r.status_code == 409]
    assert created, statuses
    assert len({r.content for r in created}) == 1  # the original and byte-identical replays
    assert sum(1 for r in created if "Idempotent-Replayed" not in r) == 1
    assert all(r.json()["code"] == "idempotency_key_in_use" and r["Retry-After"] == "1" for r in in_use)
    assert Transaction.objects.filter(kind="deposit", reference="same").count() == 1
    assert Account.objects.with_balance().get(pk=account).balance == 2_500


def test_twenty_concurrent_withdrawals_against_a_balance_covering_seven(api):
    account = api.post("/api/v1/accounts", {"owner_name": "Race"}, format="json").json()["id"]
    api.post(f"/api/v1/accounts/{account}/deposit", {"amount": 700}, format="json", HTTP_IDEMPOTENCY_KEY="fund")

    def withdraw(n):
        return client_for(api.api_key).post(
            f"/api/v1/accounts/{account}/withdraw", {"amount": 100}, format="json", HTTP_IDEMPOTENCY_KEY=f"w-{n}"
        )

    responses = run_concurrently(withdraw, [(n,) for n in range(20)], workers=20)

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 7 + [409] * 13
    assert all(r.json()["code"] == "insufficient_funds" for r in responses if r.status_code == 409)
    assert Account.objects.with_balance().get(pk=account).balance == 0
    assert_ledger_consistent()


def test_statement_walk_while_another_thread_writes_never_skips_or_repeats(api):
    # given an account with 500 entries
    account = api.post("/api/v1/accounts", {"owner_name": "Busy"}, format="json").json()["id"]
    from ledger.selectors import account_get
    from ledger.services import deposit

    target = account_get(account_id=account)
    owner = api.api_client.owner
    for n in range(500):
        deposit(account_id=target.id, amount=n + 1, reference=f"pre-{n}", owner=owner)

    stop = threading.Event()
    written = []

    def writer():
        from django.db import connection

        try:
            n = 0
            while not stop.is_set() and n < 400:
                deposit(account_id=target.id, amount=1, reference=f"live-{n}", owner=owner)
                written.append(n)
                n += 1
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    # when a reader walks the statement with limit 37 while new entries keep arriving
    seen, cursor = [], None
    try:
        while True:
            query = {"limit": 37} | ({"cursor": cursor} if cursor else {})
            page = client_for(api.api_key).get(f"/api/v1/accounts/{account}/statement", query).json()
            seen.extend(page["entries"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
    finally:
        stop.set()
        thread.join()

    # then every entry up to the first page's newest appears once, in order, chained exactly
    ids = [e["id"] for e in seen]
    assert len(ids) == len(set(ids))
    assert len(seen) >= 500
    assert written, "the writer should have been writing during the walk"
    for newer, older in zip(seen, seen[1:], strict=False):
        assert newer["balance_after"] - newer["amount"] == older["balance_after"]
    assert seen[-1]["balance_after"] == 1 and seen[-1]["ref"] == "pre-0"
    assert_ledger_consistent()
