"""A request whose Idempotency-Key lease was taken over mid-request rolls back (issue 14, item 9).

The stored response is written only while the request still holds its lease token
(mintguard_site/api/idempotency.py, `_store`). A request that outlived its lease and saw a retry
take the key over must commit nothing: the retry's movement and answer are the only ones.
"""

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from ledger.api.views import AccountDeposit
from ledger.models import Account, Transaction
from mintguard_site.api import idempotency
from mintguard_site.api.models import IdempotencyKey

from ..conftest import ON_POSTGRES
from ..ledger.invariants import assert_ledger_consistent

pytestmark = pytest.mark.django_db(transaction=True)

PROBLEM = "application/problem+json"
WAIT = 10  # seconds; a step that takes longer is a deadlock, and the test fails instead of hanging


def open_account(api) -> str:
    response = api.post("/api/v1/accounts", {"owner_name": "Alice"}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def deposit(http, account_id: str, key: str):
    return http.post(f"/api/v1/accounts/{account_id}/deposit", {"amount": 2_500}, format="json",
                     HTTP_IDEMPOTENCY_KEY=key)


def balance_of(account_id: str) -> int:
    return Account.objects.with_balance().get(pk=account_id).balance


def assert_in_use(response) -> None:
    assert response.status_code == 409, response.content
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "idempotency_key_in_use"


def test_a_request_whose_lease_is_taken_over_mid_request_rolls_back_and_the_retry_is_stored(api, monkeypatch):
    # given a deposit (the first request) that outlives its lease, and the client's retry on another connection
    account = open_account(api)
    key = "lease-lost"
    first_request = threading.current_thread()
    taken_over, first_is_moving_money = threading.Event(), threading.Event()
    retry_answer = {}

    def retry():
        try:
            # the first request's lease runs out while it is still working
            IdempotencyKey.objects.filter(owner=api.api_client.owner, key=key).update(
                locked_until=timezone.now() - timedelta(seconds=1))
            http = APIClient()
            http.credentials(HTTP_AUTHORIZATION=f"Bearer {api.api_key}")
            retry_answer["response"] = deposit(http, account, key)
        finally:
            connection.close()

    retry_thread = threading.Thread(target=retry)

    def start_the_retry_and_wait_for_its_takeover():
        retry_thread.start()
        assert taken_over.wait(WAIT), "the retry never took the key over"

    real_reserve, real_deposit = idempotency.reserve, AccountDeposit.service

    def reserve(**kwargs):
        lease = real_reserve(**kwargs)
        if threading.current_thread() is retry_thread:
            taken_over.set()
            # the retry runs its handler only once the first request is inside its money movement
            assert first_is_moving_money.wait(WAIT)
        elif not ON_POSTGRES:
            # SQLite lets one writer at a time: nobody can take the key over while the first request's
            # transaction is open, so the retry takes it over just before that transaction begins.
            start_the_retry_and_wait_for_its_takeover()
        return lease

    def deposit_losing_the_lease(**kwargs):
        txn = real_deposit(**kwargs)
        if threading.current_thread() is first_request:
            if ON_POSTGRES:  # the first request's deposit is posted, not committed: the retry takes over now
                start_the_retry_and_wait_for_its_takeover()
            first_is_moving_money.set()
        return txn

    monkeypatch.setattr(idempotency, "reserve", reserve)
    monkeypatch.setattr(AccountDeposit, "service", staticmethod(deposit_losing_the_lease))

    # when the first request reaches the point where it stores its response
    first = deposit(api, account, key)
    retry_thread.join(WAIT)
    assert not retry_thread.is_alive()
    monkeypatch.undo()

    # then the first request rolled back and the retry's deposit is the only one
    assert_in_use(first)
    retried = retry_answer["response"]
    assert retried.status_code == 201, retried.content
    assert "Idempotent-Replayed" not in retried
    deposits = list(Transaction.objects.filter(kind="deposit").values_list("id", flat=True))
    assert [str(txn_id) for txn_id in deposits] == [retried.json()["transaction_id"]]
    assert balance_of(account) == 2_500
    # and the stored response is the retry's, replayed byte for byte
    row = IdempotencyKey.objects.get(owner=api.api_client.owner, key=key)
    assert (row.state, bytes(row.response_body)) == (IdempotencyKey.State.COMPLETED, retried.content)
    replay = deposit(api, account, key)
    assert (replay.status_code, replay.content, replay["Idempotent-Replayed"]) == (201, retried.content, "true")
    assert balance_of(account) == 2_500
    assert_ledger_consistent()


def test_a_request_that_loses_its_lease_inside_the_money_movement_moves_nothing(api, monkeypatch):
    # given a deposit whose lease token changes hands while its money movement is under way
    account = open_account(api)
    key = "lease-lost-inside"
    real_deposit = AccountDeposit.service

    def deposit_then_lose_the_lease(**kwargs):
        txn = real_deposit(**kwargs)
        # what a request taking the key over writes; on this request's own connection, so the
        # takeover works on SQLite too and the token check alone decides
        IdempotencyKey.objects.filter(owner=api.api_client.owner, key=key).update(
            lease_token=uuid.uuid4(), locked_until=timezone.now() + idempotency.LEASE)
        return txn

    monkeypatch.setattr(AccountDeposit, "service", staticmethod(deposit_then_lose_the_lease))

    # when it finishes and goes to store its response
    response = deposit(api, account, key)
    monkeypatch.undo()

    # then it is refused and everything it did rolled back: no money, no stored answer
    assert_in_use(response)
    assert balance_of(account) == 0
    assert not Transaction.objects.filter(kind="deposit").exists()
    assert IdempotencyKey.objects.get(owner=api.api_client.owner, key=key).state == IdempotencyKey.State.IN_PROGRESS
    # and once that lease has run out, the retry deposits exactly once
    IdempotencyKey.objects.filter(owner=api.api_client.owner, key=key).update(
        locked_until=timezone.now() - timedelta(seconds=1))
    retried = deposit(api, account, key)
    assert retried.status_code == 201, retried.content
    assert balance_of(account) == 2_500
    assert Transaction.objects.filter(kind="deposit").count() == 1
    assert_ledger_consistent()
