"""Holds over HTTP: reserve, capture, void, expire, and `available` on both posting engines.

Every route and refusal of the contract (API.md, "Holds (two-phase transfers)"). Problem bodies
carry no figures of their own, so the figures are read from their `detail`.
"""

import uuid
from datetime import datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from ledger.currencies import MAX_AMOUNT
from ledger.models import (
    BALANCE_LIMIT,
    Account,
    AccountManagedBy,
    BalanceBucket,
    Hold,
    HoldStatus,
    Posting,
    Transaction,
)
from ledger.reconciliation import reconcile_run, registered_checks
from ledger.services import holds_expire, system_account_id, system_accounts_create

from .test_accounts_api import assert_problem, balance_of, deposit, open_account, post

pytestmark = pytest.mark.django_db

HOLD_FIELDS = {"id", "source_account_id", "destination_account_id", "amount", "captured_amount", "currency",
               "status", "description", "expires_at", "created_at"}
WEEK, THIRTY_DAYS = 604_800, 2_592_000


@pytest.fixture
def funded(api, ledger_engine):
    alice, bob = open_account(api, "Alice"), open_account(api, "Bob")
    assert deposit(api, alice["id"], 1000, "fund-alice").status_code == 201
    return alice, bob


def hold(api, source, destination, amount, key, **extra):
    body = {"source_account_id": source["id"], "destination_account_id": destination["id"], "amount": amount, **extra}
    return post(api, "/api/v1/holds", body, key)


def capture(api, hold_id, key, **body):
    return post(api, f"/api/v1/holds/{hold_id}/capture", body, key)


def void(api, hold_id, key=None):
    return post(api, f"/api/v1/holds/{hold_id}/void", {}, key)


def account(api, account_id):
    return api.get(f"/api/v1/accounts/{account_id}").json()


def money(api, account_id) -> tuple[int, int]:
    """(balance, available) as the API shows them."""
    body = account(api, account_id)
    return body["balance"], body["available"]


def held_column(account_id) -> int:
    return BalanceBucket.objects.get(account_id=account_id, bucket=0).held


def expire_by_clock(hold_id, seconds_ago: float = 1) -> None:
    """Move a hold's expiry into the past, as time passing would: no job visits it."""
    Hold.objects.filter(pk=hold_id).update(expires_at=timezone.now() - timedelta(seconds=seconds_ago))


def capture_transactions(hold_id) -> list[Transaction]:
    return list(Transaction.objects.filter(namespace="system", reference=f"hold:{hold_id}"))


def assert_ledger_reconciles() -> None:
    """The ledger's reconciliation checks (balances, postings, holds' `held` and captures) find nothing.

    Only the ledger's own checks: the other apps' ones have their own tests.
    """
    ledger_checks = {name: check for name, check in registered_checks().items() if name.startswith("ledger.")}
    assert "ledger.holds" in ledger_checks
    run = reconcile_run(checks=ledger_checks, store=False)
    assert (run.ok, run.drifts) == (True, [])


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- POST /api/v1/holds ----------------------------------------------------------------------


def test_a_hold_reserves_without_moving_and_lowers_available(api, funded):
    alice, bob = funded
    response = hold(api, alice, bob, 300, "h1", description="room 12")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == HOLD_FIELDS
    assert body["id"] == str(Hold.objects.get().pk)
    assert (body["source_account_id"], body["destination_account_id"]) == (alice["id"], bob["id"])
    assert (body["amount"], body["captured_amount"], body["status"], body["currency"]) == (300, 0, "HELD", "USD")
    assert body["description"] == "room 12"
    assert parse_time(body["expires_at"]) - parse_time(body["created_at"]) == timedelta(seconds=WEEK)
    assert money(api, alice["id"]) == (1000, 700)
    assert money(api, bob["id"]) == (0, 0)
    assert held_column(alice["id"]) == 300 and held_column(bob["id"]) == 0
    assert Transaction.objects.filter(namespace="system", reference__startswith="hold:").count() == 0
    assert_ledger_reconciles()


@pytest.mark.parametrize("expires_in", [1, 60, THIRTY_DAYS])
def test_expires_in_sets_expires_at_that_many_seconds_after_created_at(api, funded, expires_in):
    alice, bob = funded
    response = hold(api, alice, bob, 10, "h1", expires_in=expires_in)
    assert response.status_code == 201, response.content
    body = response.json()
    assert parse_time(body["expires_at"]) - parse_time(body["created_at"]) == timedelta(seconds=expires_in)
    stored = Hold.objects.get(pk=body["id"])
    assert stored.expires_at - stored.created_at == timedelta(seconds=expires_in)


