"""Wallet holds over HTTP: reserve part of a wallet, spend it later (capture) or release it (void).

docs: API.md, "Holds (two-phase transfers)", the Wallets paragraph. Runs on both databases (and so
on both posting engines: the SQL function on PostgreSQL, the ORM on SQLite).
"""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from ledger.models import BalanceBucket, Direction, Hold, HoldStatus, ReferenceNamespace, Transaction
from ledger.reconciliation import reconcile_run
from ledger.services import holds_expire, system_account_id
from mintguard_site.api.models import Scope
from mintguard_site.api.services import api_client_create
from wallets.models import Wallet, WalletHold

from .test_api import PROBLEM, balance_of, legs_of, rows, system_balance, wallet_post

pytestmark = pytest.mark.django_db

D, C = Direction.DEBIT, Direction.CREDIT


def assert_problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == code, response.json()
    return response.json()


def place_hold(http, *, amount=300, reference_id="hold-1", **extra):
    return wallet_post(http, "hold", amount=amount, reference_id=reference_id, **extra)


def capture(http, hold_id: str, body=None, key: str | None = "capture-1"):
    headers = {"Idempotency-Key": key} if key else None
    return http.post(f"/api/v1/wallets/holds/{hold_id}/capture", body or {}, format="json", headers=headers)


def void(http, hold_id: str, key: str | None = None):
    headers = {"Idempotency-Key": key} if key else None
    return http.post(f"/api/v1/wallets/holds/{hold_id}/void", {}, format="json", headers=headers)


def amounts(http, user_id="user-ana") -> tuple[dict, dict]:
    body = balance_of(http, user_id).json()
    return body["totals"], body["available_totals"]


@pytest.fixture
def funded(api):
    """user-ana's USD wallet, topped up with 1,000."""
    assert wallet_post(api, "topup", amount=1_000, reference_id="funding").status_code == 201
    return Wallet.objects.get(owner=api.api_client.owner, user_id="user-ana", currency="USD")


def test_a_hold_reserves_part_of_the_wallet_without_moving_money_and_the_balance_shows_available(api, funded):
    before = rows()

    response = place_hold(api, amount=300, description="Order 8813", expires_in=3600)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body == {
        "id": body["id"], "source_account_id": str(funded.account_id),
        "destination_account_id": str(system_account_id("revenue", "USD")), "amount": 300, "captured_amount": 0,
        "currency": "USD", "status": "HELD", "description": "Order 8813", "expires_at": body["expires_at"],
        "created_at": body["created_at"],
    }
    assert rows() == before  # nothing posted
    assert system_balance("revenue") == 0
    linked = WalletHold.objects.get(pk=body["id"])
    assert (linked.wallet_id, linked.owner, linked.reference_id) == (funded.id, api.api_client.owner, "hold-1")
    assert balance_of(api).json() == {
        "user_id": "user-ana", "total_balance": 1_000, "totals": {"USD": 1_000}, "available_totals": {"USD": 700},
        "accounts": [{"id": str(funded.account_id), "name": "wallet:user-ana", "currency": "USD",
                      "balance": 1_000, "available": 700}],
    }
    # The generic read of a hold shows it too.
    assert api.get(f"/api/v1/holds/{body['id']}").json() == body


def test_available_totals_add_up_per_currency(api, funded):
    wallet_post(api, "topup", amount=50, currency="GOLD", reference_id="gold")
    place_hold(api, amount=20, currency="GOLD", reference_id="hold-gold")
    place_hold(api, amount=100, reference_id="hold-usd")

    assert amounts(api) == ({"GOLD": 50, "USD": 1_000}, {"GOLD": 30, "USD": 900})


def test_a_spend_beyond_available_is_409_insufficient_funds_and_moves_nothing(api, funded):
    assert place_hold(api, amount=800).status_code == 201
    before = rows()

    problem = assert_problem(wallet_post(api, "spend", amount=300, reference_id="spend-1"), 409, "insufficient_funds")

    assert "200 USD available, 300 requested" in problem["detail"]
    assert rows() == before
    spend = wallet_post(api, "spend", amount=200, reference_id="spend-2")
    assert (spend.status_code, spend.json()["balance_after"]) == (201, 800)
    assert amounts(api) == ({"USD": 800}, {"USD": 0})


