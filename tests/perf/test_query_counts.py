"""The hot path stays lean: the exact statements a transfer, a replay, a top-up, a pay, a hold and a
reversal send.

Transactional tests, so no test-wide transaction turns the real BEGIN/COMMIT boundaries
into savepoints: the counts are what production sends (BEGIN, COMMIT and ROLLBACK aside). On
PostgreSQL a posting is one call of the `ledger_post` function; SQLite posts through the ORM.

Every change records its event in the change's own transaction (the outbox, `events.services`):
that costs the event's INSERT and the INSERT of the task that dispatches it, and nothing read. On
PostgreSQL both ride (`mintguard_site.db.riders`) in front of the statement that stores the key's
answer, so an idempotent request pays no statement for its events: a transfer or a deposit is 3
statements, a wallet top-up 4, a hold 3, a capture 3 (its two events, hold.captured and
transfer.created, in one INSERT). Where no such statement follows (a pay, whose key is leased across
transactions; a request without a key), the event and its task are one statement of their own. A
replay and a refusal record nothing and cost what they did.
"""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ..db_helpers import ON_POSTGRES

pytestmark = pytest.mark.django_db(transaction=True)

# The ledger's statements for one posting: the PL/pgSQL function, or the ORM engine's six.
POSTING = ["SELECT ledger_post"] if ON_POSTGRES else [
    "SELECT ledger_account",           # the accounts, ownership checked, one query
    "SELECT ledger_balancebucket",     # lock the balance buckets FOR UPDATE, in order
    "SELECT ledger_transaction",       # reference not posted before
    "INSERT ledger_transaction",
    "INSERT ledger_posting",           # every posting in one statement
    "UPDATE ledger_balancebucket",     # every balance in one statement
]
# Reserve the Idempotency-Key (PostgreSQL: one INSERT ... ON CONFLICT that also reads a stored answer).
RESERVE = "WITH api_idempotencykey" if ON_POSTGRES else "INSERT api_idempotencykey"
# The change's event(s) and the one task that dispatches them, on their own: on PostgreSQL one
# statement (the events' INSERT a CTE in front of the task's), on SQLite two INSERTs.
TASKS = "django_tasks_database_dbtaskresult"
EVENT = [f"INSERT {TASKS} + events_event"] if ON_POSTGRES else ["INSERT events_event", f"INSERT {TASKS}"]
# ...and in an idempotent request, with the stored answer: on PostgreSQL they ride in front of it.
EVENT_AND_STORE = ([f"UPDATE api_idempotencykey + events_event, {TASKS}"] if ON_POSTGRES
                   else [*EVENT, "UPDATE api_idempotencykey"])


def label(sql: str) -> str:
    """'VERB table' of a statement, whether the ORM (quoted names) or our raw SQL wrote it; a statement
    that writes ridden in front of it (`mintguard_site.db.riders`) is 'VERB table + their tables'."""
    ridden = re.findall(r'ridden_\d+ AS \((?:INSERT INTO|UPDATE|DELETE FROM) "?(\w+)', sql)
    if ridden:
        verb, table = re.search(r'\) (INSERT INTO|UPDATE|DELETE FROM) "?(\w+)', sql).groups()
        return f"{verb.split()[0]} {table} + {', '.join(ridden)}"
    function = re.search(r"\b(ledger_post|ledger_hold_create|ledger_hold_capture)\(", sql)
    if function:
        return f"SELECT {function.group(1)}"
    table = re.search(r"\b((?:api|ledger|wallets|payments|events)_[a-z]+|django_tasks_database_[a-z]+)", sql)
    return f"{sql.split(None, 1)[0].upper()} {table.group(1) if table else sql}"


def statements(call):
    with CaptureQueriesContext(connection) as captured:
        response = call()
    sent = [label(q["sql"]) for q in captured.captured_queries]
    return response, [s for s in sent if not s.startswith(("BEGIN", "COMMIT", "ROLLBACK"))]


@pytest.fixture
def two_accounts(api):
    a = api.post("/api/v1/accounts", {"owner_name": "A"}, format="json").json()["id"]
    b = api.post("/api/v1/accounts", {"owner_name": "B"}, format="json").json()["id"]
    api.post(f"/api/v1/accounts/{a}/deposit", {"amount": 10_000}, format="json", HTTP_IDEMPOTENCY_KEY="fund")
    api.get("/api/v1/accounts")  # the key is cached and last_used_at written (at most once a minute): done now
    return a, b


