"""No Idempotency-Key is executed twice, whichever protocol guards it (mintguard_site/api/idempotency.py).

Atomic routes (a deposit) reserve the key in the request's own transaction: a twin cannot take it
over, it waits for the first request and replays its answer. Lease routes (pay) reserve it under a
lease; a request whose lease was taken over mid-request stores nothing, and the retry's answer is
the only one.
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
from payments import services as payment_services
from payments.models import SimulatedCharge

from ..ledger.invariants import assert_ledger_consistent
from ..payments.helpers import create_order, pay, payment_transactions

pytestmark = pytest.mark.django_db(transaction=True)

PROBLEM = "application/problem+json"
WAIT = 60  # seconds; a step that takes longer is a deadlock (a loaded machine is slow, not that slow)


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


def test_a_twin_arriving_while_a_deposit_moves_money_waits_and_replays_it(api, monkeypatch):
    # given a deposit that is inside its money movement when its twin (same key, same body) arrives
    account = open_account(api)
    first_request = threading.current_thread()
    twin_answer = {}
    real_deposit = AccountDeposit.service

    def twin():
        try:
            http = APIClient()
            http.credentials(HTTP_AUTHORIZATION=f"Bearer {api.api_key}")
            twin_answer["response"] = deposit(http, account, "twin")
        finally:
            connection.close()

    twin_thread = threading.Thread(target=twin)

    def deposit_while_the_twin_arrives(**kwargs):
        txn = real_deposit(**kwargs)
        if threading.current_thread() is first_request:
            twin_thread.start()
            twin_thread.join(0.5)  # the twin is held back: on the key's unique index, or SQLite's write lock
            assert twin_thread.is_alive(), "the twin did not wait for the first request"
        return txn

    monkeypatch.setattr(AccountDeposit, "service", staticmethod(deposit_while_the_twin_arrives))

    # when the first request commits
    first = deposit(api, account, "twin")
    twin_thread.join(WAIT)
    assert not twin_thread.is_alive()

    # then the twin replays the first answer byte for byte, and the money moved once
    assert first.status_code == 201, first.content
    replayed = twin_answer["response"]
    assert (replayed.status_code, replayed.content, replayed["Idempotent-Replayed"]) == (201, first.content, "true")
    assert Transaction.objects.filter(kind="deposit").count() == 1
    assert balance_of(account) == 2_500
    assert_ledger_consistent()


def test_a_refused_deposit_leaves_no_key_behind_so_the_corrected_retry_runs(api):
    account = open_account(api)

    refused = api.post(f"/api/v1/accounts/{account}/deposit", {"amount": 0}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    retried = api.post(f"/api/v1/accounts/{account}/deposit", {"amount": 5}, format="json", HTTP_IDEMPOTENCY_KEY="k")

    assert refused.status_code == 422
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried
    assert balance_of(account) == 5


def abandoned_lease(api, *, key: str, path: str, body: dict, lease_left: timedelta) -> IdempotencyKey:
    """The row a request of the lease protocol leaves when it dies mid-way (before this release, deposits too)."""
    request = api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=f"probe-{key}")  # its fingerprint
    probe = IdempotencyKey.objects.get(owner=api.api_client.owner, key=f"probe-{key}")
    assert request.status_code == 201
    now = timezone.now()
    return IdempotencyKey.objects.create(
        owner=api.api_client.owner, key=key, fingerprint=probe.fingerprint, method="POST", path=path,
        lease_token=uuid.uuid4(), locked_until=now + lease_left, created_at=now, expires_at=now + timedelta(days=1),
    )


def test_a_deposit_whose_key_a_dead_request_left_leased_is_in_use_then_taken_over_once_the_lease_ends(api):
    # given a deposit key held by a request that died under the lease protocol (a rolling deploy)
    account = open_account(api)
    path = f"/api/v1/accounts/{account}/deposit"
    abandoned_lease(api, key="dead", path=path, body={"amount": 2_500}, lease_left=timedelta(seconds=30))
    funded = balance_of(account)

    # when its twin arrives within the lease, then after it
    in_use = deposit(api, account, "dead")
    IdempotencyKey.objects.filter(key="dead").update(locked_until=timezone.now() - timedelta(seconds=1))
    taken_over = deposit(api, account, "dead")

    # then the first is refused, the second runs once and is stored
    assert_in_use(in_use)
    assert taken_over.status_code == 201 and "Idempotent-Replayed" not in taken_over
    assert balance_of(account) == funded + 2_500
    row = IdempotencyKey.objects.get(owner=api.api_client.owner, key="dead")
    assert (row.state, bytes(row.response_body)) == (IdempotencyKey.State.COMPLETED, taken_over.content)
    assert deposit(api, account, "dead").content == taken_over.content
    assert balance_of(account) == funded + 2_500
    assert_ledger_consistent()


def test_a_pay_whose_lease_is_taken_over_mid_request_stores_nothing_and_the_retry_pays_once(api, monkeypatch):
    # given a pay whose lease token changes hands while it calls the provider (what a takeover writes)
    order = create_order(api, amount=1_200)
    key = "pay-lease-lost"
    real_finish = payment_services.payment_attempt_finish

    def finish_after_losing_the_lease(**kwargs):
        IdempotencyKey.objects.filter(owner=api.api_client.owner, key=key).update(
            lease_token=uuid.uuid4(), locked_until=timezone.now() + idempotency.LEASE)
        return real_finish(**kwargs)

    monkeypatch.setattr(payment_services.pay, "payment_attempt_finish", finish_after_losing_the_lease)

    # when it finishes and goes to store its response
    lost = pay(api, order["id"], key=key, simulate="success")
    monkeypatch.undo()

    # then it is refused and stores nothing
    assert_in_use(lost)
    assert IdempotencyKey.objects.get(owner=api.api_client.owner, key=key).state == IdempotencyKey.State.IN_PROGRESS
    # and once that lease has run out, the retry resumes the same payment: one charge, one posting
    IdempotencyKey.objects.filter(owner=api.api_client.owner, key=key).update(
        locked_until=timezone.now() - timedelta(seconds=1))
    retried = pay(api, order["id"], key=key, simulate="success")
    assert retried.status_code == 201, retried.content
    assert retried.json()["order"]["status"] == "PAID"
    assert SimulatedCharge.objects.count() == 1
    assert len(payment_transactions(order["id"])) == 1
    row = IdempotencyKey.objects.get(owner=api.api_client.owner, key=key)
    assert (row.state, bytes(row.response_body)) == (IdempotencyKey.State.COMPLETED, retried.content)
    assert_ledger_consistent()