def test_a_hold_beyond_available_is_409_insufficient_funds(api, funded):
    assert place_hold(api, amount=600, reference_id="hold-1").status_code == 201

    problem = assert_problem(place_hold(api, amount=401, reference_id="hold-2"), 409, "insufficient_funds")

    assert "400 USD available, 401 requested" in problem["detail"]
    assert Hold.objects.count() == 1
    assert place_hold(api, amount=400, reference_id="hold-3").status_code == 201
    assert amounts(api) == ({"USD": 1_000}, {"USD": 0})


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"user_id": "user-nobody"}, 409, "insufficient_funds"),  # no wallet: nothing available, none opened
    ({"currency": "EUR"}, 409, "insufficient_funds"),  # no wallet in that currency
    ({"currency": "ZZZ"}, 422, "validation_error"),  # no such currency
])
def test_a_hold_without_a_wallet_or_in_an_unknown_currency_is_refused_as_a_spend_is(api, funded, body, status, code):
    spend = wallet_post(api, "spend", amount=300, reference_id="spend-1", **body)
    hold = place_hold(api, reference_id="hold-1", **body)

    assert_problem(spend, status, code)
    assert_problem(hold, status, code)
    assert hold.json()["detail"] == spend.json()["detail"]
    assert Wallet.objects.count() == 1 and Hold.objects.count() == 0


@pytest.mark.parametrize("expires_in", [0, 30 * 24 * 3600 + 1, "60", 1.5])
def test_an_expires_in_out_of_range_or_not_an_integer_is_422(api, funded, expires_in):
    assert_problem(place_hold(api, expires_in=expires_in), 422, "validation_error")
    assert Hold.objects.count() == 0


def test_a_full_capture_posts_one_spend_that_the_wallet_history_shows_like_any_spend(api, funded, viewer):
    held = place_hold(api, amount=300, reference_id="order-8813", description="Order 8813").json()
    spent = wallet_post(api, "spend", amount=100, reference_id="order-8812")

    response = capture(api, held["id"])

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["hold"] == {**held, "status": "CAPTURED", "captured_amount": 300}
    assert body["transaction"] == {
        "id": body["transaction"]["id"], "reference_id": "order-8813", "type": "spend", "user_id": "user-ana",
        "amount": 300, "currency": "USD", "balance_after": 600, "created_at": body["transaction"]["created_at"],
    }
    revenue = system_account_id("revenue", "USD")
    assert legs_of(body["transaction"]["id"]) == {(funded.account_id, D, 300), (revenue, C, 300)}
    txn, spend = (Transaction.objects.get(pk=body["transaction"]["id"]),
                  Transaction.objects.get(pk=spent.json()["id"]))
    # A spend to every reader of the ledger: its kind and the wallet's metadata; the reference is the hold's.
    assert (txn.kind, txn.owner, txn.description) == (spend.kind, spend.owner, "Order 8813")
    assert {k: txn.metadata[k] for k in spend.metadata} == spend.metadata
    assert (txn.namespace, txn.reference) == (ReferenceNamespace.SYSTEM, f"hold:{held['id']}")
    assert (system_balance("revenue"), amounts(api)) == (400, ({"USD": 600}, {"USD": 600}))
    page = viewer.get("/wallets/?user_id=user-ana").content.decode()
    assert page.count(">spend</a>") == 2 and "order-8813" in page and f"hold:{held['id']}" not in page
    assert reconcile_run(store=False).ok


