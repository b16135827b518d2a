"""Issue 14, item 8: a wallet's ledger account moves only through the wallet routes.

The generic account routes (deposit, withdraw, transfer on either side, transfer batch) answer
409 `wallet_account` for it and move nothing; reads of it (the account, its statement) still work,
and so do the wallet routes.
"""

import importlib
import uuid

import pytest
from django.apps import apps

from ledger.models import Account, AccountManagedBy, Posting, Transaction
from wallets.models import Wallet

from ..ledger.invariants import assert_ledger_consistent

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def open_account(api, name: str, *, fund: int = 0) -> str:
    account_id = api.post("/api/v1/accounts", {"owner_name": name}, format="json").json()["id"]
    if fund:
        response = api.post(f"/api/v1/accounts/{account_id}/deposit", {"amount": fund}, format="json",
                            HTTP_IDEMPOTENCY_KEY=f"fund-{account_id}")
        assert response.status_code == 201, response.content
    return account_id


@pytest.fixture
def accounts(api) -> dict[str, str]:
    """user-ana's USD wallet account (1,000 from a top-up) and two plain accounts (1,000 and 0)."""
    response = api.post("/api/v1/wallets/topup", {"user_id": "user-ana", "amount": 1_000, "reference_id": "top-1"},
                        format="json")
    assert response.status_code == 201, response.content
    wallet = str(Wallet.objects.get(owner=api.api_client.owner, user_id="user-ana").account_id)
    return {"wallet": wallet, "plain": open_account(api, "Plain", fund=1_000), "other": open_account(api, "Other")}


def transfer(source: str, destination: str, amount: int = 10) -> dict:
    return {"source_account_id": source, "destination_account_id": destination, "amount": amount}


def generic_move(route: str, a: dict[str, str]) -> tuple[str, dict]:
    """The path and body of a generic route that would move the wallet's account."""
    wallet, plain, other = a["wallet"], a["plain"], a["other"]
    return {
        "deposit": (f"/api/v1/accounts/{wallet}/deposit", {"amount": 10}),
        "withdraw": (f"/api/v1/accounts/{wallet}/withdraw", {"amount": 10}),
        "transfer from the wallet": ("/api/v1/transfers", transfer(wallet, plain)),
        "transfer to the wallet": ("/api/v1/transfers", transfer(plain, wallet)),
        "batch from the wallet": ("/api/v1/transfers/batch", {"transfers": [transfer(wallet, plain)]}),
        "batch to the wallet after a good transfer": (
            "/api/v1/transfers/batch", {"transfers": [transfer(plain, other), transfer(plain, wallet)]}
        ),
    }[route]


def balances(a: dict[str, str]) -> dict[str, int]:
    rows = dict(Account.objects.with_balance().filter(pk__in=a.values()).values_list("id", "balance"))
    return {name: rows[uuid.UUID(account_id)] for name, account_id in a.items()}


@pytest.mark.parametrize("route", [
    "deposit", "withdraw", "transfer from the wallet", "transfer to the wallet", "batch from the wallet",
    "batch to the wallet after a good transfer",
])
def test_each_generic_route_on_a_wallets_account_is_409_wallet_account_and_moves_nothing(api, accounts, route):
    path, body = generic_move(route, accounts)
    rows_before, balances_before = (Transaction.objects.count(), Posting.objects.count()), balances(accounts)

    response = api.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY="try-1")

    assert response.status_code == 409, response.content
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == "wallet_account"
    assert "/api/v1/wallets/" in response.json()["detail"]
    assert (Transaction.objects.count(), Posting.objects.count()) == rows_before
    assert balances(accounts) == balances_before == {"wallet": 1_000, "plain": 1_000, "other": 0}
    assert_ledger_consistent()


def test_a_wallets_account_and_its_statement_can_still_be_read(api, accounts):
    account = api.get(f"/api/v1/accounts/{accounts['wallet']}")
    statement = api.get(f"/api/v1/accounts/{accounts['wallet']}/statement")

    assert account.status_code == 200, account.content
    assert account.json()["balance"] == 1_000
    assert statement.status_code == 200, statement.content
    assert [(e["type"], e["amount"], e["ref"]) for e in statement.json()["entries"]] == [("CREDIT", 1_000, "top-1")]


def test_the_wallet_routes_still_move_the_wallets_account(api, accounts):
    spend = api.post("/api/v1/wallets/spend", {"user_id": "user-ana", "amount": 300, "reference_id": "spend-1"},
                     format="json")
    bonus = api.post("/api/v1/wallets/bonus", {"user_id": "user-ana", "amount": 50, "reference_id": "bonus-1"},
                     format="json")

    assert (spend.status_code, bonus.status_code) == (201, 201), (spend.content, bonus.content)
    assert balances(accounts)["wallet"] == 750
    assert_ledger_consistent()


def test_plain_accounts_still_move_through_the_generic_routes(api, accounts):
    response = api.post("/api/v1/transfers", transfer(accounts["plain"], accounts["other"], 400), format="json",
                        HTTP_IDEMPOTENCY_KEY="plain-1")

    assert response.status_code == 201, response.content
    assert balances(accounts) == {"wallet": 1_000, "plain": 600, "other": 400}


def test_a_wallet_opens_its_account_as_managed_by_the_wallets_app(api, accounts):
    assert Account.objects.get(pk=accounts["wallet"]).managed_by == AccountManagedBy.WALLET
    assert Account.objects.get(pk=accounts["plain"]).managed_by == AccountManagedBy.NONE


def test_the_migration_marks_wallet_accounts_opened_before_it(api, accounts):
    # given: a wallet account as it stood before `managed_by` existed
    Account.objects.filter(pk=accounts["wallet"]).update(managed_by=AccountManagedBy.NONE)
    migration = importlib.import_module("wallets.migrations.0002_mark_wallet_accounts")

    migration.mark_wallet_accounts(apps, schema_editor=None)

    assert Account.objects.get(pk=accounts["wallet"]).managed_by == AccountManagedBy.WALLET
    assert Account.objects.get(pk=accounts["plain"]).managed_by == AccountManagedBy.NONE
    response = api.post(f"/api/v1/accounts/{accounts['wallet']}/withdraw", {"amount": 10}, format="json",
                        HTTP_IDEMPOTENCY_KEY="after-migration")
    assert response.status_code == 409 and response.json()["code"] == "wallet_account"
