"""Wallets under concurrent HTTP requests, one APIClient per thread.

Runs on PostgreSQL (the ledger's balance-row locks in pk order, the wallet's unique constraint)
and on SQLite (a file database whose IMMEDIATE transactions queue writers).
"""

import pytest
from rest_framework.test import APIClient

from ledger.models import Account, AccountManagedBy, Hold, HoldStatus, Transaction
from wallets.models import Wallet

from ..concurrency import run_concurrently
from ..ledger.invariants import assert_ledger_consistent

pytestmark = pytest.mark.django_db(transaction=True)


def http_for(api_key: str) -> APIClient:
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return http


def poster(api_key: str):
    """Return a function that POSTs one wallet operation from a fresh client: threads share nothing."""

    def post(route: str, body: dict, idempotency_key: str | None = None):
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        response = http_for(api_key).post(f"/api/v1/wallets/{route}", body, format="json", headers=headers)
        return response.status_code, response.json(), response.headers.get("Idempotent-Replayed")

    return post


def assert_no_server_errors(results) -> None:
    assert [r for r in results if isinstance(r, Exception)] == []
    assert [r for r in results if r[0] >= 500] == []


def wallet_balance(api, user_id: str) -> dict:
    return api.get(f"/api/v1/wallets/{user_id}/balance").json()["totals"]


def test_fifty_concurrent_spends_of_ten_from_a_wallet_of_100_succeed_exactly_ten_times(api):
    post = poster(api.api_key)
    assert post("topup", {"user_id": "user-ana", "amount": 100, "reference_id": "funding"})[0] == 201
    calls = [("spend", {"user_id": "user-ana", "amount": 10, "reference_id": f"spend-{n}"}) for n in range(50)]

    results = run_concurrently(post, calls, workers=50)

    assert_no_server_errors(results)
    statuses = [status for status, _, _ in results]
    assert statuses.count(201) == 10
    assert statuses.count(409) == 40
    assert {body["code"] for status, body, _ in results if status == 409} == {"insufficient_funds"}
    assert sorted(body["balance_after"] for status, body, _ in results if status == 201) == list(range(0, 100, 10))
    assert wallet_balance(api, "user-ana") == {"USD": 0}
    assert Transaction.objects.filter(kind="spend").count() == 10
    assert_ledger_consistent()


def test_twenty_concurrent_topups_with_one_reference_id_post_exactly_once(api):
    post = poster(api.api_key)
    body = {"user_id": "user-ana", "amount": 250, "reference_id": "top-once"}

    results = run_concurrently(post, [("topup", body)] * 20, workers=20)

    assert_no_server_errors(results)
    created = [r for r in results if r[0] == 201]
    in_use = [r for r in results if r[0] == 409]
    assert len(created) + len(in_use) == 20
    assert {b["code"] for _, b, _ in in_use} <= {"idempotency_key_in_use"}
    assert len([r for r in created if r[2] is None]) == 1  # one original, the rest replays
    assert {b["id"] for _, b, _ in created} == {str(Transaction.objects.get(reference="top-once").id)}
    assert Transaction.objects.count() == 1
    assert wallet_balance(api, "user-ana") == {"USD": 250}
    assert_ledger_consistent()


def test_concurrent_first_topups_of_one_user_open_one_wallet_and_credit_them_all(api):
    post = poster(api.api_key)
    calls = [("topup", {"user_id": "user-new", "amount": 5, "currency": "GOLD", "reference_id": f"t-{n}"})
             for n in range(20)]

    results = run_concurrently(post, calls, workers=20)

    assert_no_server_errors(results)
    assert [status for status, _, _ in results] == [201] * 20
    assert Wallet.objects.filter(user_id="user-new", currency="GOLD").count() == 1
    # The first top-ups that lost the race opened no account of their own.
    assert Account.objects.filter(managed_by=AccountManagedBy.WALLET).count() == 1
    assert wallet_balance(api, "user-new") == {"GOLD": 100}
    assert_ledger_consistent()


