"""The hot path stays lean: the exact statements a transfer, a pay and a replay send.

Transactional tests, so no test-wide transaction turns the real BEGIN/COMMIT boundaries
into savepoints: the counts are what production sends (BEGIN and COMMIT aside).
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db(transaction=True)


def statements(call):
    with CaptureQueriesContext(connection) as captured:
        response = call()
    # BEGIN and COMMIT are transaction boundaries, not queries (SQLite's backend logs them).
    queries = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(("BEGIN", "COMMIT"))]
    return response, [sql.split(" ", 1)[0] + " " + sql.split('"')[1] if '"' in sql else sql for sql in queries]


@pytest.fixture
def two_accounts(api):
    a = api.post("/api/v1/accounts", {"owner_name": "A"}, format="json").json()["id"]
    b = api.post("/api/v1/accounts", {"owner_name": "B"}, format="json").json()["id"]
    api.post(f"/api/v1/accounts/{a}/deposit", {"amount": 10_000}, format="json", HTTP_IDEMPOTENCY_KEY="fund")
    api.get("/api/v1/accounts")  # last_used_at is written at most once a minute: done now
    return a, b


def transfer(api, a, b, key):
    return api.post("/api/v1/transfers", {"source_account_id": a, "destination_account_id": b, "amount": 1},
                    format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_a_transfer_takes_nine_statements(api, two_accounts):
    response, sent = statements(lambda: transfer(api, *two_accounts, "t-1"))
    assert response.status_code == 201
    assert sent == [
        "SELECT api_apiclient",            # authenticate the key
        "INSERT api_idempotencykey",       # reserve the key (autocommit)
        "SELECT ledger_account",           # both accounts, ownership checked, one query
        "SELECT ledger_balancebucket",     # lock both balance buckets FOR UPDATE, in order
        "SELECT ledger_transaction",       # reference not posted before
        "INSERT ledger_transaction",
        "INSERT ledger_posting",           # both postings in one statement
        "UPDATE ledger_balancebucket",     # both balances in one statement
        "UPDATE api_idempotencykey",       # the stored response, in the same transaction
    ]


def test_a_replay_takes_three_statements(api, two_accounts):
    first = transfer(api, *two_accounts, "t-2")
    response, sent = statements(lambda: transfer(api, *two_accounts, "t-2"))
    assert response.content == first.content and response["Idempotent-Replayed"] == "true"
    assert sent == ["SELECT api_apiclient", "INSERT api_idempotencykey", "SELECT api_idempotencykey"]


def test_a_pay_takes_at_most_nineteen_statements(api):
    warm_up, order = (api.post("/api/v1/orders", {"user_id": "u", "amount": 100, "currency": "USD"},
                               format="json").json() for _ in range(2))
    # The first payment in a currency creates its system accounts: not the steady state measured here.
    api.post(f"/api/v1/orders/{warm_up['id']}/pay", {}, format="json", HTTP_IDEMPOTENCY_KEY="p-0")
    response, sent = statements(lambda: api.post(f"/api/v1/orders/{order['id']}/pay", {}, format="json",
                                                 HTTP_IDEMPOTENCY_KEY="p-1"))
    assert response.status_code == 201 and response.json()["order"]["status"] == "PAID"
    assert len(sent) <= 19, "\n".join(sent)


def test_a_wallet_top_up_takes_nine_statements_like_a_transfer(api):
    def topup(reference):
        return api.post("/api/v1/wallets/topup", {"user_id": "u-1", "amount": 5, "currency": "USD",
                                                   "reference_id": reference}, format="json")

    assert topup("warm-up").status_code == 201  # opens the wallet and the system accounts
    response, sent = statements(lambda: topup("t-1"))
    assert response.status_code == 201 and response.json()["balance_after"] == 10
    assert sent == [
        "SELECT api_apiclient",            # authenticate the key
        "INSERT api_idempotencykey",       # reserve the key (reference_id), autocommit
        "SELECT wallets_wallet",           # the wallet with its account (no savepoint: the request is atomic)
        "SELECT ledger_balancebucket",     # lock the wallet's bucket and one treasury bucket
        "SELECT ledger_transaction",       # reference not posted before
        "INSERT ledger_transaction",
        "INSERT ledger_posting",
        "UPDATE ledger_balancebucket",
        "UPDATE api_idempotencykey",       # the stored response; the body is built from memory
    ]
