"""Reversals over HTTP and through the service: `POST /api/v1/transactions/{id}/reverse`.

Every route and refusal of the contract (API.md, "Reversals and history"), on both posting engines:
the exact opposite legs, once, for a client's own deposit, withdrawal or transfer; 409
`already_reversed` (also when two race), `not_reversible`, `insufficient_funds`, `wallet_account`;
404 for another client's; idempotent replay; the `transaction.reversed` event in the same transaction.
"""

import uuid
from collections import Counter

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from rest_framework.test import APIClient

from audit.models import AuditAction, AuditEntry
from events.models import Event
from ledger.api import serializers as ledger_serializers
from ledger.exceptions import AlreadyReversed, ManagedAccount, NotReversible, TransactionNotFound
from ledger.models import (
    Account,
    AccountManagedBy,
    Direction,
    Posting,
    ReferenceNamespace,
    Reversal,
    Transaction,
)
from ledger.services import (
    Leg,
    account_create,
    deposit,
    operator_transaction_reverse,
    system_account_id,
    transaction_post,
    transaction_reverse,
    transfer_create,
)
from mintguard_site.api.models import IdempotencyKey, Scope
from mintguard_site.api.services import api_client_create

from ..concurrency import run_concurrently
from ..db_helpers import ON_POSTGRES
from ..payments.helpers import paid_order, payment_transactions, refund, refund_transactions
from .invariants import assert_ledger_consistent
from .test_accounts_api import assert_problem, balance_of, open_account, post

pytestmark = pytest.mark.django_db

REVERSAL_FIELDS = ["id", "reverses", "description", "created_at", "entries"]


def reverse(api, transaction_id, key, body=None):
    return post(api, f"/api/v1/transactions/{transaction_id}/reverse", {} if body is None else body, key)


def deposited(api, account_id, amount, key="dep-1") -> str:
    response = post(api, f"/api/v1/accounts/{account_id}/deposit", {"amount": amount}, key)
    assert response.status_code == 201, response.content
    return response.json()["transaction_id"]


def withdrawn(api, account_id, amount, key="wd-1") -> str:
    response = post(api, f"/api/v1/accounts/{account_id}/withdraw", {"amount": amount}, key)
    assert response.status_code == 201, response.content
    return response.json()["transaction_id"]


def transferred(api, source, destination, amount, key="tr-1") -> str:
    response = post(api, "/api/v1/transfers", {"source_account_id": source, "destination_account_id": destination,
                                               "amount": amount}, key)
    assert response.status_code == 201, response.content
    return response.json()["id"]


def legs_of(transaction_id) -> list[tuple[str, str, int]]:
    """(account id, direction, amount) of each posting, in the order they were written."""
    return [(str(account_id), direction, amount) for account_id, direction, amount in
            Posting.objects.filter(transaction_id=transaction_id).order_by("id")
            .values_list("account_id", "direction", "amount")]


def flipped(legs) -> list[tuple[str, str, int]]:
    other = {Direction.DEBIT: Direction.CREDIT, Direction.CREDIT: Direction.DEBIT}
    return [(account_id, other[direction], amount) for account_id, direction, amount in legs]


def cash_balance() -> int:
    return Account.objects.with_balance().get(pk=system_account_id("cash", "USD")).balance


def counts() -> tuple[int, int, int, int]:
    return (Transaction.objects.count(), Posting.objects.count(), Reversal.objects.count(),
            Event.objects.filter(type="transaction.reversed").count())


@pytest.fixture
def alice(api, ledger_engine):
    return open_account(api, "Alice")["id"]


@pytest.fixture
def bob(api, ledger_engine):
    return open_account(api, "Bob")["id"]


# --- success: each reversible kind ---------------------------------------------------------


def test_reversing_a_deposit_posts_its_exact_opposite_legs_and_restores_the_balances(api, alice):
    # given a deposit of 1,000 into Alice's account
    original = deposited(api, alice, 1_000)
    cash_before = cash_balance()

    # when Alice's client reverses it
    response = reverse(api, original, "rev-1", {"description": "Deposited twice"})

    # then the reversal is the deposit's legs, each direction flipped, and the money is back where it was
    assert response.status_code == 201, response.content
    body = response.json()
    assert list(body) == REVERSAL_FIELDS
    assert body["reverses"] == original and body["description"] == "Deposited twice"
    assert [(e["account_id"], e["type"], e["amount"]) for e in body["entries"]] == flipped(legs_of(original))
    assert legs_of(body["id"]) == flipped(legs_of(original))
    assert balance_of(alice) == 0
    assert cash_balance() == cash_before - 1_000
    txn = Transaction.objects.get(pk=body["id"])
    assert (txn.kind, txn.namespace, txn.reference, txn.owner) == (
        "reversal", ReferenceNamespace.SYSTEM, f"reversal:{original}", api.api_client.owner)
    assert txn.created_at.isoformat().replace("+00:00", "Z") == body["created_at"]
    link = Reversal.objects.get()
    assert (str(link.original_id), str(link.reversal_id)) == (original, body["id"])
    assert_ledger_consistent()


