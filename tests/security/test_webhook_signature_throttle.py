"""Issue 14 item 4: unsigned posts to the provider webhook are throttled per IP and stored in part only.

Failed signatures are budgeted per client IP (MINTGUARD_WEBHOOK_FAILURE_RATE): beyond the budget
the answer is 429 with Retry-After and nothing is stored, while a validly signed delivery from the
same address is still accepted. A refused body keeps a bounded prefix, its SHA-256 and its length.
"""

import hashlib
import time

import pytest
from django.core.cache import cache
from django.db import IntegrityError, transaction

from mintguard_site.observability.metrics import RATE_LIMITED
from payments import webhooks
from payments.models import Order, WebhookEvent, WebhookResult

from ..payments.helpers import (
    deliver,
    payment_transactions,
    pending_order_id,
    send_webhook,
    signed_headers,
    webhook_body,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("webhook_secret")]

BUDGET = 3
ATTACKER, PROVIDER, BYSTANDER = "203.0.113.7", "198.51.100.20", "192.0.2.55"


@pytest.fixture(autouse=True)
def failure_budget(settings):
    """A small budget per minute, counted from zero in every test."""
    settings.MINTGUARD_WEBHOOK_FAILURE_RATE = f"{BUDGET}/min"
    cache.clear()
    yield
    cache.clear()


def badly_signed(*, ip: str, body: bytes = b'{"event_id": "evt_forged", "order_id": "o", "outcome": "PAID"}'):
    headers = signed_headers(body)
    headers["HTTP_WEBHOOK_SIGNATURE"] = "v1," + "A" * 43 + "="
    return deliver(body, {**headers, "REMOTE_ADDR": ip})


def refused_rows() -> int:
    return WebhookEvent.objects.filter(result=WebhookResult.REJECTED_SIGNATURE).count()


def exhaust_budget(ip: str) -> None:
    for _ in range(BUDGET):
        assert badly_signed(ip=ip).status_code == 401
    assert refused_rows() == BUDGET


def test_one_bad_signature_beyond_the_budget_is_429_with_retry_after_and_stores_nothing():
    exhaust_budget(ATTACKER)

    response = badly_signed(ip=ATTACKER)

    assert response.status_code == 429, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "rate_limited"
    assert 1 <= int(response["Retry-After"]) <= 60
    assert refused_rows() == BUDGET
    assert WebhookEvent.objects.count() == BUDGET


def test_a_valid_delivery_from_an_address_over_its_budget_is_accepted_and_takes_effect(api):
    order_id = pending_order_id(api)
    exhaust_budget(ATTACKER)
    assert badly_signed(ip=ATTACKER).status_code == 429
    body = webhook_body(order_id=order_id, event_id="evt_after_junk")

    response = deliver(body, {**signed_headers(body), "REMOTE_ADDR": ATTACKER})

    assert response.status_code == 200, response.content
    assert response.json() == {"ok": True, "duplicate": False}
    assert Order.objects.get(pk=order_id).status == "PAID"
    assert len(payment_transactions(order_id)) == 1
    assert WebhookEvent.objects.get(event_id="evt_after_junk").result == WebhookResult.APPLIED


def test_another_address_keeps_its_own_budget():
    exhaust_budget(ATTACKER)
    assert badly_signed(ip=ATTACKER).status_code == 429

    response = badly_signed(ip=BYSTANDER)

    assert response.status_code == 401, response.content
    assert response.json()["code"] == "invalid_webhook_signature"
    assert refused_rows() == BUDGET + 1


def test_valid_deliveries_do_not_spend_the_failure_budget(api):
    order_ids = [pending_order_id(api, buyer_id=f"buyer-{n}") for n in range(BUDGET + 2)]

    statuses = [
        deliver(body, {**signed_headers(body), "REMOTE_ADDR": PROVIDER}).status_code
        for body in (webhook_body(order_id=order_id) for order_id in order_ids)
    ]

    assert statuses == [200] * len(order_ids)
    assert all(len(payment_transactions(order_id)) == 1 for order_id in order_ids)
    assert badly_signed(ip=PROVIDER).status_code == 401


