"""Holds under concurrency: reservations never exceed the balance, and a hold ends exactly once.

PostgreSQL only: the bucket and hold row locks are what queue these requests (`ledger.locks`, and
the same order in `ledger_hold_create`, `ledger_hold_capture` and `ledger_post`). Each test runs on
both engines (the SQL functions, and the ORM with MINTGUARD_LEDGER_ENGINE=python), as one burst of
threads released together (`tests.concurrency.run_concurrently`), with no lock timeout: a thread
that waits longer only makes the test slower, while a deadlock is still reported by PostgreSQL as
an error, which the tests refuse.
"""

import random
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone
from rest_framework.test import APIClient

from ledger.exceptions import HoldExpired, InsufficientFunds
from ledger.models import Account, BalanceBucket, Hold, HoldStatus, Transaction
from ledger.services import hold_capture, hold_create, holds_expire, withdraw

from ..concurrency import run_concurrently
from .factories import AccountFactory
from .test_holds_api import assert_ledger_reconciles

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True), pytest.mark.timeout(120),
              pytest.mark.usefixtures("ledger_engine")]

OWNER = "client-a"


def client_for(api_key: str) -> APIClient:
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return http


def post(api_key: str, path: str, body: dict, key: str | None) -> tuple[int, dict]:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    response = client_for(api_key).post(path, body, format="json", **headers)
    return response.status_code, response.json()


def open_funded(api, name: str, amount: int) -> str:
    account = api.post("/api/v1/accounts", {"owner_name": name}, format="json").json()["id"]
    if amount:
        response = api.post(f"/api/v1/accounts/{account}/deposit", {"amount": amount}, format="json",
                            HTTP_IDEMPOTENCY_KEY=f"fund-{account}")
        assert response.status_code == 201, response.content
    return account


def balance_and_available(account_id) -> tuple[int, int]:
    row = Account.objects.with_balance().get(pk=account_id)
    return row.balance, row.available


def held_column(account_id) -> int:
    return BalanceBucket.objects.get(account_id=account_id, bucket=0).held


def held_holds_total(account_id) -> int:
    return Hold.objects.filter(source_account_id=account_id, status=HoldStatus.HELD).aggregate(
        total=Sum("amount"))["total"] or 0


def capture_transactions(hold_ids) -> Counter:
    """How many capture transactions each hold has (`hold:<id>`)."""
    references = Transaction.objects.filter(namespace="system", reference__in=[f"hold:{h}" for h in hold_ids])
    return Counter(reference.removeprefix("hold:") for reference in references.values_list("reference", flat=True))


def test_fifty_concurrent_holds_of_100_on_a_balance_of_2000_reserve_exactly_twenty(api):
    # given Alice with 2,000 and nothing held
    alice, bob = open_funded(api, "Alice", 2_000), open_funded(api, "Bob", 0)
    body = {"source_account_id": alice, "destination_account_id": bob, "amount": 100}

    # when fifty holds of 100 arrive at once, each with its own key
    results = run_concurrently(post, [(api.api_key, "/api/v1/holds", body, f"h-{n}") for n in range(50)],
                               workers=50)

    # then exactly twenty are reserved and thirty refused, and nothing moved
    assert [r for r in results if isinstance(r, Exception)] == []
    statuses = sorted(status for status, _ in results)
    assert statuses == [201] * 20 + [409] * 30, statuses
    assert {body["code"] for status, body in results if status == 409} == {"insufficient_funds"}
    assert {body["status"] for status, body in results if status == 201} == {"HELD"}
    assert Hold.objects.filter(source_account_id=alice, status=HoldStatus.HELD).count() == 20
    assert balance_and_available(alice) == (2_000, 0)
    assert held_column(alice) == held_holds_total(alice) == 2_000
    assert balance_and_available(bob) == (0, 0)
    assert_ledger_reconciles()