@pytest.mark.parametrize("expires_in", [0, -1, THIRTY_DAYS + 1, "60", 1.5, True, None])
def test_expires_in_outside_1_to_2592000_or_not_a_json_integer_is_422_and_reserves_nothing(api, funded, expires_in):
    alice, bob = funded
    problem = assert_problem(hold(api, alice, bob, 10, "h1", expires_in=expires_in), 422, "validation_error")
    assert "expires_in" in problem["errors"]
    assert Hold.objects.count() == 0 and held_column(alice["id"]) == 0
    assert money(api, alice["id"]) == (1000, 1000)
    # the refusal stored nothing under the key: the corrected request runs
    assert hold(api, alice, bob, 10, "h1", expires_in=60).status_code == 201


@pytest.mark.parametrize("amount", [0, -1, 1.5, "10", MAX_AMOUNT + 1])
def test_a_hold_of_a_bad_amount_is_422(api, funded, amount):
    alice, bob = funded
    problem = assert_problem(hold(api, alice, bob, amount, "h1"), 422, "validation_error")
    assert "amount" in problem["errors"]
    assert Hold.objects.count() == 0


def test_a_hold_without_an_idempotency_key_is_400_and_reserves_nothing(api, funded):
    alice, bob = funded
    assert_problem(hold(api, alice, bob, 10, None), 400, "idempotency_key_missing")
    assert Hold.objects.count() == 0
    assert money(api, alice["id"]) == (1000, 1000) and held_column(alice["id"]) == 0


def test_a_replayed_hold_returns_the_same_body_and_reserves_once(api, funded):
    alice, bob = funded
    first = hold(api, alice, bob, 300, "h1")
    second = hold(api, alice, bob, 300, "h1")
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.content == first.content and second["Idempotent-Replayed"] == "true"
    assert Hold.objects.count() == 1
    assert money(api, alice["id"]) == (1000, 700) and held_column(alice["id"]) == 300
    # the same key with another body is not a replay
    assert_problem(hold(api, alice, bob, 301, "h1"), 409, "idempotency_key_reused")
    assert Hold.objects.count() == 1


def test_a_hold_beyond_available_is_409_with_the_available_figure(api, funded):
    alice, bob = funded
    assert hold(api, alice, bob, 600, "h1").status_code == 201
    problem = assert_problem(hold(api, alice, bob, 401, "h2"), 409, "insufficient_funds")
    assert problem["detail"] == f"Account {alice['id']} has 400 USD available, 401 requested."
    assert Hold.objects.count() == 1 and held_column(alice["id"]) == 600
    assert hold(api, alice, bob, 400, "h3").status_code == 201
    assert money(api, alice["id"]) == (1000, 0) and held_column(alice["id"]) == 1000
    assert_problem(hold(api, alice, bob, 1, "h4"), 409, "insufficient_funds")
    assert_ledger_reconciles()


def test_a_refused_hold_is_stored_and_replayed_as_409(api, funded):
    alice, bob = funded
    first = hold(api, alice, bob, 1001, "h1")
    assert deposit(api, alice["id"], 5000, "more").status_code == 201
    second = hold(api, alice, bob, 1001, "h1")
    assert first.status_code == second.status_code == 409
    assert second.content == first.content and second["Idempotent-Replayed"] == "true"
    assert Hold.objects.count() == 0


def test_a_hold_on_an_empty_account_is_409(api, funded):
    alice, bob = funded
    problem = assert_problem(hold(api, bob, alice, 1, "h1"), 409, "insufficient_funds")
    assert problem["detail"] == f"Account {bob['id']} has 0 USD available, 1 requested."


def test_a_hold_to_the_same_account_is_400_self_transfer_as_for_transfers(api, funded):
    alice, _ = funded
    assert_problem(hold(api, alice, alice, 10, "h1"), 400, "self_transfer")
    assert Hold.objects.count() == 0 and money(api, alice["id"]) == (1000, 1000)