def test_a_partial_capture_spends_that_amount_once_releases_the_rest_and_replays_with_its_key(api, funded):
    held = place_hold(api, amount=500).json()

    first = capture(api, held["id"], {"amount": 200}, key="cap-1")

    assert first.status_code == 201, first.content
    assert (first.json()["hold"]["captured_amount"], first.json()["transaction"]["amount"]) == (200, 200)
    assert amounts(api) == ({"USD": 800}, {"USD": 800})
    assert BalanceBucket.objects.get(account_id=funded.account_id).held == 0
    before = rows()
    again = capture(api, held["id"], {"amount": 200}, key="cap-1")
    assert (again.status_code, again.content, again["Idempotent-Replayed"]) == (201, first.content, "true")
    assert_problem(capture(api, held["id"], {"amount": 200}, key="cap-2"), 409, "hold_not_active")
    assert_problem(capture(api, held["id"], {"amount": 300}, key="cap-1"), 409, "idempotency_key_reused")
    assert rows() == before
    assert reconcile_run(store=False).ok


def test_a_capture_without_an_idempotency_key_is_400_and_changes_nothing(api, funded):
    held = place_hold(api, amount=500).json()

    assert_problem(capture(api, held["id"], key=None), 400, "idempotency_key_missing")

    assert Hold.objects.get(pk=held["id"]).status == HoldStatus.HELD
    assert amounts(api) == ({"USD": 1_000}, {"USD": 500})


def test_a_capture_above_the_hold_is_409_capture_exceeds_hold(api, funded):
    held = place_hold(api, amount=500).json()

    assert_problem(capture(api, held["id"], {"amount": 501}), 409, "capture_exceeds_hold")

    assert Hold.objects.get(pk=held["id"]).status == HoldStatus.HELD
    assert amounts(api) == ({"USD": 1_000}, {"USD": 500})


def test_void_releases_the_hold_and_a_second_void_or_a_capture_is_409_hold_not_active(api, funded):
    held = place_hold(api, amount=500).json()
    before = rows()

    voided = void(api, held["id"])

    assert voided.status_code == 200, voided.content
    assert voided.json() == {"hold": {**held, "status": "VOIDED"}}
    assert rows() == before and amounts(api) == ({"USD": 1_000}, {"USD": 1_000})
    assert_problem(void(api, held["id"]), 409, "hold_not_active")
    assert_problem(capture(api, held["id"]), 409, "hold_not_active")
    assert BalanceBucket.objects.get(account_id=funded.account_id).held == 0
    assert reconcile_run(store=False).ok


def test_a_void_with_an_idempotency_key_replays(api, funded):
    held = place_hold(api, amount=500).json()

    first, again = void(api, held["id"], key="void-1"), void(api, held["id"], key="void-1")

    assert first.status_code == again.status_code == 200
    assert (again.content, again["Idempotent-Replayed"]) == (first.content, "true")


def test_an_expired_hold_reserves_nothing_and_its_capture_or_void_is_409_hold_expired(api, funded):
    held = place_hold(api, amount=900, expires_in=60).json()
    assert amounts(api) == ({"USD": 1_000}, {"USD": 100})

    Hold.objects.filter(pk=held["id"]).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert amounts(api) == ({"USD": 1_000}, {"USD": 1_000})
    assert api.get(f"/api/v1/holds/{held['id']}").json()["status"] == "EXPIRED"
    assert_problem(capture(api, held["id"]), 409, "hold_expired")
    assert_problem(void(api, held["id"]), 409, "hold_expired")
    assert wallet_post(api, "spend", amount=1_000, reference_id="spend-all").status_code == 201
    assert [h.pk for h in holds_expire()] == [Hold.objects.get(pk=held["id"]).pk]
    assert BalanceBucket.objects.get(account_id=funded.account_id).held == 0
    assert amounts(api) == ({"USD": 0}, {"USD": 0})
    assert reconcile_run(store=False).ok


def test_another_clients_wallet_hold_is_404_hold_not_found_and_stays_held(api, funded, make_api_client):
    held = place_hold(api, amount=500).json()
    intruder = make_api_client("intruder")
    wallet_post(intruder, "topup", amount=1_000, reference_id="funding")  # the same user_id, its own wallet

    assert_problem(capture(intruder, held["id"]), 404, "hold_not_found")
    assert_problem(void(intruder, held["id"]), 404, "hold_not_found")
    assert_problem(intruder.get(f"/api/v1/holds/{held['id']}"), 404, "hold_not_found")

    assert Hold.objects.get(pk=held["id"]).status == HoldStatus.HELD
    assert amounts(api) == ({"USD": 1_000}, {"USD": 500})