def test_reversing_a_withdrawal_puts_the_money_back_on_the_account(api, alice):
    deposited(api, alice, 1_000)
    original = withdrawn(api, alice, 400)
    assert balance_of(alice) == 600

    response = reverse(api, original, "rev-1")

    assert response.status_code == 201, response.content
    assert response.json()["entries"] == [
        {"account_id": account_id, "type": direction, "amount": amount}
        for account_id, direction, amount in flipped(legs_of(original))
    ]
    assert balance_of(alice) == 1_000
    assert_ledger_consistent()


def test_reversing_a_transfer_moves_the_amount_back_from_destination_to_source(api, alice, bob):
    deposited(api, alice, 1_000)
    original = transferred(api, alice, bob, 300)

    response = reverse(api, original, "rev-1")

    assert response.status_code == 201, response.content
    assert response.json()["entries"] == [
        {"account_id": alice, "type": "CREDIT", "amount": 300},
        {"account_id": bob, "type": "DEBIT", "amount": 300},
    ]
    assert (balance_of(alice), balance_of(bob)) == (1_000, 0)
    assert_ledger_consistent()


def test_a_transfer_of_a_batch_is_reversed_alone(api, alice, bob):
    deposited(api, alice, 1_000)
    batch = post(api, "/api/v1/transfers/batch", {"transfers": [
        {"source_account_id": alice, "destination_account_id": bob, "amount": 100},
        {"source_account_id": alice, "destination_account_id": bob, "amount": 200},
    ]}, "batch-1")
    assert batch.status_code == 201, batch.content
    second = batch.json()["transfers"][1]["id"]

    assert reverse(api, second, "rev-1").status_code == 201
    assert (balance_of(alice), balance_of(bob)) == (900, 100)


def test_the_reversal_shows_on_the_statement_with_its_reference(api, alice):
    original = deposited(api, alice, 1_000)
    reversal = reverse(api, original, "rev-1").json()

    entries = api.get(f"/api/v1/accounts/{alice}/statement").json()["entries"]

    newest = entries[0]
    assert (newest["transaction_id"], newest["type"], newest["amount"], newest["balance_after"], newest["ref"]) == (
        reversal["id"], "DEBIT", 1_000, 0, f"reversal:{original}")


# --- refusals ------------------------------------------------------------------------------


def test_reversing_twice_is_409_already_reversed_and_posts_nothing(api, alice):
    original = deposited(api, alice, 1_000)
    assert reverse(api, original, "rev-1").status_code == 201
    before = counts()

    body = assert_problem(reverse(api, original, "rev-2"), 409, "already_reversed")

    assert original in body["detail"]
    assert counts() == before
    assert balance_of(alice) == 0


def test_a_reversal_is_not_reversible(api, alice):
    original = deposited(api, alice, 1_000)
    reversal = reverse(api, original, "rev-1").json()
    before = counts()

    body = assert_problem(reverse(api, reversal["id"], "rev-2"), 409, "not_reversible")

    assert "itself a reversal" in body["detail"]
    assert counts() == before


def test_a_payment_and_a_refund_are_not_reversible_refund_the_order_instead(api, ledger_engine):
    order = paid_order(api, amount=1_200)
    assert refund(api, order["id"], amount=200).status_code == 201
    [payment] = payment_transactions(order["id"])
    [refunded] = refund_transactions(order["id"])
    before = counts()

    for txn in (payment, refunded):
        body = assert_problem(reverse(api, txn.id, f"rev-{txn.id}"), 409, "not_reversible")
        assert f"is a {txn.kind}" in body["detail"] and "refund a payment through its order" in body["detail"]

    assert counts() == before


def test_a_hold_capture_is_not_reversible_though_its_kind_is_transfer(api, alice, bob):
    deposited(api, alice, 1_000)
    held = post(api, "/api/v1/holds", {"source_account_id": alice, "destination_account_id": bob, "amount": 300},
                "hold-1").json()
    captured = post(api, f"/api/v1/holds/{held['id']}/capture", {}, "cap-1").json()["transfer"]
    assert Transaction.objects.get(pk=captured["id"]).kind == "transfer"

    body = assert_problem(reverse(api, captured["id"], "rev-1"), 409, "not_reversible")
    assert "is a hold's capture" in body["detail"]
    assert (balance_of(alice), balance_of(bob)) == (700, 300)