def test_a_hold_across_currencies_is_400_currency_mismatch_as_for_transfers(api, funded):
    alice, _ = funded
    yen = open_account(api, "Yen", "JPY")
    problem = assert_problem(hold(api, alice, yen, 10, "h1"), 400, "currency_mismatch")
    assert "USD" in problem["detail"] and "JPY" in problem["detail"]
    assert Hold.objects.count() == 0 and held_column(alice["id"]) == 0


def test_a_hold_on_another_clients_account_on_either_side_is_404(api, make_api_client, funded):
    alice, _ = funded
    other = make_api_client("other")
    theirs = open_account(other, "Theirs")
    assert deposit(other, theirs["id"], 500, "fund-theirs").status_code == 201

    assert_problem(hold(api, theirs, alice, 10, "h1"), 404, "account_not_found")
    assert_problem(hold(api, alice, theirs, 10, "h2"), 404, "account_not_found")
    assert_problem(hold(api, alice, {"id": str(uuid.uuid4())}, 10, "h3"), 404, "account_not_found")
    assert Hold.objects.count() == 0
    assert money(other, theirs["id"]) == (500, 500)


def test_a_hold_to_a_system_account_is_404(api, funded):
    alice, _ = funded
    cash = {"id": str(system_account_id("cash", "USD"))}
    assert_problem(hold(api, alice, cash, 10, "h1"), 404, "account_not_found")
    assert_problem(hold(api, cash, alice, 10, "h2"), 404, "account_not_found")
    assert Hold.objects.count() == 0


@pytest.mark.parametrize("side", ["source", "destination"])
def test_a_hold_on_a_wallets_account_is_409_wallet_account(api, funded, side):
    alice, bob = funded
    wallet = alice if side == "source" else bob
    Account.objects.filter(pk=wallet["id"]).update(managed_by=AccountManagedBy.WALLET)
    problem = assert_problem(hold(api, alice, bob, 10, "h1"), 409, "wallet_account")
    assert wallet["id"] in problem["detail"]
    assert Hold.objects.count() == 0 and held_column(alice["id"]) == 0


# --- GET /api/v1/holds/{id} ------------------------------------------------------------------


def test_a_hold_reads_back_as_it_was_created(api, funded):
    alice, bob = funded
    created = hold(api, alice, bob, 250, "h1", description="deposit for room 3").json()
    response = api.get(f"/api/v1/holds/{created['id']}")
    assert response.status_code == 200 and response.json() == created


@pytest.mark.parametrize("hold_id", ["not-a-hold", "00000000-0000-0000-0000-00000000000z", "random", "theirs"])
def test_a_malformed_unknown_or_another_clients_hold_is_404_hold_not_found(api, make_api_client, funded, hold_id):
    other = make_api_client("other")
    theirs_a, theirs_b = open_account(other, "A"), open_account(other, "B")
    assert deposit(other, theirs_a["id"], 100, "fund").status_code == 201
    theirs = hold(other, theirs_a, theirs_b, 50, "theirs").json()["id"]
    hold_id = {"random": str(uuid.uuid4()), "theirs": theirs}.get(hold_id, hold_id)

    assert_problem(api.get(f"/api/v1/holds/{hold_id}"), 404, "hold_not_found")
    assert_problem(capture(api, hold_id, "c1"), 404, "hold_not_found")
    assert_problem(void(api, hold_id), 404, "hold_not_found")
    assert other.get(f"/api/v1/holds/{theirs}").json()["status"] == "HELD"
    assert money(other, theirs_a["id"]) == (100, 50) and money(other, theirs_b["id"]) == (0, 0)


# --- GET /api/v1/holds -----------------------------------------------------------------------


@pytest.fixture
def one_hold_per_status(api, funded):
    """Holds of 10..60 from Alice to Bob, ended each way, by their status as of now."""
    alice, bob = funded
    ids = [hold(api, alice, bob, 10 * n, f"h{n}").json()["id"] for n in range(1, 7)]
    held, captured, voided, expired_by_clock, expired_by_job, held_too = ids
    assert capture(api, captured, "c1").status_code == 201
    assert void(api, voided).status_code == 200
    expire_by_clock(expired_by_job)
    assert [str(h.pk) for h in holds_expire()] == [expired_by_job]
    expire_by_clock(expired_by_clock)  # after the job ran: still HELD in its row
    return {"HELD": {held, held_too}, "CAPTURED": {captured}, "VOIDED": {voided},
            "EXPIRED": {expired_by_clock, expired_by_job}}


