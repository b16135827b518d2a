"""The wallets HTTP API, end to end through DRF's APIClient."""

import pytest

from ledger.models import Account, Direction, Posting, Transaction
from ledger.services import system_account_id
from wallets.models import Wallet

from ..ledger.invariants import assert_ledger_consistent

pytestmark = pytest.mark.django_db

D, C = Direction.DEBIT, Direction.CREDIT
PROBLEM = "application/problem+json"


def wallet_post(http, route: str, *, user_id="user-ana", amount=100, reference_id="ref-1", headers=None, **extra):
    body = {"user_id": user_id, "amount": amount, "reference_id": reference_id, **extra}
    return http.post(f"/api/v1/wallets/{route}", body, format="json", headers=headers)


def balance_of(http, user_id="user-ana"):
    return http.get(f"/api/v1/wallets/{user_id}/balance")


def rows() -> tuple[int, int, int, int]:
    return Transaction.objects.count(), Posting.objects.count(), Wallet.objects.count(), Account.objects.count()


def system_balance(name: str, currency: str = "USD") -> int:
    return Account.objects.with_balance().get(pk=system_account_id(name, currency)).balance


def legs_of(transaction_id) -> set[tuple]:
    return {(p.account_id, p.direction, p.amount) for p in Posting.objects.filter(transaction_id=transaction_id)}


def test_topup_bonus_and_spend_leave_120_with_double_entries_on_treasury_bonus_expense_and_revenue(api):
    topup = wallet_post(api, "topup", amount=100, reference_id="top-1", description="Card top-up")
    bonus = wallet_post(api, "bonus", amount=50, reference_id="bonus-1")
    spend = wallet_post(api, "spend", amount=30, reference_id="spend-1")

    assert (topup.status_code, bonus.status_code, spend.status_code) == (201, 201, 201)
    wallet = Wallet.objects.get(owner=api.api_client.owner, user_id="user-ana", currency="USD")
    assert topup.json() == {
        "id": topup.json()["id"], "reference_id": "top-1", "type": "topup", "user_id": "user-ana",
        "amount": 100, "currency": "USD", "balance_after": 100, "created_at": topup.json()["created_at"],
    }
    assert (bonus.json()["type"], bonus.json()["balance_after"]) == ("bonus", 150)
    assert (spend.json()["type"], spend.json()["amount"], spend.json()["balance_after"]) == ("spend", 30, 120)

    treasury, bonus_expense, revenue = (system_account_id(n, "USD") for n in ("treasury", "bonus_expense", "revenue"))
    assert legs_of(topup.json()["id"]) == {(treasury, D, 100), (wallet.account_id, C, 100)}
    assert legs_of(bonus.json()["id"]) == {(bonus_expense, D, 50), (wallet.account_id, C, 50)}
    assert legs_of(spend.json()["id"]) == {(wallet.account_id, D, 30), (revenue, C, 30)}
    txn = Transaction.objects.get(pk=topup.json()["id"])
    assert (txn.owner, txn.reference, txn.kind, txn.description) == (api.api_client.owner, "top-1", "topup", "Card top-up")
    assert txn.metadata["user_id"] == "user-ana"
    assert (system_balance("treasury"), system_balance("bonus_expense"), system_balance("revenue")) == (100, 50, 30)

    balance = balance_of(api)
    assert balance.status_code == 200
    assert balance.json() == {
        "user_id": "user-ana", "total_balance": 120, "totals": {"USD": 120}, "available_totals": {"USD": 120},
        "accounts": [{"id": str(wallet.account_id), "name": "wallet:user-ana", "currency": "USD", "balance": 120,
                      "available": 120}],
    }
    assert_ledger_consistent()


@pytest.mark.parametrize("route", ["topup", "bonus", "spend"])
def test_repeating_a_reference_id_with_the_same_body_replays_the_first_201_and_moves_nothing(api, route):
    wallet_post(api, "topup", amount=500, reference_id="funding")
    first = wallet_post(api, route, amount=70, reference_id="op-1", description="once")
    before = rows()

    again = wallet_post(api, route, amount=70, reference_id="op-1", description="once")

    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.content == first.content
    assert rows() == before
    assert balance_of(api).json()["total_balance"] == (430 if route == "spend" else 570)