def test_a_wallet_top_up_is_not_reversible(api, ledger_engine):
    topup = post(api, "/api/v1/wallets/topup", {"user_id": "u-1", "amount": 500, "reference_id": "top-1"}).json()

    body = assert_problem(reverse(api, topup["id"], "rev-1"), 409, "not_reversible")
    assert "is a topup" in body["detail"]


def test_reversing_a_deposit_whose_money_moved_on_is_409_insufficient_funds(api, alice, bob):
    # given 1,000 deposited, 800 of it transferred on to Bob
    original = deposited(api, alice, 1_000)
    transferred(api, alice, bob, 800)
    before = counts()

    # when the deposit is reversed, it would take 1,000 from Alice's 200
    body = assert_problem(reverse(api, original, "rev-1"), 409, "insufficient_funds")

    # then nothing moved, and the same key answers the same 409
    assert "200 USD available, 1000 requested" in body["detail"]
    assert counts() == before and balance_of(alice) == 200
    replay = reverse(api, original, "rev-1")
    assert replay.status_code == 409 and replay["Idempotent-Replayed"] == "true"


def test_an_active_hold_counts_against_a_reversal(api, alice, bob):
    original = deposited(api, alice, 1_000)
    assert post(api, "/api/v1/holds", {"source_account_id": alice, "destination_account_id": bob, "amount": 1},
                "hold-1").status_code == 201

    body = assert_problem(reverse(api, original, "rev-1"), 409, "insufficient_funds")
    assert "999 USD available" in body["detail"]


def test_reversing_a_transfer_whose_destination_spent_it_is_409(api, alice, bob):
    deposited(api, alice, 1_000)
    original = transferred(api, alice, bob, 300)
    withdrawn(api, bob, 100)

    assert_problem(reverse(api, original, "rev-1"), 409, "insufficient_funds")
    assert (balance_of(alice), balance_of(bob)) == (700, 200)


def test_another_clients_transaction_is_404_and_moves_nothing(api, make_api_client, alice):
    original = deposited(api, alice, 1_000)
    intruder = make_api_client("intruder")
    before = counts()

    assert_problem(reverse(intruder, original, "rev-1"), 404, "transaction_not_found")

    assert counts() == before and balance_of(alice) == 1_000


@pytest.mark.parametrize("transaction_id", [str(uuid.uuid4()), "not-a-uuid", "1"])
def test_an_unknown_or_malformed_transaction_id_is_404(api, transaction_id):
    assert_problem(reverse(api, transaction_id, "rev-1"), 404, "transaction_not_found")


def test_without_an_idempotency_key_it_is_400_and_moves_nothing(api, alice):
    original = deposited(api, alice, 1_000)

    assert_problem(reverse(api, original, None), 400, "idempotency_key_missing")
    assert_problem(reverse(api, original, "bad key\n"), 400, "idempotency_key_invalid")
    assert balance_of(alice) == 1_000 and not Reversal.objects.exists()


@pytest.mark.parametrize("body", [{"description": "x" * 501}, {"description": ["x"]}, {"description": None}, {"amount": 5}, ["x"]])
def test_a_bad_body_is_422_and_a_corrected_retry_with_the_same_key_runs(api, alice, body):
    original = deposited(api, alice, 1_000)

    response = reverse(api, original, "rev-1", body)

    assert_problem(response, 422, "validation_error")
    assert balance_of(alice) == 1_000
    assert reverse(api, original, "rev-1").status_code == 201
    assert balance_of(alice) == 0


def test_a_key_without_the_accounts_scope_is_403(api, alice):
    original = deposited(api, alice, 1_000)
    _, key = api_client_create(name="payments-only", scopes=[Scope.PAYMENTS])
    payments_only = APIClient()
    payments_only.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    assert_problem(reverse(payments_only, original, "rev-1"), 403, "scope_denied")