def listed(api, **query) -> list[str]:
    response = api.get("/api/v1/holds", query)
    assert response.status_code == 200, response.content
    return [h["id"] for h in response.json()["results"]]


@pytest.mark.parametrize("status", ["HELD", "CAPTURED", "VOIDED", "EXPIRED"])
def test_the_holds_list_filters_by_status_as_of_now(api, one_hold_per_status, status):
    assert set(listed(api, status=status)) == one_hold_per_status[status]
    shown = {h["id"]: h["status"] for h in api.get("/api/v1/holds").json()["results"]}
    assert {hold_id for hold_id, shown_status in shown.items() if shown_status == status} == \
        one_hold_per_status[status]
    assert_ledger_reconciles()


def test_an_expired_hold_not_yet_visited_counts_as_expired_and_reserves_nothing(api, funded, one_hold_per_status):
    alice, _ = funded
    [by_clock] = [h for h in one_hold_per_status["EXPIRED"] if Hold.objects.get(pk=h).status == HoldStatus.HELD]
    assert api.get(f"/api/v1/holds/{by_clock}").json()["status"] == "EXPIRED"
    # 1000 - 20 captured; reserved: the holds of 10 and 60 (the one of 40 expired by the clock)
    assert money(api, alice["id"]) == (980, 910)
    assert held_column(alice["id"]) == 10 + 40 + 60


def test_the_holds_list_filters_by_account_on_either_side(api, funded):
    alice, bob = funded
    carol = open_account(api, "Carol")
    assert deposit(api, bob["id"], 500, "fund-bob").status_code == 201
    alice_to_bob = hold(api, alice, bob, 10, "h1").json()["id"]
    bob_to_carol = hold(api, bob, carol, 20, "h2").json()["id"]
    alice_to_carol = hold(api, alice, carol, 30, "h3").json()["id"]

    assert listed(api, account_id=alice["id"]) == [alice_to_carol, alice_to_bob]
    assert listed(api, account_id=bob["id"]) == [bob_to_carol, alice_to_bob]
    assert listed(api, account_id=carol["id"]) == [alice_to_carol, bob_to_carol]
    assert listed(api, account_id=carol["id"], status="CAPTURED") == []
    assert listed(api, account_id=str(uuid.uuid4())) == []


@pytest.mark.parametrize("query", [{"status": "held"}, {"status": "PENDING"}, {"account_id": "abc"},
                                   {"account_id": "1234"}, {"limit": "0"}, {"limit": "201"}])
def test_a_bad_status_account_id_or_limit_on_the_holds_list_is_400_invalid_parameter(api, funded, query):
    assert_problem(api.get("/api/v1/holds", query), 400, "invalid_parameter")


def test_the_holds_list_pages_newest_first_with_a_cursor_and_shows_only_own_holds(api, make_api_client, funded):
    alice, bob = funded
    other = make_api_client("other")
    theirs_a, theirs_b = open_account(other, "A"), open_account(other, "B")
    assert deposit(other, theirs_a["id"], 100, "fund").status_code == 201
    assert hold(other, theirs_a, theirs_b, 50, "theirs").status_code == 201
    mine = [hold(api, alice, bob, 10 + n, f"h{n}").json()["id"] for n in range(5)]

    first = api.get("/api/v1/holds", {"limit": 2}).json()
    second = api.get("/api/v1/holds", {"limit": 2, "cursor": first["next_cursor"]}).json()
    third = api.get("/api/v1/holds", {"limit": 2, "cursor": second["next_cursor"]}).json()

    assert [h["id"] for h in first["results"] + second["results"] + third["results"]] == list(reversed(mine))
    assert [h["amount"] for h in first["results"]] == [14, 13]
    assert third["next_cursor"] is None
    assert_problem(api.get("/api/v1/holds", {"cursor": "abc"}), 400, "invalid_cursor")
    accounts_cursor = api.get("/api/v1/accounts", {"limit": 1}).json()["next_cursor"]
    assert_problem(api.get("/api/v1/holds", {"cursor": accounts_cursor}), 400, "invalid_cursor")