def test_captures_racing_voids_end_each_hold_once_and_move_its_money_at_most_once(api):
    # given eight holds of 100 on Alice's account (one balance row for all of them)
    alice, bob = open_funded(api, "Alice", 1_000), open_funded(api, "Bob", 0)
    holds = []
    for n in range(8):
        status, body = post(api.api_key, "/api/v1/holds",
                            {"source_account_id": alice, "destination_account_id": bob, "amount": 100}, f"h-{n}")
        assert status == 201, body
        holds.append(body["id"])
    rng = random.Random(20261202)
    calls = []
    for hold_id in holds:
        # two full captures, a partial one and two voids per hold, each under its own key
        calls += [(api.api_key, f"/api/v1/holds/{hold_id}/capture", {}, f"c-{hold_id}-{n}") for n in range(2)]
        calls.append((api.api_key, f"/api/v1/holds/{hold_id}/capture", {"amount": 40}, f"p-{hold_id}"))
        calls += [(api.api_key, f"/api/v1/holds/{hold_id}/void", {}, None)] * 2
    rng.shuffle(calls)

    # when they all arrive at once
    results = run_concurrently(post, calls, workers=20)

    # then each hold has exactly one winner; every other request is 409 hold_not_active
    assert [r for r in results if isinstance(r, Exception)] == []
    winners: dict[str, list] = {hold_id: [] for hold_id in holds}
    for (_, path, _, _), (status, body) in zip(calls, results, strict=True):
        hold_id = path.split("/")[4]
        if status in (200, 201):
            winners[hold_id].append(body)
        else:
            assert (status, body["code"]) == (409, "hold_not_active"), body
    assert all(len(won) == 1 for won in winners.values()), winners
    # the money moved once per captured hold, by what its capture said
    stored = {str(h.pk): h for h in Hold.objects.filter(pk__in=holds)}
    captured = {hold_id: won[0]["hold"]["captured_amount"] for hold_id, won in winners.items()
                if won[0]["hold"]["status"] == "CAPTURED"}
    voided = {hold_id for hold_id, won in winners.items() if won[0]["hold"]["status"] == "VOIDED"}
    assert set(captured) | voided == set(holds)
    assert {hold_id: (h.status, h.captured_amount) for hold_id, h in stored.items()} == {
        **{hold_id: ("CAPTURED", amount) for hold_id, amount in captured.items()},
        **{hold_id: ("VOIDED", 0) for hold_id in voided},
    }
    assert capture_transactions(holds) == Counter(dict.fromkeys(captured, 1))
    moved = sum(captured.values())
    assert balance_and_available(alice) == (1_000 - moved, 1_000 - moved)
    assert balance_and_available(bob) == (moved, moved)
    assert held_column(alice) == 0
    assert_ledger_reconciles()


def test_withdrawals_racing_holds_never_take_available_below_zero():
    # given Alice with 1,000
    alice, shop = AccountFactory(owner=OWNER, balance=1_000), AccountFactory(owner=OWNER)
    rng = random.Random(20261203)
    calls = [("hold" if n % 2 else "withdraw", rng.randint(50, 200), n) for n in range(40)]

    def act(kind: str, amount: int, n: int):
        if kind == "hold":
            return hold_create(source_id=alice.id, destination_id=shop.id, amount=amount, owner=OWNER,
                               accounts_owner=OWNER)
        return withdraw(account_id=alice.id, amount=amount, reference=f"w-{n}", owner=OWNER, accounts_owner=OWNER)

    # when twenty holds and twenty withdrawals, asking for about 5,000 between them, arrive at once
    results = run_concurrently(act, calls, workers=16)

    # then each is done or refused for want of funds, and what was done fits in the 1,000
    unexpected = [r for r in results if isinstance(r, Exception) and not isinstance(r, InsufficientFunds)]
    assert unexpected == []
    done = [(kind, amount) for (kind, amount, _), r in zip(calls, results, strict=True) if not isinstance(r, Exception)]
    withdrawn = sum(amount for kind, amount in done if kind == "withdraw")
    held = sum(amount for kind, amount in done if kind == "hold")
    assert len(done) < len(calls), "the workload asks for more than the balance"
    assert withdrawn + held <= 1_000
    balance, available = balance_and_available(alice.id)
    assert (balance, available) == (1_000 - withdrawn, 1_000 - withdrawn - held)
    assert available >= 0
    assert held_column(alice.id) == held_holds_total(alice.id) == held
    assert Hold.objects.filter(source_account=alice, status=HoldStatus.HELD).count() == sum(
        1 for kind, _ in done if kind == "hold")
    assert_ledger_reconciles()