@pytest.mark.parametrize("hold_id", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_an_unknown_hold_is_404_hold_not_found(api, funded, hold_id):
    assert_problem(capture(api, hold_id), 404, "hold_not_found")
    assert_problem(void(api, hold_id), 404, "hold_not_found")


def test_a_plain_accounts_hold_is_not_a_wallet_hold_404(api, funded):
    alice, bob = (api.post("/api/v1/accounts", {"owner_name": n}, format="json").json()["id"] for n in "AB")
    api.post(f"/api/v1/accounts/{alice}/deposit", {"amount": 500}, format="json", headers={"Idempotency-Key": "d"})
    plain = api.post("/api/v1/holds", {"source_account_id": alice, "destination_account_id": bob, "amount": 100},
                     format="json", headers={"Idempotency-Key": "h"}).json()

    assert_problem(capture(api, plain["id"]), 404, "hold_not_found")
    assert_problem(void(api, plain["id"]), 404, "hold_not_found")
    assert Hold.objects.get(pk=plain["id"]).status == HoldStatus.HELD


def test_the_generic_hold_routes_refuse_a_wallet_hold_with_409_wallet_account(api, funded):
    held = place_hold(api, amount=500).json()

    assert_problem(api.post(f"/api/v1/holds/{held['id']}/capture", {}, format="json",
                            headers={"Idempotency-Key": "generic"}), 409, "wallet_account")
    assert_problem(api.post(f"/api/v1/holds/{held['id']}/void", {}, format="json"), 409, "wallet_account")

    assert Hold.objects.get(pk=held["id"]).status == HoldStatus.HELD
    assert capture(api, held["id"]).status_code == 201


def test_the_reference_id_is_the_idempotency_key_without_the_header(api, funded):
    first = place_hold(api, amount=300, reference_id="order-1")

    again = place_hold(api, amount=300, reference_id="order-1")
    other_body = place_hold(api, amount=301, reference_id="order-1")
    other_route = wallet_post(api, "spend", amount=300, reference_id="order-1")

    assert (first.status_code, again.status_code) == (201, 201)
    assert (again.content, again["Idempotent-Replayed"]) == (first.content, "true")
    assert_problem(other_body, 409, "idempotency_key_reused")
    assert_problem(other_route, 409, "idempotency_key_reused")
    assert Hold.objects.count() == 1
    assert amounts(api) == ({"USD": 1_000}, {"USD": 700})


def test_with_the_header_a_reused_reference_id_returns_its_hold_or_is_409_reference_conflict(api, funded):
    first = place_hold(api, amount=300, reference_id="order-1", headers={"Idempotency-Key": "k-1"})

    same = place_hold(api, amount=300, reference_id="order-1", headers={"Idempotency-Key": "k-2"})
    other = place_hold(api, amount=200, reference_id="order-1", headers={"Idempotency-Key": "k-3"})

    assert first.status_code == same.status_code == 201
    assert same.json()["id"] == first.json()["id"] and "Idempotent-Replayed" not in same
    assert_problem(other, 409, "reference_conflict")
    assert Hold.objects.count() == WalletHold.objects.count() == 1
    assert amounts(api) == ({"USD": 1_000}, {"USD": 700})


def test_a_key_without_the_wallets_scope_gets_403_on_every_wallet_hold_route(api, funded):
    held = place_hold(api, amount=100).json()
    _, key = api_client_create(name="accounts-only", scopes=[Scope.ACCOUNTS])
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    for response in (place_hold(http, reference_id="h-2"), capture(http, held["id"]), void(http, held["id"])):
        assert_problem(response, 403, "scope_denied")
    assert Hold.objects.get(pk=held["id"]).status == HoldStatus.HELD