def test_the_holds_list_pages_within_a_status_filter(api, funded):
    alice, bob = funded
    ids = [hold(api, alice, bob, 10, f"h{n}").json()["id"] for n in range(4)]
    assert void(api, ids[1]).status_code == 200
    first = api.get("/api/v1/holds", {"status": "HELD", "limit": 2}).json()
    second = api.get("/api/v1/holds", {"status": "HELD", "limit": 2, "cursor": first["next_cursor"]}).json()
    assert [h["id"] for h in first["results"] + second["results"]] == [ids[3], ids[2], ids[0]]
    assert second["next_cursor"] is None


# --- POST /api/v1/holds/{id}/capture ---------------------------------------------------------


def test_a_capture_without_an_amount_moves_the_whole_hold_in_one_transfer(api, funded):
    alice, bob = funded
    held = hold(api, alice, bob, 500, "h1", description="order 7").json()
    response = capture(api, held["id"], "c1")
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"hold", "transfer"} and set(body["hold"]) == HOLD_FIELDS
    assert (body["hold"]["id"], body["hold"]["status"], body["hold"]["captured_amount"]) == (held["id"], "CAPTURED",
                                                                                            500)
    transfer = body["transfer"]
    assert (transfer["source_account_id"], transfer["destination_account_id"]) == (alice["id"], bob["id"])
    assert (transfer["amount"], transfer["currency"], transfer["description"]) == (500, "USD", "order 7")
    assert transfer["entries"] == [{"account_id": alice["id"], "type": "DEBIT", "amount": 500},
                                   {"account_id": bob["id"], "type": "CREDIT", "amount": 500}]
    assert [str(t.pk) for t in capture_transactions(held["id"])] == [transfer["id"]]
    assert api.get(f"/api/v1/transfers/{transfer['id']}").json() == transfer
    assert money(api, alice["id"]) == (500, 500) and money(api, bob["id"]) == (500, 500)
    assert held_column(alice["id"]) == 0
    stored = Hold.objects.get(pk=held["id"])
    assert (stored.status, stored.captured_amount, stored.finished_at is not None) == ("CAPTURED", 500, True)
    assert_ledger_reconciles()


def test_a_partial_capture_moves_that_amount_once_and_releases_the_rest(api, funded):
    alice, bob = funded
    held = hold(api, alice, bob, 500, "h1").json()
    captured = capture(api, held["id"], "c1", amount=200)
    assert captured.status_code == 201, captured.content
    body = captured.json()
    assert (body["hold"]["status"], body["hold"]["amount"], body["hold"]["captured_amount"]) == ("CAPTURED", 500, 200)
    assert (body["transfer"]["amount"], body["transfer"]["source_account_id"]) == (200, alice["id"])
    assert money(api, alice["id"]) == (800, 800)
    assert money(api, bob["id"]) == (200, 200)
    assert held_column(alice["id"]) == 0
    assert len(capture_transactions(held["id"])) == 1
    assert_ledger_reconciles()


def test_a_replayed_capture_returns_the_same_body_and_moves_money_once(api, funded):
    alice, bob = funded
    held = hold(api, alice, bob, 500, "h1").json()
    first = capture(api, held["id"], "c1", amount=200)
    second = capture(api, held["id"], "c1", amount=200)
    assert (first.status_code, second.status_code) == (201, 201)
    assert second.content == first.content and second["Idempotent-Replayed"] == "true"
    assert len(capture_transactions(held["id"])) == 1
    assert balance_of(alice["id"]) == 800 and balance_of(bob["id"]) == 200


def test_a_capture_above_the_hold_is_409_capture_exceeds_hold_and_changes_nothing(api, funded):
    alice, bob = funded
    held = hold(api, alice, bob, 500, "h1").json()
    problem = assert_problem(capture(api, held["id"], "c1", amount=501), 409, "capture_exceeds_hold")
    assert problem["detail"] == f"Hold {held['id']} holds 500 USD; 501 requested."
    assert Hold.objects.get(pk=held["id"]).status == HoldStatus.HELD
    assert money(api, alice["id"]) == (1000, 500) and held_column(alice["id"]) == 500
    assert capture_transactions(held["id"]) == []
    # the hold is still whole: capturing exactly its amount works
    assert capture(api, held["id"], "c2", amount=500).status_code == 201
    assert money(api, alice["id"]) == (500, 500)


