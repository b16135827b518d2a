"""Concurrent webhook deliveries and checkouts over HTTP: one effect, no second order, no 5xx.

PostgreSQL only: the partial unique index on the event id and the order row lock are what queue them.
"""

import pytest
from rest_framework.test import APIClient

from payments.models import Order, OrderStatus, Payment, PaymentStatus, SimulatedCharge, WebhookEvent

from ..concurrency import run_concurrently
from ..ledger.invariants import assert_ledger_consistent
from .helpers import (
    CHECKOUT_URL,
    checkout_body,
    deliver,
    new_key,
    payment_transactions,
    pending_order_id,
    signed_headers,
    webhook_body,
)

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("webhook_secret"),
]

THREADS = 20


def deliver_once(body: bytes, headers: dict) -> tuple[int, dict]:
    response = deliver(body, headers, client=APIClient())
    return response.status_code, response.json()


def test_the_same_webhook_delivered_20_times_at_once_takes_effect_once(api):
    order_id = pending_order_id(api, amount=5_000)
    body = webhook_body(order_id=order_id, event_id="evt_storm")
    headers = signed_headers(body)

    results = run_concurrently(deliver_once, [(body, headers)] * THREADS, workers=THREADS)

    assert [r for r in results if isinstance(r, Exception)] == []
    assert [status for status, _ in results] == [200] * THREADS
    answers = [body["duplicate"] for _, body in results]
    assert answers.count(False) == 1 and answers.count(True) == THREADS - 1
    assert len(payment_transactions(order_id)) == 1
    assert Order.objects.get(pk=order_id).status == OrderStatus.PAID
    events = WebhookEvent.objects.filter(event_id="evt_storm")
    assert events.count() == THREADS
    assert events.filter(is_duplicate=False, result="applied").count() == 1
    assert events.filter(is_duplicate=True, result="duplicate").count() == THREADS - 1
    assert_ledger_consistent()


def test_20_different_events_paying_one_order_at_once_book_it_once(api):
    order_id = pending_order_id(api, amount=5_000)
    deliveries = []
    for n in range(THREADS):
        body = webhook_body(order_id=order_id, event_id=f"evt_{n}")
        deliveries.append((body, signed_headers(body)))

    results = run_concurrently(deliver_once, deliveries, workers=THREADS)

    assert [status for status, _ in results] == [200] * THREADS
    assert len(payment_transactions(order_id)) == 1
    results_by_kind = list(WebhookEvent.objects.values_list("result", flat=True))
    assert results_by_kind.count("applied") == 1
    assert results_by_kind.count("ignored_already_paid") == THREADS - 1
    assert_ledger_consistent()


def test_20_concurrent_checkouts_with_one_key_create_one_order(api):
    key = new_key()

    def post() -> tuple[int, dict]:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {api.api_key}")
        response = client.post(CHECKOUT_URL, checkout_body(), format="json", HTTP_IDEMPOTENCY_KEY=key)
        return response.status_code, response.json()

    results = run_concurrently(post, [()] * THREADS, workers=THREADS)

    assert [r for r in results if isinstance(r, Exception)] == []
    statuses = [status for status, _ in results]
    assert all(status < 500 for status in statuses), statuses
    created = [body for status, body in results if status == 201]
    refused = {body["code"] for status, body in results if status == 409}
    assert created and len({body["order_id"] for body in created}) == 1
    assert refused <= {"idempotency_key_in_use"}
    assert Order.objects.count() == 1
    assert Payment.objects.filter(status=PaymentStatus.SUCCEEDED).count() == 1
    assert SimulatedCharge.objects.count() == 1
    assert len(payment_transactions(created[0]["order_id"])) == 1
    assert_ledger_consistent()