def test_an_expiry_racing_a_capture_ends_each_hold_one_way_everywhere():
    # given ten holds of 50 on Alice's account, expiring around the moment the race starts
    alice, bob = AccountFactory(owner=OWNER, balance=1_000), AccountFactory(owner=OWNER)
    holds = [hold_create(source_id=alice.id, destination_id=bob.id, amount=50, owner=OWNER) for _ in range(10)]
    start = timezone.now()
    for number, held in enumerate(holds):  # from just before now to a few moments after it
        Hold.objects.filter(pk=held.pk).update(expires_at=start + timedelta(milliseconds=30 * number - 40))
    last_expiry = start + timedelta(milliseconds=30 * len(holds))

    def act(kind: str, hold_id: uuid.UUID):
        if kind == "capture":
            return hold_capture(hold_id=hold_id, owner=OWNER)
        return holds_expire()

    calls = [(kind, held.pk) for held in holds for kind in ("capture", "expire")]

    # when each hold's capture races an expiry job
    results = run_concurrently(act, calls, workers=len(calls))
    # ...and, once every hold's time has passed, the job visits what is left
    time.sleep(max((last_expiry - timezone.now()).total_seconds(), 0) + 0.01)
    results.append(holds_expire())

    # then no capture failed for any other reason than the expiry, and no job broke
    unexpected = [r for r in results if isinstance(r, Exception) and not isinstance(r, HoldExpired)]
    assert unexpected == []
    captures = {hold_id: result for (kind, hold_id), result in zip(calls, results, strict=False) if kind == "capture"}
    expiries = [hold.pk for result in results if isinstance(result, list) for hold in result]
    assert len(expiries) == len(set(expiries)), "a hold was recorded as expired twice"

    # each hold ended one way, and its status, its capture transaction and the job agree
    stored = {h.pk: h for h in Hold.objects.filter(pk__in=[h.pk for h in holds])}
    captured = {hold_id for hold_id, result in captures.items() if not isinstance(result, Exception)}
    assert {hold_id: h.status for hold_id, h in stored.items()} == {
        hold_id: HoldStatus.CAPTURED if hold_id in captured else HoldStatus.EXPIRED for hold_id in stored}
    assert set(expiries) == set(stored) - captured
    assert all(stored[hold_id].captured_amount == 50 for hold_id in captured)
    assert capture_transactions(stored) == Counter({str(hold_id): 1 for hold_id in captured})
    # the money: 50 moved per capture; nothing is held any more
    assert balance_and_available(alice.id) == (1_000 - 50 * len(captured), 1_000 - 50 * len(captured))
    assert balance_and_available(bob.id) == (50 * len(captured), 50 * len(captured))
    assert held_column(alice.id) == 0
    assert_ledger_reconciles()


def backends_waiting_on_a_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND wait_event_type = 'Lock'")
        return cursor.fetchone()[0]


def wait_for(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the race's setup did not happen in time"
        time.sleep(0.01)


def test_a_capture_that_passed_its_expiry_check_then_queued_behind_a_debit_made_after_expiry_is_hold_expired():
    # given a hold of all Alice's 100, expiring in 2 s, and her balance row locked by a slow transaction
    alice, bob = AccountFactory(owner=OWNER, balance=100), AccountFactory(owner=OWNER)
    held = hold_create(source_id=alice.id, destination_id=bob.id, amount=100, owner=OWNER)
    expires_at = timezone.now() + timedelta(seconds=2)
    Hold.objects.filter(pk=held.pk).update(expires_at=expires_at)
    locked, outcomes = threading.Event(), {}

    def hold_the_balance_row_until_after_expiry():
        try:
            with transaction.atomic():
                list(BalanceBucket.objects.filter(account_id=alice.id).select_for_update())
                locked.set()
                time.sleep(max((expires_at - timezone.now()).total_seconds(), 0) + 0.2)
        finally:
            connection.close()

    def run(name, call):
        try:
            outcomes[name] = call()
        except Exception as exc:  # noqa: BLE001 - the test asserts on every outcome
            outcomes[name] = exc
        finally:
            connection.close()

    blocker = threading.Thread(target=hold_the_balance_row_until_after_expiry)
    blocker.start()
    locked.wait(10)
    # when a withdrawal of 100 queues first on the row (it reads the holds once it has it: after expiry)
    debit = threading.Thread(target=run, args=("withdrawal", lambda: withdraw(
        account_id=alice.id, amount=100, reference="w-1", owner=OWNER)))
    debit.start()
    wait_for(lambda: backends_waiting_on_a_lock() >= 1)
    # ...and the capture, still before expiry, passes its check and queues behind it
    capture = threading.Thread(target=run, args=("capture", lambda: hold_capture(hold_id=held.pk, owner=OWNER)))
    capture.start()
    wait_for(lambda: backends_waiting_on_a_lock() >= 2)
    if timezone.now() >= expires_at:
        pytest.skip("the machine was too slow to set the race up before the hold expired")
    for thread in (blocker, debit, capture):
        thread.join(30)

    # then the withdrawal, made after expiry, took the money and the capture is refused as expired
    assert not isinstance(outcomes["withdrawal"], Exception), outcomes
    assert isinstance(outcomes["capture"], HoldExpired), outcomes
    assert Hold.objects.get(pk=held.pk).status == HoldStatus.HELD  # expired by the clock, not yet recorded
    assert balance_and_available(alice.id) == (0, 0) and balance_and_available(bob.id) == (0, 0)
    assert capture_transactions([held.pk]) == Counter()
    assert_ledger_reconciles()