@pytest.mark.parametrize("amount", [0, -5, 2.5, "100"])
def test_a_capture_of_a_bad_amount_is_422_and_changes_nothing(api, funded, amount):
    alice, bob = funded
    held = hold(api, alice, bob, 500, "h1").json()
    assert_problem(capture(api, held["id"], "c1", amount=amount), 422, "validation_error")
    assert Hold.objects.get(pk=held["id"]).status == HoldStatus.HELD and held_column(alice["id"]) == 500


def test_a_second_capture_is_409_hold_not_active_and_moves_nothing(api, funded):
    alice, bob = funded
    held = hold(api, alice, bob, 500, "h1").json()
    assert capture(api, held["id"], "c1").status_code == 201
    problem = assert_problem(capture(api, held["id"], "c2"), 409, "hold_not_active")
    assert problem["detail"] == f"Hold {held['id']} is CAPTURED, not HELD."
    assert len(capture_transactions(held["id"])) == 1
    assert money(api, alice["id"]) == (500, 500) and money(api, bob["id"]) == (500, 500)
    assert held_column(alice["id"]) == 0


def test_a_capture_without_an_idempotency_key_is_400_and_moves_nothing(api, funded):
    alice, bob = funded
    held = hold(api, alice, bob, 500, "h1").json()
    assert_problem(capture(api, held["id"], None), 400, "idempotency_key_missing")
    assert Hold.objects.get(pk=held["id"]).status == HoldStatus.HELD
    assert money(api, alice["id"]) == (1000, 500) and balance_of(bob["id"]) == 0


@pytest.mark.parametrize("visited", [False, True], ids=["by the clock", "recorded by the job"])
def test_a_capture_after_expiry_is_409_hold_expired_and_moves_nothing(api, funded, visited):
    alice, bob = funded
    held = hold(api, alice, bob, 900, "h1", expires_in=60).json()
    expire_by_clock(held["id"])
    if visited:
        assert [str(h.pk) for h in holds_expire()] == [held["id"]]
    problem = assert_problem(capture(api, held["id"], "c1"), 409, "hold_expired")
    assert problem["detail"].startswith(f"Hold {held['id']} expired at ")
    assert capture_transactions(held["id"]) == []
    assert money(api, alice["id"]) == (1000, 1000) and balance_of(bob["id"]) == 0
    assert api.get(f"/api/v1/holds/{held['id']}").json()["status"] == "EXPIRED"
    assert held_column(alice["id"]) == (0 if visited else 900)
    assert_ledger_reconciles()


def book_an_opening(account_id, amount: int) -> None:
    """Credit `amount` to a customer account from equity by hand, consistently (balanced, numbered):
    through the services a balance near the limit would take thousands of deposits."""
    system_accounts_create(currencies=["USD"])
    equity = system_account_id("equity", "USD")
    with transaction.atomic():
        opening = Transaction.objects.create(namespace="system", reference=f"opening:{account_id}", kind="opening")
        entry = BalanceBucket.objects.get(account_id=account_id).last_entry_number + 1
        balance = BalanceBucket.objects.get(account_id=account_id).balance + amount
        Posting.objects.bulk_create([
            Posting(transaction=opening, account_id=equity, direction="DEBIT", amount=amount, currency="USD",
                    bucket=0, entry_number=1, balance_after=-amount),
            Posting(transaction=opening, account_id=account_id, direction="CREDIT", amount=amount, currency="USD",
                    bucket=0, entry_number=entry, balance_after=balance),
        ])
        BalanceBucket.objects.filter(account_id=equity, bucket=0).update(balance=-amount, last_entry_number=1)
        BalanceBucket.objects.filter(account_id=account_id).update(balance=balance, last_entry_number=entry)


def test_a_capture_that_would_take_its_destination_past_the_balance_limit_is_409_and_keeps_the_hold(
        api, funded):
    alice, bob = funded
    book_an_opening(bob["id"], BALANCE_LIMIT - 100)
    held = hold(api, alice, bob, 500, "h1").json()

    problem = assert_problem(capture(api, held["id"], "c1"), 409, "balance_limit_exceeded")

    assert bob["id"] in problem["detail"]
    assert Hold.objects.get(pk=held["id"]).status == HoldStatus.HELD and held_column(alice["id"]) == 500
    assert money(api, alice["id"]) == (1000, 500) and balance_of(bob["id"]) == BALANCE_LIMIT - 100
    assert capture(api, held["id"], "c2", amount=100).status_code == 201  # up to the limit, it moves
    assert balance_of(bob["id"]) == BALANCE_LIMIT
    assert_ledger_reconciles()


