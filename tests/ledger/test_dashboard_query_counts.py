"""No N+1 on the ledger pages: each costs the same few queries with 50 rows as with 1."""

import pytest

from ledger.services import account_create, deposit, hold_capture, hold_create

from ..operators.factories import paid_order
from ..query_counts import page_queries

pytestmark = pytest.mark.django_db


def test_the_ledger_page_costs_the_same_with_fifty_accounts(viewer, django_assert_max_num_queries):
    for n in range(2):
        deposit(account_id=account_create(owner="client-a", name=f"A{n}", currency="USD").id, amount=100,
                reference=f"dep-{n}", owner="client-a")
    few = page_queries(viewer, "/ledger/")
    for n in range(2, 55):
        account_create(owner="client-a" if n % 2 else "client-b", name=f"A{n}", currency=("USD", "EUR")[n % 2])

    with django_assert_max_num_queries(few):
        response = viewer.get("/ledger/")

    assert response.content.decode().count("/ledger/accounts/") >= 50 + 6
    assert few <= 11


def test_an_account_statement_costs_the_same_with_fifty_entries(viewer, django_assert_max_num_queries):
    account = account_create(owner="client-a", name="Busy", currency="USD")
    deposit(account_id=account.id, amount=1, reference="dep-0", owner="client-a")
    one = page_queries(viewer, f"/ledger/accounts/{account.pk}/")
    for n in range(1, 60):
        deposit(account_id=account.id, amount=n, reference=f"dep-{n}", owner="client-a")

    with django_assert_max_num_queries(one):
        response = viewer.get(f"/ledger/accounts/{account.pk}/")

    assert response.content.decode().count("/ledger/transactions/") == 50
    assert "Older →" in response.content.decode()


def test_a_transaction_page_costs_a_fixed_number_of_queries(viewer, django_assert_max_num_queries):
    order = paid_order(seller_id="seller-1")
    with django_assert_max_num_queries(8):  # session, user, 2 x permissions, groups, txn, postings, owner
        assert viewer.get(f"/ledger/transactions/{order.payments.get().ledger_transaction_id}/").status_code == 200


def _held_accounts():
    source = account_create(owner="client-a", name="Source", currency="USD")
    deposit(account_id=source.id, amount=100_000, reference="dep-source", owner="client-a")
    return source, account_create(owner="client-a", name="Destination", currency="USD")


def test_the_holds_page_costs_the_same_with_fifty_holds(viewer, django_assert_max_num_queries):
    source, destination = _held_accounts()
    hold_create(source_id=source.id, destination_id=destination.id, amount=100, owner="client-a")
    one = page_queries(viewer, "/holds/")
    for n in range(55):
        hold_create(source_id=source.id, destination_id=destination.id, amount=100 + n, owner="client-a")

    with django_assert_max_num_queries(one):
        response = viewer.get("/holds/")

    assert response.content.decode().count('data-testid="hold-row"') == 50
    assert one <= 7  # session, user, 2 x permissions, groups, count, the page's holds with both accounts


def test_a_hold_page_costs_a_fixed_number_of_queries(operator, django_assert_max_num_queries):
    source, destination = _held_accounts()
    held = hold_create(source_id=source.id, destination_id=destination.id, amount=500, owner="client-a")
    captured = hold_create(source_id=source.id, destination_id=destination.id, amount=500, owner="client-a")
    hold_capture(hold_id=captured.pk)

    with django_assert_max_num_queries(6):  # session, user, 2 x permissions, groups, the hold with its accounts
        assert operator.get(f"/holds/{held.pk}/").status_code == 200
    with django_assert_max_num_queries(7):  # ... and its capture transaction
        assert operator.get(f"/holds/{captured.pk}/").status_code == 200
