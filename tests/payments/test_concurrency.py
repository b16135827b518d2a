"""Concurrent pays and refunds on one order over HTTP: one charge, no over-refund, no 5xx.

PostgreSQL only: the order row lock (FOR NO KEY UPDATE) is what queues them.
"""

import pytest
from rest_framework.test import APIClient

from payments.models import Order, OrderStatus, Payment, PaymentStatus, Refund, SimulatedCharge

from ..concurrency import run_concurrently
from ..ledger.invariants import assert_ledger_consistent
from .helpers import create_order, new_key, paid_order, payment_transactions, refund_transactions

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

THREADS = 20


def http_client(api_key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    return client


def post(api_key: str, path: str, body: dict) -> tuple[int, dict]:
    response = http_client(api_key).post(path, body, format="json", HTTP_IDEMPOTENCY_KEY=new_key())
    return response.status_code, response.json()


def test_twenty_concurrent_pays_with_different_keys_charge_the_order_once(api):
    order = create_order(api, amount=1_000)
    path = f"/api/v1/orders/{order['id']}/pay"

    results = run_concurrently(post, [(api.api_key, path, {})] * THREADS, workers=THREADS)

    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []
    statuses = [status for status, _ in results]
    assert all(status < 500 for status in statuses), statuses
    succeeded = [body for status, body in results if status == 201]
    refused = [body["code"] for status, body in results if status == 409]
    assert len(succeeded) == 1 and succeeded[0]["payment"]["status"] == "SUCCEEDED"
    assert len(refused) == THREADS - 1
    assert set(refused) <= {"order_not_payable", "idempotency_key_in_use"}
    assert Payment.objects.filter(order_id=order["id"], status=PaymentStatus.SUCCEEDED).count() == 1
    assert Payment.objects.filter(order_id=order["id"]).count() == 1
    assert SimulatedCharge.objects.count() == 1
    assert len(payment_transactions(order["id"])) == 1
    assert Order.objects.get(pk=order["id"]).status == OrderStatus.PAID
    assert_ledger_consistent()


def test_twenty_concurrent_refunds_of_100_on_a_paid_1000_order_refund_exactly_1000(api):
    order = paid_order(api, amount=1_000)
    path = f"/api/v1/orders/{order['id']}/refund"

    results = run_concurrently(post, [(api.api_key, path, {"amount": 100})] * THREADS, workers=THREADS)

    errors = [r for r in results if isinstance(r, Exception)]
    assert errors == []
    statuses = [status for status, _ in results]
    assert all(status < 500 for status in statuses), statuses
    assert statuses.count(201) == 10
    refused = {body["code"] for status, body in results if status == 409}
    assert statuses.count(409) == 10 and refused <= {"refund_exceeds_remaining", "order_not_refundable"}
    order_row = Order.objects.get(pk=order["id"])
    assert order_row.refunded_amount == 1_000
    assert order_row.status == OrderStatus.REFUNDED
    assert Refund.objects.filter(order_id=order["id"]).count() == 10
    assert len(refund_transactions(order["id"])) == 10
    assert_ledger_consistent()