def test_a_refused_capture_is_stored_and_replayed_as_409(api, funded):
    alice, bob = funded
    held = hold(api, alice, bob, 500, "h1").json()
    first = capture(api, held["id"], "c1", amount=600)
    second = capture(api, held["id"], "c1", amount=600)
    assert first.status_code == second.status_code == 409
    assert second.content == first.content and second["Idempotent-Replayed"] == "true"
    assert Hold.objects.get(pk=held["id"]).status == HoldStatus.HELD


# --- POST /api/v1/holds/{id}/void ------------------------------------------------------------


def test_a_void_without_a_key_releases_everything_and_moves_nothing(api, funded):
    alice, bob = funded
    held = hold(api, alice, bob, 500, "h1").json()
    voided = void(api, held["id"])
    assert voided.status_code == 200, voided.content
    body = voided.json()
    assert set(body) == {"hold"} and set(body["hold"]) == HOLD_FIELDS
    assert (body["hold"]["status"], body["hold"]["captured_amount"], body["hold"]["amount"]) == ("VOIDED", 0, 500)
    assert money(api, alice["id"]) == (1000, 1000) and balance_of(bob["id"]) == 0
    assert held_column(alice["id"]) == 0
    assert Posting.objects.filter(account_id=alice["id"]).count() == 1  # the funding deposit only
    assert Hold.objects.get(pk=held["id"]).finished_at is not None
    assert_ledger_reconciles()


def test_a_void_with_a_key_is_replayed(api, funded):
    alice, bob = funded
    held = hold(api, alice, bob, 500, "h1").json()
    first, second = void(api, held["id"], "v1"), void(api, held["id"], "v1")
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.content == first.content and second["Idempotent-Replayed"] == "true"
    assert money(api, alice["id"]) == (1000, 1000)


def test_a_second_void_is_409_hold_not_active(api, funded):
    alice, bob = funded
    held = hold(api, alice, bob, 500, "h1").json()
    assert void(api, held["id"]).status_code == 200
    problem = assert_problem(void(api, held["id"]), 409, "hold_not_active")
    assert problem["detail"] == f"Hold {held['id']} is VOIDED, not HELD."
    assert_problem(capture(api, held["id"], "c1"), 409, "hold_not_active")
    assert money(api, alice["id"]) == (1000, 1000) and held_column(alice["id"]) == 0


def test_a_void_after_a_capture_is_409_hold_not_active_and_keeps_the_capture(api, funded):
    alice, bob = funded
    held = hold(api, alice, bob, 500, "h1").json()
    assert capture(api, held["id"], "c1", amount=300).status_code == 201
    assert_problem(void(api, held["id"]), 409, "hold_not_active")
    stored = Hold.objects.get(pk=held["id"])
    assert (stored.status, stored.captured_amount) == ("CAPTURED", 300)
    assert money(api, alice["id"]) == (700, 700) and balance_of(bob["id"]) == 300
    assert held_column(alice["id"]) == 0


@pytest.mark.parametrize("visited", [False, True], ids=["by the clock", "recorded by the job"])
def test_a_void_after_expiry_is_409_hold_expired(api, funded, visited):
    alice, bob = funded
    held = hold(api, alice, bob, 500, "h1").json()
    expire_by_clock(held["id"])
    if visited:
        holds_expire()
    assert_problem(void(api, held["id"]), 409, "hold_expired")
    assert Hold.objects.get(pk=held["id"]).status == (HoldStatus.EXPIRED if visited else HoldStatus.HELD)
    assert money(api, alice["id"]) == (1000, 1000)


# --- `available` on the other routes ---------------------------------------------------------


def test_a_withdrawal_beyond_available_is_refused_with_the_available_figure(api, funded):
    alice, bob = funded
    assert hold(api, alice, bob, 800, "h1").status_code == 201
    problem = assert_problem(post(api, f"/api/v1/accounts/{alice['id']}/withdraw", {"amount": 300}, "w1"),
                             409, "insufficient_funds")
    assert problem["detail"] == f"Account {alice['id']} has 200 USD available, 300 requested."
    withdrawn = post(api, f"/api/v1/accounts/{alice['id']}/withdraw", {"amount": 200}, "w2")
    assert withdrawn.status_code == 201 and withdrawn.json()["account"]["available"] == 0
    assert withdrawn.json()["account"]["balance"] == 800