def test_a_wallets_account_is_refused_as_on_the_generic_routes(api, ledger_engine):
    # given a client-namespace transfer onto a wallet's account (no generic route makes one: written here
    # through the posting door the wallets app uses)
    owner = api.api_client.owner
    wallet = account_create(owner=owner, name="wallet:u-1", managed_by=AccountManagedBy.WALLET)
    alice = account_create(owner=owner, name="Alice")
    deposit(account_id=alice.id, amount=500, reference="fund", owner=owner)
    original = transaction_post(namespace=ReferenceNamespace.CLIENT, reference="odd", kind="transfer", owner=owner,
                                legs=[Leg(alice.id, Direction.DEBIT, 500), Leg(wallet.id, Direction.CREDIT, 500)])
    before = counts()

    # when the client reverses it: 409 wallet_account, as a transfer touching the wallet would be
    assert_problem(reverse(api, original.id, "rev-1"), 409, "wallet_account")
    with pytest.raises(ManagedAccount):
        transaction_reverse(transaction_id=original.id, owner=owner)
    assert counts() == before


# --- idempotency and the event -------------------------------------------------------------


def test_a_replay_returns_the_same_bytes_and_posts_nothing(api, alice):
    original = deposited(api, alice, 1_000)
    first = reverse(api, original, "rev-1", {"description": "oops"})
    before = counts()

    again = reverse(api, original, "rev-1", {"description": "oops"})

    assert again.status_code == 201 and again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert counts() == before


def test_the_same_key_with_another_body_or_transaction_is_409_reused(api, alice):
    original = deposited(api, alice, 1_000)
    other = deposited(api, alice, 5, key="dep-2")
    assert reverse(api, original, "rev-1").status_code == 201

    assert_problem(reverse(api, original, "rev-1", {"description": "changed"}), 409, "idempotency_key_reused")
    assert_problem(reverse(api, other, "rev-1"), 409, "idempotency_key_reused")
    assert IdempotencyKey.objects.filter(key="rev-1").count() == 1


def test_the_reversal_records_transaction_reversed_with_the_response_as_data_once(api, make_api_client, alice):
    original = deposited(api, alice, 1_000)

    body = reverse(api, original, "rev-1").json()
    reverse(api, original, "rev-1")  # a replay
    reverse(api, original, "rev-2")  # a refusal

    [event] = Event.objects.filter(type="transaction.reversed")
    assert event.owner == api.api_client.owner
    assert event.data == body
    assert api.get(f"/api/v1/events/{event.id}").json()["data"] == body
    assert make_api_client("other").get(f"/api/v1/events/{event.id}").status_code == 404


def test_the_body_has_the_fields_its_serializer_documents_in_order(api, alice):
    original = deposited(api, alice, 1_000)
    body = reverse(api, original, "rev-1").json()
    assert list(body) == list(ledger_serializers.ReversalSerializer().fields)
    assert list(body["entries"][0]) == list(ledger_serializers.EntrySerializer().fields)


# --- the service ---------------------------------------------------------------------------


@pytest.fixture
def funded(ledger_engine):
    alice = account_create(owner="client-a", name="Alice")
    bob = account_create(owner="client-a", name="Bob")
    deposit(account_id=alice.id, amount=1_000, reference="fund", owner="client-a")
    return alice, bob


def test_the_service_reverses_once_and_says_why_not_after(funded):
    alice, bob = funded
    original = transfer_create(source_id=alice.id, destination_id=bob.id, amount=250, reference="t-1",
                               owner="client-a")

    reversal = transaction_reverse(transaction_id=original.id, owner="client-a", description="typo")

    assert reversal.reverses.original_id == original.id and reversal.description == "typo"
    assert Transaction.objects.get(pk=original.id).reversed_by.reversal_id == reversal.id
    with pytest.raises(AlreadyReversed):
        transaction_reverse(transaction_id=original.id)
    with pytest.raises(NotReversible):
        transaction_reverse(transaction_id=reversal.id)
    with pytest.raises(TransactionNotFound):
        transaction_reverse(transaction_id=original.id, owner="client-b")


def test_an_operators_reversal_belongs_to_the_original_owner_and_is_audited(funded, operator_user):
    alice, _ = funded
    original = Transaction.objects.get(reference="fund")
    admin = operator_user("admin")

    reversal = operator_transaction_reverse(transaction_id=original.id, user=admin, note="  duplicate deposit ")

    assert reversal.owner == "client-a"
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.target_type, entry.target_id, entry.note, entry.actor) == (
        AuditAction.TRANSACTION_REVERSED, "transaction", str(original.id), "duplicate deposit", admin)
    assert entry.after["reversed_by"] == str(reversal.id)
    assert Event.objects.get(type="transaction.reversed").owner == "client-a"


