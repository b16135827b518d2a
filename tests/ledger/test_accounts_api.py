"""The accounts, deposits, withdrawals, transfers and statements API, over HTTP."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient

from ledger.models import Account, Posting, Transaction
from ledger.services import system_account_id
from mintguard_site.api.models import ApiClient, IdempotencyKey
from mintguard_site.api.services import api_client_revoke

from .invariants import assert_ledger_consistent

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def open_account(api, name="Alice", currency="USD", **extra):
    response = api.post("/api/v1/accounts", {"owner_name": name, "currency": currency}, format="json", **extra)
    assert response.status_code == 201, response.content
    return response.json()


def post(api, path, body, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return api.post(path, body, format="json", **headers)


def deposit(api, account_id, amount, key):
    return post(api, f"/api/v1/accounts/{account_id}/deposit", {"amount": amount}, key)


def balance_of(account_id) -> int:
    return Account.objects.with_balance().get(pk=account_id).balance


def assert_problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["code"] == code and body["status"] == status
    assert body["type"] == f"/problems/{code.replace('_', '-')}"
    return body


def test_create_account_returns_the_account_with_zero_balance(api):
    account = open_account(api, "Alice", "JPY")
    assert set(account) == {"id", "owner_name", "currency", "balance", "available", "created_at"}
    assert (account["owner_name"], account["currency"], account["balance"]) == ("Alice", "JPY", 0)
    assert api.get(f"/api/v1/accounts/{account['id']}").json() == account


def test_currency_defaults_to_usd(api):
    response = api.post("/api/v1/accounts", {"owner_name": "Bob"}, format="json")
    assert response.status_code == 201 and response.json()["currency"] == "USD"


def test_deposit_credits_the_account(api):
    account = open_account(api)
    response = deposit(api, account["id"], 1_000, "dep-1")
    assert response.status_code == 201
    body = response.json()
    assert body["account"]["balance"] == 1_000 and body["amount"] == 1_000 and body["type"] == "deposit"
    assert Transaction.objects.get(pk=body["transaction_id"]).reference == "dep-1"
    assert balance_of(account["id"]) == 1_000


def test_idempotent_deposit_replay_returns_same_bytes_without_double_crediting(api):
    account = open_account(api)
    first = deposit(api, account["id"], 1_000, "dep-replay")
    second = deposit(api, account["id"], 1_000, "dep-replay")

    assert second.status_code == 201
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    assert balance_of(account["id"]) == 1_000
    assert Transaction.objects.filter(kind="deposit", owner=api.api_client.owner).count() == 1


def test_withdraw_happy_path_and_insufficient_funds(api):
    account = open_account(api)
    deposit(api, account["id"], 1_200, "fund")

    ok = post(api, f"/api/v1/accounts/{account['id']}/withdraw", {"amount": 200}, "w-ok")
    refused = post(api, f"/api/v1/accounts/{account['id']}/withdraw", {"amount": 5_000}, "w-big")

    assert ok.status_code == 201 and ok.json()["account"]["balance"] == 1_000
    body = assert_problem(refused, 409, "insufficient_funds")
    assert body["detail"] == f"Account {account['id']} has 1000 USD available, 5000 requested."
    assert balance_of(account["id"]) == 1_000


def test_insufficient_funds_outcome_is_stored_and_replayed(api):
    account = open_account(api)
    first = post(api, f"/api/v1/accounts/{account['id']}/withdraw", {"amount": 5}, "w-replay")
    deposit(api, account["id"], 100, "fund-later")
    second = post(api, f"/api/v1/accounts/{account['id']}/withdraw", {"amount": 5}, "w-replay")

    assert first.status_code == second.status_code == 409
    assert second.content == first.content and second["Idempotent-Replayed"] == "true"
    assert balance_of(account["id"]) == 100  # the replay executed nothing


def test_transfer_creates_two_entries_and_conserves_the_total(api):
    alice, bob = open_account(api, "Alice"), open_account(api, "Bob")
    deposit(api, alice["id"], 5_000, "fund-a")

    response = post(api, "/api/v1/transfers", {
        "source_account_id": alice["id"], "destination_account_id": bob["id"], "amount": 1_200,
    }, "t-1")

    assert response.status_code == 201
    transfer = response.json()
    assert transfer["entries"] == [
        {"account_id": alice["id"], "type": "DEBIT", "amount": 1_200},
        {"account_id": bob["id"], "type": "CREDIT", "amount": 1_200},
    ]
    assert (transfer["source_account_id"], transfer["destination_account_id"]) == (alice["id"], bob["id"])
    assert (transfer["amount"], transfer["currency"]) == (1_200, "USD")
    assert balance_of(alice["id"]) + balance_of(bob["id"]) == 5_000
    assert (balance_of(alice["id"]), balance_of(bob["id"])) == (3_800, 1_200)
    assert api.get(f"/api/v1/transfers/{transfer['id']}").json() == transfer
    assert_ledger_consistent()


def test_self_transfer_is_400_and_currency_mismatch_is_400(api):
    dollars, yen = open_account(api, "D"), open_account(api, "Y", "JPY")
    deposit(api, dollars["id"], 500, "fund")
    same = post(api, "/api/v1/transfers", {
        "source_account_id": dollars["id"], "destination_account_id": dollars["id"], "amount": 1}, "t-self")
    mixed = post(api, "/api/v1/transfers", {
        "source_account_id": dollars["id"], "destination_account_id": yen["id"], "amount": 1}, "t-fx")
    assert_problem(same, 400, "self_transfer")
    assert_problem(mixed, 400, "currency_mismatch")
    assert balance_of(dollars["id"]) == 500


def test_transfer_beyond_balance_is_409(api):
    alice, bob = open_account(api, "A"), open_account(api, "B")
    response = post(api, "/api/v1/transfers", {
        "source_account_id": alice["id"], "destination_account_id": bob["id"], "amount": 1}, "t-poor")
    assert_problem(response, 409, "insufficient_funds")


def test_statement_is_newest_first_and_pages_with_a_cursor(api):
    account = open_account(api)
    for n in range(5):
        deposit(api, account["id"], 100 * (n + 1), f"s-{n}")

    first = api.get(f"/api/v1/accounts/{account['id']}/statement?limit=2").json()
    second = api.get(f"/api/v1/accounts/{account['id']}/statement?limit=2&cursor={first['next_cursor']}").json()
    third = api.get(f"/api/v1/accounts/{account['id']}/statement?limit=2&cursor={second['next_cursor']}").json()

    entries = first["entries"] + second["entries"] + third["entries"]
    assert [e["amount"] for e in entries] == [500, 400, 300, 200, 100]
    assert [e["balance_after"] for e in entries] == [1500, 1000, 600, 300, 100]
    assert [e["ref"] for e in entries] == ["s-4", "s-3", "s-2", "s-1", "s-0"]
    assert all(e["type"] == "CREDIT" for e in entries)
    assert set(entries[0]) == {"id", "ts", "type", "amount", "balance_after", "transaction_id", "ref", "description"}
    assert third["next_cursor"] is None


@pytest.mark.parametrize("cursor", ["abc", "", "eyJzIjoic3RhdGVtZW50In0:1abc:def"])
def test_invalid_cursor_is_400(api, cursor):
    account = open_account(api)
    deposit(api, account["id"], 1, "c")
    response = api.get(f"/api/v1/accounts/{account['id']}/statement", {"cursor": cursor or "x"})
    assert_problem(response, 400, "invalid_cursor")


def test_cursor_of_another_account_or_list_is_400(api):
    a, b = open_account(api, "A"), open_account(api, "B")
    for n in range(3):
        deposit(api, a["id"], 1, f"a-{n}")
    cursor = api.get(f"/api/v1/accounts/{a['id']}/statement?limit=1").json()["next_cursor"]
    assert_problem(api.get(f"/api/v1/accounts/{b['id']}/statement", {"cursor": cursor}), 400, "invalid_cursor")
    assert_problem(api.get("/api/v1/accounts", {"cursor": cursor}), 400, "invalid_cursor")


@pytest.mark.parametrize("limit", ["0", "201", "-1", "abc", "1.5", "٣"])
def test_limit_out_of_range_is_400(api, limit):
    assert_problem(api.get("/api/v1/accounts", {"limit": limit}), 400, "invalid_parameter")


def test_account_list_pages_newest_first_and_shows_only_own_accounts(api, make_api_client):
    other = make_api_client("other")
    open_account(other, "Theirs")
    mine = [open_account(api, f"Mine {n}")["id"] for n in range(5)]

    first = api.get("/api/v1/accounts?limit=3").json()
    second = api.get(f"/api/v1/accounts?limit=3&cursor={first['next_cursor']}").json()

    listed = [a["id"] for a in first["results"] + second["results"]]
    assert listed == list(reversed(mine))
    assert second["next_cursor"] is None


def test_missing_or_invalid_idempotency_key_is_400(api):
    account = open_account(api)
    assert_problem(deposit(api, account["id"], 1, None), 400, "idempotency_key_missing")
    assert_problem(deposit(api, account["id"], 1, "x" * 256), 400, "idempotency_key_invalid")
    assert_problem(deposit(api, account["id"], 1, ""), 400, "idempotency_key_invalid")
    assert_problem(deposit(api, account["id"], 1, "tab\tkey"), 400, "idempotency_key_invalid")
    assert balance_of(account["id"]) == 0


def test_key_reused_with_another_body_or_path_is_409(api):
    a, b = open_account(api, "A"), open_account(api, "B")
    deposit(api, a["id"], 100, "k")
    assert_problem(deposit(api, a["id"], 101, "k"), 409, "idempotency_key_reused")
    assert_problem(deposit(api, b["id"], 100, "k"), 409, "idempotency_key_reused")
    assert (balance_of(a["id"]), balance_of(b["id"])) == (100, 0)


def test_one_client_cannot_replay_another_clients_key(api, make_api_client):
    other = make_api_client("other")
    mine, theirs = open_account(api, "Mine"), open_account(other, "Theirs")
    first = deposit(api, mine["id"], 100, "shared-key")

    response = deposit(other, theirs["id"], 100, "shared-key")

    assert response.status_code == 201 and "Idempotent-Replayed" not in response
    assert response.json()["transaction_id"] != first.json()["transaction_id"]
    assert (balance_of(mine["id"]), balance_of(theirs["id"])) == (100, 100)


def test_another_clients_account_is_404_and_system_accounts_are_not_addressable(api, make_api_client):
    other = make_api_client("other")
    theirs = open_account(other, "Theirs")
    mine = open_account(api, "Mine")
    deposit(api, mine["id"], 100, "fund")
    cash = system_account_id("cash", "USD")

    assert_problem(api.get(f"/api/v1/accounts/{theirs['id']}"), 404, "account_not_found")
    assert_problem(deposit(api, theirs["id"], 5, "steal"), 404, "account_not_found")
    assert_problem(deposit(api, cash, 5, "sys"), 404, "account_not_found")
    assert_problem(post(api, "/api/v1/transfers", {
        "source_account_id": mine["id"], "destination_account_id": theirs["id"], "amount": 1}, "x"),
        404, "account_not_found")
    assert_problem(post(api, "/api/v1/transfers", {
        "source_account_id": mine["id"], "destination_account_id": str(cash), "amount": 1}, "y"),
        404, "account_not_found")
    assert balance_of(theirs["id"]) == 0 and balance_of(mine["id"]) == 100


def test_requests_without_or_with_a_bad_or_revoked_key_are_401(api):
    anonymous = APIClient()
    assert_problem(anonymous.get("/api/v1/accounts"), 401, "not_authenticated")
    assert anonymous.get("/api/v1/accounts")["WWW-Authenticate"].startswith("Bearer")

    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Bearer mg_not_a_real_key")
    assert_problem(wrong.get("/api/v1/accounts"), 401, "authentication_failed")

    basic = APIClient()
    basic.credentials(HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")
    assert_problem(basic.get("/api/v1/accounts"), 401, "authentication_failed")

    assert api.get("/api/v1/accounts").status_code == 200
    api_client_revoke(client=api.api_client)  # the key cache forgets it at once in this process
    assert_problem(api.get("/api/v1/accounts"), 401, "authentication_failed")


def test_last_used_at_is_recorded(api):
    api.get("/api/v1/accounts")
    assert ApiClient.objects.get(pk=api.api_client.pk).last_used_at is not None


def test_validation_failure_releases_the_key_so_a_corrected_retry_runs(api):
    account = open_account(api)
    assert_problem(deposit(api, account["id"], 1.5, "fix-me"), 422, "validation_error")
    assert not IdempotencyKey.objects.filter(key="fix-me").exists()
    assert deposit(api, account["id"], 150, "fix-me").status_code == 201
    assert balance_of(account["id"]) == 150


def test_a_server_error_releases_the_key_and_a_retry_executes_afresh(api, monkeypatch):
    account = open_account(api)
    from ledger import services
    from ledger.api.views import AccountDeposit

    def crash(**kwargs):
        services.deposit(**kwargs)  # the money moves... then the handler fails before answering
        raise RuntimeError("worker died")

    monkeypatch.setattr(AccountDeposit, "service", staticmethod(crash))
    api.raise_request_exception = False
    failed = deposit(api, account["id"], 700, "flaky")
    monkeypatch.undo()

    assert failed.status_code == 500 and failed["Content-Type"] == PROBLEM
    assert balance_of(account["id"]) == 0  # rolled back with the response
    assert not IdempotencyKey.objects.filter(key="flaky").exists()
    retried = deposit(api, account["id"], 700, "flaky")
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried
    assert balance_of(account["id"]) == 700


def test_a_key_whose_request_is_still_running_is_409_in_use(api):
    account = open_account(api)
    deposit(api, account["id"], 1, "running")
    IdempotencyKey.objects.filter(key="running").update(
        state="in_progress", response_status=None, response_body=None,
        locked_until="2999-01-01T00:00:00Z", lease_token="00000000-0000-0000-0000-000000000001",
    )
    response = deposit(api, account["id"], 1, "running")
    assert_problem(response, 409, "idempotency_key_in_use")
    assert response["Retry-After"] == "1"


def test_a_key_whose_lease_expired_is_taken_over_and_executes_once(api):
    account = open_account(api)
    first = deposit(api, account["id"], 40, "crashed")
    # Simulate a first attempt that died after its work committed but before its lease was released.
    IdempotencyKey.objects.filter(key="crashed").update(
        state="in_progress", response_status=None, response_body=None,
        locked_until="2000-01-01T00:00:00Z", lease_token="00000000-0000-0000-0000-000000000002",
    )
    retried = deposit(api, account["id"], 40, "crashed")

    assert retried.status_code == 201
    # The ledger reference is the key: the retry found the committed transaction, not a second one.
    assert retried.json()["transaction_id"] == first.json()["transaction_id"]
    assert Transaction.objects.filter(reference="crashed").count() == 1
    assert balance_of(account["id"]) == 40
    assert IdempotencyKey.objects.get(key="crashed").state == "completed"


def test_purge_removes_expired_keys_only(api):
    account = open_account(api)
    deposit(api, account["id"], 1, "old")
    deposit(api, account["id"], 1, "new")
    IdempotencyKey.objects.filter(key="old").update(expires_at="2000-01-01T00:00:00Z")
    call_command("purge_idempotency_keys", stdout=open("/dev/null", "w"))
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


def test_create_api_key_prints_a_working_key_on_its_last_line(capsys):
    call_command("create_api_key", "--name", "checkout-service")
    key = capsys.readouterr().out.strip().splitlines()[-1]
    client = ApiClient.objects.get(name="checkout-service")
    assert key.startswith("mg_") and client.key_hash != key and key not in client.prefix + client.key_hash
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert http.get("/api/v1/accounts").status_code == 200


def test_operators_use_the_browsable_api_and_see_every_clients_accounts(api, client, operator_user):
    open_account(api, "Client account")
    client.force_login(operator_user("viewer"))

    listing = client.get("/api/v1/accounts", HTTP_ACCEPT="text/html")
    as_json = client.get("/api/v1/accounts", HTTP_ACCEPT="application/json").json()

    assert listing.status_code == 200 and b"Client account" in listing.content
    assert [a["owner_name"] for a in as_json["results"]] == ["Client account"]


def test_session_users_without_a_role_are_refused(client):
    client.force_login(get_user_model().objects.create_user("someone", password="pw", is_staff=True))
    assert_problem(client.get("/api/v1/accounts"), 403, "permission_denied")


def test_operators_cannot_move_client_money_through_the_api(api, client, operator_user):
    account = open_account(api)
    client.force_login(operator_user("operator"))
    response = client.post(f"/api/v1/accounts/{account['id']}/deposit", {"amount": 5},
                           content_type="application/json", HTTP_IDEMPOTENCY_KEY="op-dep")
    assert_problem(response, 403, "permission_denied")
    assert balance_of(account["id"]) == 0


def test_operator_writes_need_csrf(api):
    account = open_account(api)
    operator = get_user_model().objects.create_superuser("op2", "op2@example.com", "pw")
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(operator)
    response = browser.post(f"/api/v1/accounts/{account['id']}/deposit", {"amount": 5}, format="json",
                            HTTP_IDEMPOTENCY_KEY="csrf")
    assert_problem(response, 403, "permission_denied")
    assert Posting.objects.filter(account_id=account["id"]).count() == 0


def test_a_constraint_race_is_409_conflict_and_a_retry_runs_afresh(api, monkeypatch):
    from django.db import IntegrityError

    from ledger.api.views import AccountDeposit

    account = open_account(api)

    def lose_a_race(**kwargs):
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr(AccountDeposit, "service", staticmethod(lose_a_race))
    raced = deposit(api, account["id"], 50, "raced")
    monkeypatch.undo()
    retried = deposit(api, account["id"], 50, "raced")

    assert_problem(raced, 409, "conflict")
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried
    assert balance_of(account["id"]) == 50