def test_the_budget_is_restored_when_the_window_ends(monkeypatch):
    start = (int(time.time()) // 60 + 1) * 60 + 1.0  # one second into a fresh minute
    monkeypatch.setattr("mintguard_site.ratelimit._now", lambda: start)
    exhaust_budget(ATTACKER)
    assert badly_signed(ip=ATTACKER).status_code == 429

    monkeypatch.setattr("mintguard_site.ratelimit._now", lambda: start + 60)

    assert badly_signed(ip=ATTACKER).status_code == 401
    assert refused_rows() == BUDGET + 1


def test_throttled_webhook_failures_are_counted_in_the_metrics():
    before = RATE_LIMITED.labels("webhook")._value.get()
    exhaust_budget(ATTACKER)

    badly_signed(ip=ATTACKER)
    badly_signed(ip=ATTACKER)

    assert RATE_LIMITED.labels("webhook")._value.get() == before + 2


def test_a_refused_64_kib_body_keeps_only_a_prefix_with_its_hash_and_length():
    body = b'{"pad": "' + b"\xe2\x82\xac" * 21_000 + b"x" * 2_500 + b'"}'  # just under 64 KiB, multi-byte text
    assert 63 * 1024 < len(body) <= 64 * 1024

    response = badly_signed(ip=ATTACKER, body=body)

    assert response.status_code == 401, response.content
    event = WebhookEvent.objects.get()
    assert event.result == WebhookResult.REJECTED_SIGNATURE
    assert event.body == body[:webhooks.REFUSED_BODY_PREFIX].decode("utf-8", errors="replace")
    assert len(event.body.encode()) <= webhooks.REFUSED_BODY_PREFIX + 3  # a cut character becomes one U+FFFD
    assert event.body_sha256 == hashlib.sha256(body).hexdigest()
    assert event.body_length == len(body)
    assert event.event_id == "" and event.order_id is None


def test_a_small_refused_body_is_kept_whole_with_its_hash_and_length():
    body = b'{"event_id": "e\x00", "order_id": "o", "outcome": "PAID"}'

    badly_signed(ip=ATTACKER, body=body)

    event = WebhookEvent.objects.get()
    assert event.body == body.decode().replace("\x00", "\ufffd")
    assert (event.body_sha256, event.body_length) == (hashlib.sha256(body).hexdigest(), len(body))


def test_a_valid_delivery_is_still_stored_whole(api):
    order_id = pending_order_id(api)
    body = webhook_body(order_id=order_id, event_id="evt_" + "w" * 60)

    assert deliver(body, signed_headers(body)).status_code == 200

    event = WebhookEvent.objects.get()
    assert event.body == body.decode()
    assert (event.body_sha256, event.body_length) == ("", None)


def test_the_database_refuses_a_refused_delivery_stored_beyond_the_prefix():
    with pytest.raises(IntegrityError), transaction.atomic():
        WebhookEvent.objects.create(
            result=WebhookResult.REJECTED_SIGNATURE, body="x" * (webhooks.REFUSED_BODY_PREFIX + 1),
        )

    assert WebhookEvent.objects.count() == 0


def test_an_oversized_body_from_an_address_over_its_budget_is_413_and_stores_nothing():
    exhaust_budget(ATTACKER)
    body = b'{"pad": "' + b"x" * 70_000 + b'"}'

    response = badly_signed(ip=ATTACKER, body=body)

    assert response.status_code == 413
    assert WebhookEvent.objects.count() == BUDGET


def test_an_unsigned_event_for_a_real_order_changes_nothing_even_within_the_budget(api):
    order_id = pending_order_id(api)

    response = send_webhook(order_id=order_id, secret="whsec_" + "QUJD" * 8)

    assert response.status_code == 401
    assert Order.objects.get(pk=order_id).status == "PENDING_PAYMENT"
    assert payment_transactions(order_id) == []
