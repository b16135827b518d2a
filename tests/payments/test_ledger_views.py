"""An order's ledger entries and the ledger summary match the postings, and notice corruption."""

import pytest
from django.db import connection

from ledger.models import Posting
from ledger.services import deposit

from ..db_helpers import ON_POSTGRES
from ..ledger.factories import AccountFactory
from .helpers import create_order, paid_order, pay, refund

pytestmark = pytest.mark.django_db


def test_order_ledger_lists_dr_and_cr_lines_matching_the_postings(api, settings):
    settings.MINTGUARD_PLATFORM_FEE_BPS = 250
    order = paid_order(api, amount=1001, seller_id="seller-1")
    refund(api, order["id"], amount=333)

    body = api.get(f"/api/v1/orders/{order['id']}/ledger").json()

    assert body["order_id"] == order["id"]
    lines = [(e["kind"], e["account"], e["direction"], e["amount"]) for e in body["entries"]]
    assert sorted(lines) == sorted([
        ("payment", "cash", "DR", 1001), ("payment", "seller_payable", "CR", 976), ("payment", "revenue", "CR", 25),
        ("refund", "seller_payable", "DR", 325), ("refund", "revenue", "DR", 8), ("refund", "cash", "CR", 333),
    ])
    assert [e["kind"] for e in body["entries"]] == ["payment"] * 3 + ["refund"] * 3  # oldest first
    postings = {
        (str(p.transaction_id), str(p.account_id), "DR" if p.direction == "DEBIT" else "CR", p.amount, p.currency)
        for p in Posting.objects.filter(transaction__metadata__order_id=order["id"])
    }
    assert {(e["transaction_id"], e["account_id"], e["direction"], e["amount"], e["currency"])
            for e in body["entries"]} == postings
    assert all(e["created_at"] for e in body["entries"])


def test_an_unpaid_or_declined_order_has_no_ledger_entries(api):
    order = create_order(api)
    pay(api, order["id"], simulate="decline")
    assert api.get(f"/api/v1/orders/{order['id']}/ledger").json() == {"order_id": order["id"], "entries": []}


def test_summary_sums_debits_and_credits_per_currency_and_account(api):
    paid_order(api, amount=1200)
    paid_order(api, amount=300, currency="JPY")

    summary = api.get("/api/v1/ledger/summary").json()

    assert summary["balanced"] is True
    assert set(summary["currencies"]) == {"USD", "JPY"}
    usd = summary["currencies"]["USD"]
    assert (usd["debits"], usd["credits"]) == (1200, 1200)
    assert {a["name"]: (a["debits"], a["credits"], a["balance"]) for a in usd["accounts"]} == {
        "cash": (1200, 0, 1200), "revenue": (0, 1200, 1200),
    }
    assert summary["currencies"]["JPY"]["debits"] == 300


def test_summary_lists_your_accounts_and_folds_other_clients_accounts_into_one_line(api, make_api_client):
    other = make_api_client("other")
    theirs = AccountFactory(owner=other.api_client.owner, name="Their customer", balance=700)
    mine = AccountFactory(owner=api.api_client.owner, name="My customer", balance=50)

    accounts = api.get("/api/v1/ledger/summary").json()["currencies"]["USD"]["accounts"]

    by_name = {a["name"]: a for a in accounts}
    assert by_name["My customer"]["id"] == str(mine.id) and by_name["My customer"]["balance"] == 50
    assert "Their customer" not in by_name and str(theirs.id) not in str(accounts)
    assert by_name["other_clients_accounts"] == {
        "id": None, "name": "other_clients_accounts", "debits": 0, "credits": 700, "balance": 700,
    }
    assert by_name["cash"]["balance"] == 750
    assert sum(a["debits"] for a in accounts) == sum(a["credits"] for a in accounts) == 750


def test_an_operator_sees_every_account_in_the_summary(api, make_api_client, operator_user):
    from rest_framework.test import APIClient

    theirs = AccountFactory(owner=make_api_client("other").api_client.owner, name="Their customer", balance=700)
    operator = APIClient()
    operator.force_login(operator_user("viewer"))

    accounts = operator.get("/api/v1/ledger/summary").json()["currencies"]["USD"]["accounts"]

    assert {a["name"]: a["id"] for a in accounts}["Their customer"] == str(theirs.id)


def test_an_empty_ledger_is_balanced(api):
    assert api.get("/api/v1/ledger/summary").json() == {"balanced": True, "currencies": {}}


@pytest.mark.skipif(ON_POSTGRES, reason="PostgreSQL triggers refuse to change a posting")
def test_summary_is_unbalanced_when_a_posting_is_corrupted_by_raw_sql(api):
    order = paid_order(api, amount=1200)
    account = AccountFactory(owner=api.api_client.owner)
    deposit(account_id=account.id, amount=10, reference="dep", owner=api.api_client.owner)
    assert api.get("/api/v1/ledger/summary").json()["balanced"] is True
    posting = Posting.objects.filter(transaction__metadata__order_id=order["id"], direction="CREDIT").get()

    with connection.cursor() as cursor:
        cursor.execute("UPDATE ledger_posting SET amount = amount + 1 WHERE id = %s", [posting.id])

    summary = api.get("/api/v1/ledger/summary").json()
    assert summary["balanced"] is False
    usd = summary["currencies"]["USD"]
    assert (usd["debits"], usd["credits"]) == (1210, 1211)