@pytest.mark.parametrize("route", ["topup", "bonus", "spend"])
def test_reference_id_reused_with_another_body_is_409_idempotency_key_reused(api, route):
    wallet_post(api, "topup", amount=500, reference_id="funding")
    wallet_post(api, route, amount=70, reference_id="op-1")
    before = rows()

    conflict = wallet_post(api, route, amount=71, reference_id="op-1")

    assert conflict.status_code == 409
    assert conflict.headers["Content-Type"] == PROBLEM
    assert conflict.json()["code"] == "idempotency_key_reused"
    assert rows() == before


def test_reference_id_reused_on_another_route_is_409_idempotency_key_reused(api):
    wallet_post(api, "topup", amount=500, reference_id="op-1")

    conflict = wallet_post(api, "spend", amount=500, reference_id="op-1")

    assert (conflict.status_code, conflict.json()["code"]) == (409, "idempotency_key_reused")
    assert balance_of(api).json()["total_balance"] == 500


def test_spend_beyond_the_balance_is_409_insufficient_funds_and_moves_nothing(api):
    wallet_post(api, "topup", amount=100, reference_id="top-1")
    before = rows()

    spend = wallet_post(api, "spend", amount=101, reference_id="spend-1")

    assert spend.status_code == 409
    assert spend.headers["Content-Type"] == PROBLEM
    assert spend.json()["code"] == "insufficient_funds"
    assert "100 USD available, 101 requested" in spend.json()["detail"]
    assert rows() == before
    assert balance_of(api).json()["total_balance"] == 100
    assert system_balance("revenue") == 0


def test_spend_without_a_wallet_in_that_currency_is_insufficient_funds_and_opens_no_wallet(api):
    wallet_post(api, "topup", amount=100, currency="USD", reference_id="top-1")
    before = rows()

    spend = wallet_post(api, "spend", amount=1, currency="EUR", reference_id="spend-1")
    stranger = wallet_post(api, "spend", amount=1, user_id="nobody", reference_id="spend-2")

    assert (spend.status_code, spend.json()["code"]) == (409, "insufficient_funds")
    assert "0 EUR available, 1 requested" in spend.json()["detail"]
    assert (stranger.status_code, stranger.json()["code"]) == (409, "insufficient_funds")
    assert rows() == before
    assert balance_of(api, "nobody").status_code == 404


def test_a_refused_spend_is_replayed_for_its_reference_id_even_after_a_top_up(api):
    refused = wallet_post(api, "spend", amount=50, reference_id="spend-1")
    wallet_post(api, "topup", amount=100, reference_id="top-1")

    again = wallet_post(api, "spend", amount=50, reference_id="spend-1")

    assert (refused.status_code, again.status_code) == (409, 409)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == refused.content
    assert balance_of(api).json()["total_balance"] == 100


def test_balance_of_a_user_without_a_wallet_is_404_problem(api):
    response = balance_of(api, "ghost")

    assert response.status_code == 404
    assert response.headers["Content-Type"] == PROBLEM
    assert response.json()["code"] == "wallet_not_found"


def test_user_holding_two_currencies_gets_per_currency_totals_and_no_total_balance(api):
    wallet_post(api, "topup", amount=1_000, currency="USD", reference_id="usd")
    wallet_post(api, "bonus", amount=250, currency="EUR", reference_id="eur")

    body = balance_of(api).json()

    assert body["total_balance"] is None
    assert body["totals"] == {"EUR": 250, "USD": 1_000}
    assert [(a["currency"], a["balance"]) for a in body["accounts"]] == [("EUR", 250), ("USD", 1_000)]
    assert len({a["id"] for a in body["accounts"]}) == 2


def test_gold_with_exponent_zero_moves_whole_units_like_any_currency(api):
    topup = wallet_post(api, "topup", amount=35, currency="GOLD", reference_id="gold-1")
    spend = wallet_post(api, "spend", amount=5, currency="GOLD", reference_id="gold-2")
    too_much = wallet_post(api, "spend", amount=31, currency="GOLD", reference_id="gold-3")

    assert (topup.status_code, spend.status_code, too_much.status_code) == (201, 201, 409)
    assert (spend.json()["currency"], spend.json()["balance_after"]) == ("GOLD", 30)
    body = balance_of(api).json()
    assert (body["total_balance"], body["totals"]) == (30, {"GOLD": 30})
    assert Account.objects.get(pk=body["accounts"][0]["id"]).currency == "GOLD"
    assert (system_balance("treasury", "GOLD"), system_balance("revenue", "GOLD")) == (35, 5)
    assert_ledger_consistent()


