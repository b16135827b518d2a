import pytest
from django.urls import reverse

from ledger.models import Posting, Transaction
from ledger.services import deposit

from ..admin_pages import inline_rows, readonly_fields
from .factories import AccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def funded():
    alice = AccountFactory(name="Alice Admin", balance=1_234)
    txn = deposit(account_id=alice.id, amount=66, reference="admin-dep", owner="client-a")
    return alice, txn


def test_admin_lists_accounts_with_formatted_balances(admin_client, funded):
    response = admin_client.get(reverse("admin:ledger_account_changelist"))
    assert response.status_code == 200
    assert "Alice Admin" in response.text and "13.00 USD" in response.text


def test_admin_shows_transaction_with_its_postings(admin_client, funded):
    alice, txn = funded
    response = admin_client.get(reverse("admin:ledger_transaction_change", args=[txn.pk]))
    assert response.status_code == 200
    assert readonly_fields(response.text)["reference"] == "admin-dep"
    # the deposit's two legs, with their money: cash debited and alice credited 66, her balance 1,300
    postings = inline_rows(response.text, "postings")
    assert sorted((p["account"], p["direction"], p["amount"], p["currency"]) for p in postings) == [
        ("Alice Admin (USD)", "Credit", "66", "USD"), ("cash (USD)", "Debit", "66", "USD"),
    ]
    assert [p["balance_after"] for p in postings if p["account"] == "Alice Admin (USD)"] == ["1300"]
    assert 'name="_save"' not in response.text  # read-only: no save button


@pytest.mark.parametrize("model", ["account", "transaction", "posting"])
def test_admin_cannot_add_money_rows(admin_client, model):
    assert admin_client.get(reverse(f"admin:ledger_{model}_add")).status_code == 403


def test_admin_cannot_change_or_delete_money_rows(admin_client, funded):
    alice, txn = funded
    posting = Posting.objects.filter(transaction=txn).first()

    change = admin_client.post(
        reverse("admin:ledger_posting_change", args=[posting.pk]), {"amount": 1, "direction": "DEBIT"}
    )
    delete = admin_client.post(reverse("admin:ledger_transaction_delete", args=[txn.pk]), {"post": "yes"})

    assert change.status_code == 403
    assert delete.status_code == 403
    assert Transaction.objects.filter(pk=txn.pk).exists()
    assert Posting.objects.get(pk=posting.pk).amount == posting.amount