def test_two_users_topping_up_and_spending_at_once_never_deadlock(api):
    post = poster(api.api_key)
    for user_id in ("user-ana", "user-ben"):
        post("topup", {"user_id": user_id, "amount": 100, "reference_id": f"funding-{user_id}"})
    calls = []
    for n in range(60):
        user_id = ("user-ana", "user-ben")[n % 2]
        route = ("spend", "topup", "bonus")[n % 3]
        calls.append((route, {"user_id": user_id, "amount": 7 + n % 5, "reference_id": f"mix-{n}"}))

    results = run_concurrently(post, calls, workers=24)

    assert_no_server_errors(results)
    refused = [body for status, body, _ in results if status == 409]
    assert {body["code"] for body in refused} <= {"insufficient_funds"}
    assert len([r for r in results if r[0] == 201]) + len(refused) == 60
    expected = {"user-ana": 100, "user-ben": 100}
    for (route, body), (status, _, _) in zip(calls, results, strict=True):
        if status == 201:
            expected[body["user_id"]] += -body["amount"] if route == "spend" else body["amount"]
    assert {user: wallet_balance(api, user)["USD"] for user in expected} == expected
    assert_ledger_consistent()


def wallet_amounts(api, user_id: str) -> tuple[int, int]:
    body = api.get(f"/api/v1/wallets/{user_id}/balance").json()
    return body["totals"]["USD"], body["available_totals"]["USD"]


@pytest.mark.postgres_only
def test_concurrent_spends_racing_wallet_holds_never_take_available_below_zero(api):
    post = poster(api.api_key)
    assert post("topup", {"user_id": "user-ana", "amount": 100, "reference_id": "funding"})[0] == 201
    calls = [(route, {"user_id": "user-ana", "amount": 10, "reference_id": f"{route}-{n}"})
             for n, route in enumerate(["spend", "hold"] * 20)]

    # when 20 spends and 20 holds of 10 race for a wallet of 100
    results = run_concurrently(post, calls, workers=40)

    # then exactly 100 is spent or held, and nothing more
    assert_no_server_errors(results)
    won = [(route, body) for (route, _), (status, body, _) in zip(calls, results, strict=True) if status == 201]
    assert len(won) == 10
    assert {body["code"] for status, body, _ in results if status == 409} == {"insufficient_funds"}
    spent = sum(body["amount"] for route, body in won if route == "spend")
    holds = [body["id"] for route, body in won if route == "hold"]
    assert wallet_amounts(api, "user-ana") == (100 - spent, 0)

    # when the holds are captured or voided while new spends and holds race them
    second = [("hold" if n % 2 else "spend", {"user_id": "user-ana", "amount": 10, "reference_id": f"late-{n}"})
              for n in range(20)]
    second += [(f"holds/{hold_id}/{'capture' if n % 2 else 'void'}", {}, f"end-{n}")
               for n, hold_id in enumerate(holds)]
    results = run_concurrently(post, second, workers=len(second))

    # then every hold ended once, and available never went below 0
    assert_no_server_errors(results)
    assert {body["code"] for status, body, _ in results if status == 409} <= {"insufficient_funds"}
    ended = {h.pk: h for h in Hold.objects.filter(pk__in=holds)}
    captured = sum(h.captured_amount for h in ended.values())
    assert all(h.status in (HoldStatus.CAPTURED, HoldStatus.VOIDED) for h in ended.values())
    late = [(call[0], body) for call, (status, body, _) in zip(second, results, strict=True)
            if status == 201 and call[0] in ("spend", "hold")]
    late_spent = sum(body["amount"] for route, body in late if route == "spend")
    late_held = sum(body["amount"] for route, body in late if route == "hold")
    balance, available = wallet_amounts(api, "user-ana")
    assert balance == 100 - spent - captured - late_spent
    assert available == balance - late_held >= 0
    assert Transaction.objects.filter(kind="spend").count() == len([r for r, _ in won if r == "spend"]) + len(
        [r for r, _ in late if r == "spend"]) + len([h for h in ended.values() if h.status == HoldStatus.CAPTURED])
    assert_ledger_consistent()