def test_a_transfer_beyond_available_is_409_and_one_within_it_posts(api, funded):
    alice, bob = funded
    assert hold(api, alice, bob, 700, "h1").status_code == 201
    body = {"source_account_id": alice["id"], "destination_account_id": bob["id"], "amount": 301}
    problem = assert_problem(post(api, "/api/v1/transfers", body, "t1"), 409, "insufficient_funds")
    assert problem["detail"] == f"Account {alice['id']} has 300 USD available, 301 requested."
    assert money(api, alice["id"]) == (1000, 300) and balance_of(bob["id"]) == 0
    assert post(api, "/api/v1/transfers", {**body, "amount": 300}, "t2").status_code == 201
    assert money(api, alice["id"]) == (700, 0) and balance_of(bob["id"]) == 300
    # the hold is still whole and can be captured
    assert capture(api, Hold.objects.get().pk, "c1").status_code == 201
    assert money(api, alice["id"]) == (0, 0) and balance_of(bob["id"]) == 1000
    assert_ledger_reconciles()


def test_a_batch_beyond_available_is_409_and_posts_none_of_its_transfers(api, funded):
    alice, bob = funded
    carol = open_account(api, "Carol")
    assert hold(api, alice, bob, 600, "h1").status_code == 201

    def leg(destination, amount):
        return {"source_account_id": alice["id"], "destination_account_id": destination["id"], "amount": amount}

    problem = assert_problem(post(api, "/api/v1/transfers/batch", {"transfers": [leg(bob, 300), leg(carol, 101)]},
                                  "b1"), 409, "insufficient_funds")
    assert problem["detail"] == f"Account {alice['id']} has 400 USD available, 401 requested."
    assert money(api, alice["id"]) == (1000, 400)
    assert (balance_of(bob["id"]), balance_of(carol["id"])) == (0, 0)
    batch = post(api, "/api/v1/transfers/batch", {"transfers": [leg(bob, 300), leg(carol, 100)]}, "b2")
    assert batch.status_code == 201 and batch.json()["count"] == 2
    assert money(api, alice["id"]) == (600, 0)


def test_a_credit_to_an_account_whose_balance_is_all_held_always_posts(api, funded):
    alice, bob = funded
    assert deposit(api, bob["id"], 300, "fund-bob").status_code == 201
    assert hold(api, alice, bob, 1000, "h1").status_code == 201
    assert money(api, alice["id"]) == (1000, 0)

    deposited = deposit(api, alice["id"], 50, "d1")
    transferred = post(api, "/api/v1/transfers",
                       {"source_account_id": bob["id"], "destination_account_id": alice["id"], "amount": 70}, "t1")
    batch = post(api, "/api/v1/transfers/batch", {"transfers": [
        {"source_account_id": bob["id"], "destination_account_id": alice["id"], "amount": 30}]}, "b1")

    assert (deposited.status_code, transferred.status_code, batch.status_code) == (201, 201, 201)
    assert deposited.json()["account"]["available"] == 50
    assert money(api, alice["id"]) == (1150, 150) and held_column(alice["id"]) == 1000
    assert_ledger_reconciles()


def test_an_expired_hold_reserves_nothing_before_any_job_visits_it(api, funded):
    alice, bob = funded
    held = hold(api, alice, bob, 900, "h1", expires_in=60).json()
    expire_by_clock(held["id"])
    assert api.get(f"/api/v1/holds/{held['id']}").json()["status"] == "EXPIRED"
    assert money(api, alice["id"]) == (1000, 1000)
    assert hold(api, alice, bob, 1000, "h2").status_code == 201  # the expired one reserves nothing
    assert void(api, Hold.objects.get(description="", amount=1000).pk).status_code == 200
    assert post(api, f"/api/v1/accounts/{alice['id']}/withdraw", {"amount": 1000}, "w1").status_code == 201
    assert_problem(capture(api, held["id"], "c1"), 409, "hold_expired")

    assert [str(h.pk) for h in holds_expire()] == [held["id"]]
    assert Hold.objects.get(pk=held["id"]).status == HoldStatus.EXPIRED
    assert held_column(alice["id"]) == 0
    assert holds_expire() == []  # nothing left to record
    assert_ledger_reconciles()