def test_an_operators_reversal_needs_a_note_and_an_audit_failure_undoes_it(funded, operator_user, monkeypatch):
    original = Transaction.objects.get(reference="fund")
    admin = operator_user("admin")

    with pytest.raises(ValueError, match="note"):
        operator_transaction_reverse(transaction_id=original.id, user=admin, note="  ")

    import ledger.services.reversals as reversals

    def audit_down(**kwargs):
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(reversals, "audit_record", audit_down)
    with pytest.raises(RuntimeError):
        operator_transaction_reverse(transaction_id=original.id, user=admin, note="why")
    assert not Reversal.objects.exists() and not Transaction.objects.filter(kind="reversal").exists()
    assert balance_of(funded[0].id) == 1_000


def test_operators_in_the_browsable_api_need_the_reverse_permission_and_are_audited(api, client, operator_user,
                                                                                   alice):
    original = deposited(api, alice, 1_000)

    client.force_login(operator_user("operator"))
    assert_problem(client.post(f"/api/v1/transactions/{original}/reverse", {}, content_type="application/json",
                               HTTP_IDEMPOTENCY_KEY="op-1"), 403, "permission_denied")
    assert balance_of(alice) == 1_000

    client.force_login(operator_user("admin"))
    response = client.post(f"/api/v1/transactions/{original}/reverse", {"description": "Bank returned it"},
                           content_type="application/json", HTTP_IDEMPOTENCY_KEY="op-2")
    assert response.status_code == 201, response.content
    assert balance_of(alice) == 0
    assert Transaction.objects.get(pk=response.json()["id"]).owner == api.api_client.owner
    assert AuditEntry.objects.get(action=AuditAction.TRANSACTION_REVERSED).note == "Bank returned it"


# --- the database's word -------------------------------------------------------------------


def test_a_second_reversal_row_for_the_same_transaction_is_refused_by_the_database(funded):
    alice, bob = funded
    original = Transaction.objects.get(reference="fund")
    transaction_reverse(transaction_id=original.id)
    # a second posting that claims to reverse it too: the link's unique primary key refuses it
    deposit(account_id=alice.id, amount=1_000, reference="fund-2", owner="client-a")
    other = transaction_post(namespace=ReferenceNamespace.SYSTEM, reference="forged", kind="reversal",
                             owner="client-a", legs=[Leg(alice.id, Direction.DEBIT, 1_000),
                                                     Leg(bob.id, Direction.CREDIT, 1_000)])

    with pytest.raises(IntegrityError), transaction.atomic():
        Reversal.objects.create(original=original, reversal=other)
    with pytest.raises(IntegrityError), transaction.atomic():
        Reversal.objects.create(original=other, reversal=other)  # nothing reverses itself


@pytest.mark.postgres_only
@pytest.mark.parametrize("statement", ["UPDATE ledger_reversal SET reversal_id = original_id",
                                       "DELETE FROM ledger_reversal"])
def test_the_link_is_append_only_on_postgresql(funded, statement):
    original = Transaction.objects.get(reference="fund")
    transaction_reverse(transaction_id=original.id)

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert Reversal.objects.get().original_id == original.id


@pytest.mark.skipif(not ON_POSTGRES, reason="needs PostgreSQL (make test-postgres): SQLite serializes writers")
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(120)
@pytest.mark.parametrize("through", ["api", "service"])
def test_reversals_racing_each_other_reverse_once(make_api_client, ledger_engine, through):
    # given a transfer of 300 from Alice to Bob
    api = make_api_client("racer")
    alice, bob = open_account(api, "Alice")["id"], open_account(api, "Bob")["id"]
    deposited(api, alice, 1_000)
    original = transferred(api, alice, bob, 300)

    # when eight reversals of it arrive at once, each under its own key
    def attempt(n):
        if through == "service":
            return transaction_reverse(transaction_id=original, owner=api.api_client.owner).id
        response = reverse(api, original, f"rev-{n}")
        return response.status_code, response.json().get("code")

    results = run_concurrently(attempt, [(n,) for n in range(8)], workers=8)

    # then exactly one reversed it; every other one was told it was already reversed
    if through == "service":
        winners = [r for r in results if isinstance(r, uuid.UUID)]
        assert len(winners) == 1, results
        assert all(isinstance(r, AlreadyReversed) for r in results if r not in winners), results
    else:
        assert Counter(results) == {(201, None): 1, (409, "already_reversed"): 7}, results
    assert Reversal.objects.count() == 1 and Transaction.objects.filter(kind="reversal").count() == 1
    assert Event.objects.filter(type="transaction.reversed").count() == 1
    assert (balance_of(alice), balance_of(bob)) == (1_000, 0)
    assert_ledger_consistent()