def test_currency_defaults_to_usd(api):
    response = wallet_post(api, "topup", amount=100)

    assert (response.status_code, response.json()["currency"]) == (201, "USD")


VALID = {"user_id": "user-ana", "amount": 100, "reference_id": "ref-1"}
INVALID_BODIES = {
    "float amount": ({**VALID, "amount": 10.5}, "amount"),
    "integral float amount": ({**VALID, "amount": 100.0}, "amount"),
    "decimal string amount": ({**VALID, "amount": "100"}, "amount"),
    "zero amount": ({**VALID, "amount": 0}, "amount"),
    "amount above 10^15": ({**VALID, "amount": 10**15 + 1}, "amount"),
    "missing reference_id": ({"user_id": "user-ana", "amount": 100}, "reference_id"),
    "empty reference_id": ({**VALID, "reference_id": ""}, "reference_id"),
    "65-char reference_id": ({**VALID, "reference_id": "r" * 65}, "reference_id"),
    "non-ASCII reference_id": ({**VALID, "reference_id": "réf-1"}, "reference_id"),
    "integer reference_id": ({**VALID, "reference_id": 12}, "reference_id"),
    "missing user_id": ({"amount": 100, "reference_id": "ref-1"}, "user_id"),
    "integer user_id": ({**VALID, "user_id": 42}, "user_id"),
    "65-char user_id": ({**VALID, "user_id": "u" * 65}, "user_id"),
    "user_id with a newline": ({**VALID, "user_id": "ana\nben"}, "user_id"),
    "unknown currency": ({**VALID, "currency": "XYZ"}, "currency"),
    "lower-case currency": ({**VALID, "currency": "usd"}, "currency"),
    "501-char description": ({**VALID, "description": "d" * 501}, "description"),
    "unknown field": ({**VALID, "memo": "typo"}, "memo"),
}


@pytest.mark.parametrize("route", ["topup", "bonus", "spend"])
@pytest.mark.parametrize(("body", "field"), INVALID_BODIES.values(), ids=INVALID_BODIES.keys())
def test_invalid_body_is_422_names_the_field_and_writes_nothing(api, route, body, field):
    response = api.post(f"/api/v1/wallets/{route}", body, format="json")

    assert response.status_code == 422
    assert response.headers["Content-Type"] == PROBLEM
    assert response.json()["code"] == "validation_error"
    assert field in response.json()["errors"]
    assert rows()[:3] == (0, 0, 0)


def test_a_corrected_retry_with_the_reference_id_of_a_refused_body_succeeds(api):
    refused = wallet_post(api, "topup", amount=10.5, reference_id="ref-1")

    retry = wallet_post(api, "topup", amount=1050, reference_id="ref-1")

    assert (refused.status_code, retry.status_code) == (422, 201)
    assert "Idempotent-Replayed" not in retry.headers


def test_a_body_that_is_not_an_object_is_422(api):
    response = api.post("/api/v1/wallets/topup", [VALID], format="json")

    assert response.status_code == 422


def test_a_64_char_user_id_and_reference_id_are_accepted(api):
    user_id, reference_id = "u" * 64, "r" * 64

    response = wallet_post(api, "topup", user_id=user_id, reference_id=reference_id)

    assert response.status_code == 201
    assert (response.json()["user_id"], response.json()["reference_id"]) == (user_id, reference_id)
    account = Account.objects.get(wallet__user_id=user_id)
    assert len(account.name) == 64
    assert balance_of(api, user_id).json()["total_balance"] == 100


