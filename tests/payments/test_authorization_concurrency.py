"""Captures and voids racing on one authorized order over HTTP: one winner, one close, no 5xx.

PostgreSQL only: the order row lock (FOR NO KEY UPDATE) is what queues the claims.
"""

import pytest

from payments.models import Order, Payment, PaymentStatus, SimulatedAuthorization

from ..concurrency import run_concurrently
from ..ledger.invariants import assert_ledger_consistent
from .helpers import authorized_order, payment_transactions
from .test_concurrency import post

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

THREADS = 20


def outcomes(results) -> tuple[list, list]:
    assert [r for r in results if isinstance(r, Exception)] == []
    assert all(status < 500 for status, _ in results), results
    won = [(status, body) for status, body in results if status in (200, 201)]
    refused = [body["code"] for status, body in results if status == 409]
    assert len(won) + len(refused) == len(results), results
    return won, refused


def test_ten_captures_and_ten_voids_at_once_have_exactly_one_winner(api):
    order = authorized_order(api, amount=1_000)
    base = f"/api/v1/orders/{order['id']}"
    calls = [(api.api_key, f"{base}/capture", {"amount": 600}), (api.api_key, f"{base}/void", {})] * (THREADS // 2)

    won, refused = outcomes(run_concurrently(post, calls, workers=THREADS))

    assert len(won) == 1, won
    assert set(refused) <= {"order_not_capturable", "order_not_voidable"}
    (status, body), = won
    row = Order.objects.get(pk=order["id"])
    hold = SimulatedAuthorization.objects.get()
    if status == 201:  # a capture won: booked once, for what it asked
        assert (row.status, row.paid_amount, hold.closure, hold.captured_amount) == ("PAID", 600, "captured", 600)
        assert len(payment_transactions(order["id"])) == 1
    else:  # a void won: released, nothing booked
        assert (row.status, row.paid_amount, hold.closure) == ("CANCELED", 0, "voided")
        assert payment_transactions(order["id"]) == []
    assert body["order"]["status"] == row.status
    assert_ledger_consistent()


def test_twenty_captures_with_different_keys_capture_and_book_once(api):
    order = authorized_order(api, amount=1_000)
    path = f"/api/v1/orders/{order['id']}/capture"

    won, refused = outcomes(run_concurrently(post, [(api.api_key, path, {})] * THREADS, workers=THREADS))

    assert [status for status, _ in won] == [201]
    assert refused == ["order_not_capturable"] * (THREADS - 1)
    assert Payment.objects.get(order_id=order["id"]).status == PaymentStatus.SUCCEEDED
    assert len(payment_transactions(order["id"])) == 1
    assert Order.objects.get(pk=order["id"]).paid_amount == 1_000
    assert_ledger_consistent()


def test_twenty_authorizations_at_once_hold_the_funds_once(api):
    from .helpers import create_order

    order = create_order(api, amount=1_000)
    path = f"/api/v1/orders/{order['id']}/authorize"

    won, refused = outcomes(run_concurrently(post, [(api.api_key, path, {})] * THREADS, workers=THREADS))

    assert len(won) == 1 and won[0][1]["payment"]["status"] == "AUTHORIZED"
    assert set(refused) == {"order_not_payable"}
    assert SimulatedAuthorization.objects.count() == 1