def transfer(api, a, b, key):
    return api.post("/api/v1/transfers", {"source_account_id": a, "destination_account_id": b, "amount": 1},
                    format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_transfer_reserves_posts_and_stores(api, two_accounts):
    response, sent = statements(lambda: transfer(api, *two_accounts, "t-1"))
    assert response.status_code == 201
    # No API-key query (cached), no account lookup before or re-read after the posting.
    assert sent == [RESERVE, *POSTING, *EVENT_AND_STORE]
    if ON_POSTGRES:
        assert len(sent) == 3


def test_a_deposit_is_a_transfer_from_cash(api, two_accounts):
    a, _ = two_accounts
    response, sent = statements(lambda: api.post(f"/api/v1/accounts/{a}/deposit", {"amount": 5}, format="json",
                                                 HTTP_IDEMPOTENCY_KEY="d-1"))
    assert response.status_code == 201 and response.json()["account"]["balance"] == 10_005
    assert sent == [RESERVE, *POSTING, *EVENT_AND_STORE]


def test_a_replay_is_one_indexed_read(api, two_accounts):
    first = transfer(api, *two_accounts, "t-2")
    response, sent = statements(lambda: transfer(api, *two_accounts, "t-2"))
    assert response.content == first.content and response["Idempotent-Replayed"] == "true"
    # PostgreSQL reserves-or-reads in one statement; SQLite's INSERT cannot also read the stored row.
    assert sent == ([RESERVE] if ON_POSTGRES else [RESERVE, "SELECT api_idempotencykey"])


def test_a_refused_withdrawal_stores_its_409_after_the_rollback(api, two_accounts):
    _, b = two_accounts
    response, sent = statements(lambda: api.post(f"/api/v1/accounts/{b}/withdraw", {"amount": 1}, format="json",
                                                 HTTP_IDEMPOTENCY_KEY="w-1"))
    assert response.status_code == 409 and response.json()["code"] == "insufficient_funds"
    # The refusal comes back before any ledger write; the stored answer is one more statement. No event.
    assert sent[0] == RESERVE and sent[-1] == RESERVE and "UPDATE api_idempotencykey" not in sent
    assert not set(EVENT) & set(sent)


def test_a_pay_takes_fourteen_statements(api):
    warm_up, order = (api.post("/api/v1/orders", {"user_id": "u", "amount": 100, "currency": "USD"},
                               format="json").json() for _ in range(2))
    # The first payment in a currency creates its system accounts: not the steady state measured here.
    api.post(f"/api/v1/orders/{warm_up['id']}/pay", {}, format="json", HTTP_IDEMPOTENCY_KEY="p-0")
    response, sent = statements(lambda: api.post(f"/api/v1/orders/{order['id']}/pay", {}, format="json",
                                                 HTTP_IDEMPOTENCY_KEY="p-1"))
    assert response.status_code == 201 and response.json()["order"]["status"] == "PAID"
    assert sent == [
        RESERVE,                           # the key's lease, in autocommit: the provider is called below
        "SELECT payments_order",           # lock the order, checking its owner
        "INSERT payments_payment",         # the PROCESSING attempt: the recovery point, committed
        "INSERT payments_simulatedcharge",  # the provider (simulator): one statement per new charge
        "UPDATE payments_order",           # PAID, only while still in the status step 1 read
        *EVENT,                            # order.paid
        *(s for s in POSTING if s != "SELECT ledger_account"),  # system accounts only: nothing to look up
        "UPDATE payments_payment",         # SUCCEEDED, only while still PROCESSING
        "UPDATE api_idempotencykey",       # the stored response
    ]


def test_a_wallet_top_up_is_a_transfer_plus_the_wallet_lookup(api):
    def topup(reference):
        return api.post("/api/v1/wallets/topup", {"user_id": "u-1", "amount": 5, "currency": "USD",
                                                   "reference_id": reference}, format="json")

    assert topup("warm-up").status_code == 201  # opens the wallet and the system accounts
    response, sent = statements(lambda: topup("t-1"))
    assert response.status_code == 201 and response.json()["balance_after"] == 10
    assert sent == [RESERVE, "SELECT wallets_wallet", *POSTING, *EVENT_AND_STORE]


# A hold on PostgreSQL is one call of `ledger_hold_create`; through the ORM: find both accounts, lock
# the source's balance row, write the hold, add it to the row's `held`.
HOLD_CREATE = ["SELECT ledger_hold_create"] if ON_POSTGRES else [
    "SELECT ledger_account",           # both accounts, ownership checked, one query
    "SELECT ledger_balancebucket",     # lock the source's balance row FOR UPDATE
    "INSERT ledger_hold",
    "UPDATE ledger_balancebucket",     # held += amount
]
# A capture on PostgreSQL is one call of `ledger_hold_capture` (which calls `ledger_post`); through the ORM:
CAPTURE = ["SELECT ledger_hold_capture"] if ON_POSTGRES else [
    "SELECT ledger_hold",              # lock the hold (FOR UPDATE) with both accounts
    "SELECT ledger_balancebucket",     # then its accounts' balance rows, before the clock is read
    "UPDATE ledger_hold",              # CAPTURED, before the posting, so it no longer reserves
    "SELECT ledger_account",           # the posting, as POSTING, except that the source's row still
    "SELECT ledger_balancebucket",     # counts the hold in `held` (given back after the posting, in
    "SELECT ledger_hold",              # lock order), so it sums the account's other active holds
    "SELECT ledger_transaction",
    "INSERT ledger_transaction",
    "INSERT ledger_posting",
    "UPDATE ledger_balancebucket",
    "UPDATE ledger_balancebucket",     # held -= amount
]


def hold(api, a, b, key, amount=1):
    return api.post("/api/v1/holds", {"source_account_id": a, "destination_account_id": b, "amount": amount},
                    format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_hold_reserves_in_one_call_and_stores(api, two_accounts):
    response, sent = statements(lambda: hold(api, *two_accounts, "h-1"))
    assert response.status_code == 201 and response.json()["status"] == "HELD"
    # `held` is 0, so no hold is summed; nothing is read back after the writes.
    assert sent == [RESERVE, *HOLD_CREATE, *EVENT_AND_STORE]
    if ON_POSTGRES:
        assert len(sent) == 3


def test_a_hold_beside_an_active_one_also_sums_the_active_holds(api, two_accounts):
    assert hold(api, *two_accounts, "h-1").status_code == 201
    response, sent = statements(lambda: hold(api, *two_accounts, "h-2"))
    assert response.status_code == 201
    if ON_POSTGRES:  # the function sums them inside
        assert sent == [RESERVE, "SELECT ledger_hold_create", *EVENT_AND_STORE]
    else:
        assert sent == [RESERVE, *HOLD_CREATE[:2], "SELECT ledger_hold", *HOLD_CREATE[2:], *EVENT_AND_STORE]


def test_a_capture_is_one_call_between_reserving_and_storing_the_key(api, two_accounts):
    held = hold(api, *two_accounts, "h-1", amount=5).json()
    response, sent = statements(lambda: api.post(f"/api/v1/holds/{held['id']}/capture", {}, format="json",
                                                 HTTP_IDEMPOTENCY_KEY="c-1"))
    assert response.status_code == 201 and response.json()["transfer"]["amount"] == 5
    # hold.captured and transfer.created: one write of both and their one task.
    assert sent == [RESERVE, *CAPTURE, *EVENT_AND_STORE]
    if ON_POSTGRES:
        assert len(sent) == 3


def test_a_void_without_a_key_is_six_statements(api, two_accounts):
    held = hold(api, *two_accounts, "h-1").json()
    response, sent = statements(lambda: api.post(f"/api/v1/holds/{held['id']}/void", {}, format="json"))
    assert response.status_code == 200 and response.json()["hold"]["status"] == "VOIDED"
    # The hold, then its accounts' balance rows before the clock is read (migration 0013's order).
    assert sent == ["SELECT ledger_hold", "SELECT ledger_balancebucket", "UPDATE ledger_hold",
                    "UPDATE ledger_balancebucket", *EVENT]


def test_a_reversal_is_one_read_then_a_transfer_and_its_link(api, two_accounts):
    moved = transfer(api, *two_accounts, "t-1").json()["id"]
    response, sent = statements(lambda: api.post(f"/api/v1/transactions/{moved}/reverse", {}, format="json",
                                                 HTTP_IDEMPOTENCY_KEY="r-1"))
    assert response.status_code == 201
    # A transfer's statements and two more: one read of what it reverses (its postings with their
    # transaction and accounts, and whether it was reversed) and the INSERT that links the two.
    assert sent == [RESERVE, "SELECT ledger_posting", *POSTING, "INSERT ledger_reversal", *EVENT_AND_STORE]