def test_user_ids_with_a_slash_or_non_ascii_are_read_back_percent_encoded(api):
    wallet_post(api, "topup", user_id="tenant/42", reference_id="ref-1")
    wallet_post(api, "topup", user_id="jürgen", amount=7, reference_id="ref-2")

    slash = api.get("/api/v1/wallets/tenant%2F42/balance")
    umlaut = api.get("/api/v1/wallets/j%C3%BCrgen/balance")

    assert (slash.status_code, slash.json()["user_id"], slash.json()["total_balance"]) == (200, "tenant/42", 100)
    assert (umlaut.status_code, umlaut.json()["total_balance"]) == (200, 7)


def test_another_api_client_cannot_see_or_spend_the_first_clients_user(api, make_api_client):
    other = make_api_client("other")
    wallet_post(api, "topup", amount=100, reference_id="top-1")

    seen = balance_of(other)
    spent = wallet_post(other, "spend", amount=10, reference_id="spend-1")
    own = wallet_post(other, "topup", amount=7, reference_id="top-1")  # same reference_id: scoped per client

    assert (seen.status_code, seen.json()["code"]) == (404, "wallet_not_found")
    assert (spent.status_code, spent.json()["code"]) == (409, "insufficient_funds")
    assert (own.status_code, own.json()["balance_after"]) == (201, 7)
    assert balance_of(api).json()["totals"] == {"USD": 100}
    assert balance_of(other).json()["totals"] == {"USD": 7}
    wallets = Wallet.objects.filter(user_id="user-ana")
    assert sorted(w.owner for w in wallets) == sorted([api.api_client.owner, other.api_client.owner])
    assert wallets[0].account_id != wallets[1].account_id
    assert all(w.account.owner == w.owner for w in wallets)


def test_with_an_idempotency_key_header_the_header_drives_replay(api):
    first = wallet_post(api, "topup", reference_id="ref-1", headers={"Idempotency-Key": "key-1"})
    replay = wallet_post(api, "topup", reference_id="ref-1", headers={"Idempotency-Key": "key-1"})
    reused = wallet_post(api, "topup", amount=5, reference_id="ref-2", headers={"Idempotency-Key": "key-1"})

    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.headers["Idempotent-Replayed"] == "true" and replay.content == first.content
    assert (reused.status_code, reused.json()["code"]) == (409, "idempotency_key_reused")
    assert Transaction.objects.count() == 1


def test_under_a_new_header_key_a_used_reference_id_returns_the_same_movement_or_conflicts(api):
    first = wallet_post(api, "topup", reference_id="ref-1", headers={"Idempotency-Key": "key-1"})
    before = rows()

    same = wallet_post(api, "topup", reference_id="ref-1", headers={"Idempotency-Key": "key-2"})
    other_amount = wallet_post(api, "topup", amount=5, reference_id="ref-1", headers={"Idempotency-Key": "key-3"})
    other_route = wallet_post(api, "bonus", reference_id="ref-1", headers={"Idempotency-Key": "key-4"})

    assert same.status_code == 201 and same.json() == first.json()
    assert "Idempotent-Replayed" not in same.headers  # a new key: the ledger, not the replay cache, answered
    assert (other_amount.status_code, other_amount.json()["code"]) == (409, "reference_conflict")
    assert (other_route.status_code, other_route.json()["code"]) == (409, "reference_conflict")
    assert rows() == before
    assert balance_of(api).json()["total_balance"] == 100


def test_malformed_idempotency_key_header_is_400(api):
    response = wallet_post(api, "topup", headers={"Idempotency-Key": "x" * 256})

    assert (response.status_code, response.json()["code"]) == (400, "idempotency_key_invalid")
    assert rows()[:3] == (0, 0, 0)


def test_an_operator_sees_a_users_wallets_under_every_api_client(api, make_api_client, client, operator_user):
    wallet_post(api, "topup", amount=100, reference_id="top-1")
    wallet_post(make_api_client("other"), "topup", amount=7, currency="GOLD", reference_id="top-1")
    client.force_login(operator_user("viewer"))

    response = client.get("/api/v1/wallets/user-ana/balance", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    assert response.json()["totals"] == {"GOLD": 7, "USD": 100}


def test_wallet_routes_need_an_api_key(client):
    topup = client.post("/api/v1/wallets/topup", VALID, content_type="application/json")
    balance = client.get("/api/v1/wallets/user-ana/balance")

    assert (topup.status_code, balance.status_code) == (401, 401)
    assert Transaction.objects.count() == 0
