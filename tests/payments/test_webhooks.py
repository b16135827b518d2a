"""POST /api/v1/webhooks/provider: signed, deduplicated by event_id, guarded state changes, all recorded."""

import json
import time
import uuid

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from ledger.models import Direction
from mintguard_site.observability.metrics import WEBHOOKS
from payments.models import (
    Order,
    Payment,
    PaymentConfirmation,
    PaymentStatus,
    WebhookEvent,
)

from ..ledger.invariants import assert_ledger_consistent
from .helpers import (
    OTHER_WEBHOOK_SECRET,
    WEBHOOK_SECRET,
    checkout,
    deliver,
    paid_order,
    payment_transactions,
    pending_order_id,
    send_webhook,
    signed_headers,
    webhook_body,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("webhook_secret")]


@pytest.fixture(autouse=True)
def clean_cache():
    """Failed signatures are budgeted per IP in the cache: each test starts from zero."""
    cache.clear()
    yield
    cache.clear()


def order_status(order_id) -> str:
    return Order.objects.get(pk=order_id).status


# --- effects -----------------------------------------------------------------------------------


def test_paid_on_a_pending_order_pays_it_and_books_the_ledger_once(api):
    order_id = pending_order_id(api, amount=1500, seller_id="seller-9")

    response = send_webhook(order_id=order_id, outcome="PAID", event_id="evt_1")

    assert response.status_code == 200
    assert response.json() == {"ok": True, "duplicate": False}
    assert order_status(order_id) == "PAID"
    payment = Payment.objects.get(order_id=order_id)
    assert payment.status == PaymentStatus.SUCCEEDED
    (txn,) = payment_transactions(order_id)
    assert txn.reference == f"payment:{payment.id}"
    assert sorted((p.direction, p.amount) for p in txn.postings.all()) == [
        (Direction.CREDIT, 1500), (Direction.DEBIT, 1500)
    ]
    event = WebhookEvent.objects.get()
    assert (event.event_id, event.result, event.outcome, event.order_id) == ("evt_1", "applied", "PAID", payment.order_id)
    confirmation = PaymentConfirmation.objects.get()
    assert (confirmation.source, confirmation.result, confirmation.payment_id) == ("webhook", "applied", payment.id)
    assert api.get(f"/api/v1/orders/{order_id}").json()["status"] == "PAID"
    assert_ledger_consistent()


def test_the_same_event_again_is_a_duplicate_with_no_second_effect(api):
    order_id = pending_order_id(api)
    first = send_webhook(order_id=order_id, event_id="evt_dup")

    again = send_webhook(order_id=order_id, event_id="evt_dup")
    # a retry may come with a new webhook-id, or even another outcome: the event id decides
    third = send_webhook(order_id=order_id, event_id="evt_dup", outcome="FAILED")

    assert first.json() == {"ok": True, "duplicate": False}
    assert again.status_code == third.status_code == 200
    assert again.json() == third.json() == {"ok": True, "duplicate": True}
    assert len(payment_transactions(order_id)) == 1
    assert order_status(order_id) == "PAID"
    events = WebhookEvent.objects.filter(event_id="evt_dup")
    assert events.count() == 3
    assert sorted(events.values_list("result", flat=True)) == ["applied", "duplicate", "duplicate"]
    assert events.filter(is_duplicate=False).count() == 1
    assert PaymentConfirmation.objects.count() == 1


def test_a_new_event_paying_an_already_paid_order_is_recorded_and_moves_no_money(api):
    order_id = pending_order_id(api)
    send_webhook(order_id=order_id, event_id="evt_a")

    response = send_webhook(order_id=order_id, event_id="evt_b")

    assert response.json() == {"ok": True, "duplicate": False}
    assert len(payment_transactions(order_id)) == 1
    assert WebhookEvent.objects.get(event_id="evt_b").result == "ignored_already_paid"


def test_paid_for_an_order_paid_through_the_api_is_ignored(api):
    order = paid_order(api, amount=800)

    response = send_webhook(order_id=order["id"])

    assert response.status_code == 200
    assert WebhookEvent.objects.get().result == "ignored_already_paid"
    assert len(payment_transactions(order["id"])) == 1


def test_failed_after_paid_leaves_the_order_paid_and_the_ledger_untouched(api):
    order_id = pending_order_id(api)
    send_webhook(order_id=order_id, outcome="PAID")

    response = send_webhook(order_id=order_id, outcome="FAILED")

    assert response.json() == {"ok": True, "duplicate": False}
    assert order_status(order_id) == "PAID"
    assert Payment.objects.get(order_id=order_id).status == PaymentStatus.SUCCEEDED
    assert len(payment_transactions(order_id)) == 1
    assert WebhookEvent.objects.get(outcome="FAILED").result == "ignored_failed_after_paid"


def test_failed_on_a_pending_order_fails_it_and_its_payment(api):
    order_id = pending_order_id(api)

    response = send_webhook(order_id=order_id, outcome="FAILED")

    assert response.status_code == 200
    order = Order.objects.get(pk=order_id)
    assert (order.status, order.failure_reason) == ("FAILED", "provider_declined")
    assert Payment.objects.get(order_id=order_id).status == PaymentStatus.FAILED
    assert payment_transactions(order_id) == []
    # the provider contradicting itself later does not pay an order it declined
    send_webhook(order_id=order_id, outcome="PAID")
    assert order_status(order_id) == "FAILED"
    assert WebhookEvent.objects.get(outcome="PAID").result == "ignored_not_pending"


def test_paid_on_an_order_failed_because_the_provider_was_unavailable_pays_it(api):
    failed = checkout(api, simulate="outage", buyer_trust="new", amount=700).json()
    assert (failed["status"], failed["failure_reason"]) == ("FAILED", "provider_unavailable")

    response = send_webhook(order_id=failed["order_id"])

    assert response.json() == {"ok": True, "duplicate": False}
    order = Order.objects.get(pk=failed["order_id"])
    assert (order.status, order.failure_reason) == ("PAID", "")
    assert Payment.objects.get(order_id=order.id).status == PaymentStatus.SUCCEEDED
    (txn,) = payment_transactions(order.id)
    assert sum(p.amount for p in txn.postings.all() if p.direction == Direction.DEBIT) == 700
    assert_ledger_consistent()


def test_paid_on_a_declined_order_is_ignored(api):
    declined = checkout(api, simulate="decline").json()

    send_webhook(order_id=declined["order_id"])

    assert order_status(declined["order_id"]) == "FAILED"
    assert WebhookEvent.objects.get().result == "ignored_not_pending"
    assert payment_transactions(declined["order_id"]) == []


@pytest.mark.parametrize("order_ref", [str(uuid.uuid4()), "order-that-is-not-a-uuid"])
def test_an_event_for_an_unknown_order_is_acknowledged_and_recorded(order_ref):
    response = send_webhook(order_id=order_ref, event_id="evt_unknown")

    assert response.status_code == 200
    assert response.json() == {"ok": True, "duplicate": False}
    event = WebhookEvent.objects.get()
    assert (event.result, event.order_ref, event.order_id) == ("ignored_unknown_order", order_ref, None)


def test_every_delivery_is_stored_with_its_headers_and_body(api):
    order_id = pending_order_id(api)
    body = webhook_body(order_id=order_id, event_id="evt_stored")
    headers = signed_headers(body, webhook_id="msg_stored")

    deliver(body, headers)

    event = WebhookEvent.objects.get()
    assert event.body == body.decode()
    assert event.webhook_id == "msg_stored"
    assert event.headers["webhook-id"] == "msg_stored"
    assert event.headers["webhook-signature"] == headers["HTTP_WEBHOOK_SIGNATURE"]
    assert event.headers["webhook-timestamp"] == headers["HTTP_WEBHOOK_TIMESTAMP"]
    assert list(Order.objects.get(pk=order_id).webhook_events.all()) == [event]


def test_accepted_deliveries_are_counted_in_the_metrics(api, django_capture_on_commit_callbacks):
    order_id = pending_order_id(api)
    fresh, duplicate = WEBHOOKS.labels("false")._value.get(), WEBHOOKS.labels("true")._value.get()

    with django_capture_on_commit_callbacks(execute=True):
        send_webhook(order_id=order_id, event_id="evt_m")
    with django_capture_on_commit_callbacks(execute=True):
        send_webhook(order_id=order_id, event_id="evt_m")

    assert WEBHOOKS.labels("false")._value.get() == fresh + 1
    assert WEBHOOKS.labels("true")._value.get() == duplicate + 1


# --- authenticity ------------------------------------------------------------------------------


def assert_refused_with_no_effect(response, order_id):
    assert response.status_code == 401, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_webhook_signature"
    assert order_status(order_id) == "PENDING_PAYMENT"
    assert payment_transactions(order_id) == []
    event = WebhookEvent.objects.get()
    assert (event.result, event.event_id, event.order_id) == ("rejected_signature", "", None)


def test_a_wrong_signature_is_401_with_no_effect(api):
    order_id = pending_order_id(api)
    body = webhook_body(order_id=order_id)
    headers = signed_headers(body)
    headers["HTTP_WEBHOOK_SIGNATURE"] = "v1," + "A" * 43 + "="

    assert_refused_with_no_effect(deliver(body, headers), order_id)


def test_a_body_changed_after_signing_is_401(api):
    order_id = pending_order_id(api)
    signed = webhook_body(order_id=order_id, outcome="FAILED", event_id="evt_x")
    tampered = signed.replace(b"FAILED", b"PAID")

    assert_refused_with_no_effect(deliver(tampered, signed_headers(signed)), order_id)


def test_a_signature_made_with_an_unknown_secret_is_401(api):
    order_id = pending_order_id(api)

    assert_refused_with_no_effect(send_webhook(order_id=order_id, secret=OTHER_WEBHOOK_SECRET), order_id)


# 302, not 301: the header holds whole seconds, so a +301 s stamp taken at x.9 s and checked 0.1 s
# later is exactly 300 s ahead of the server's clock, and rightly accepted.
@pytest.mark.parametrize("skew", [-302, 302, -86_400])
def test_a_timestamp_beyond_five_minutes_is_401(api, skew):
    order_id = pending_order_id(api)

    assert_refused_with_no_effect(send_webhook(order_id=order_id, timestamp=int(time.time()) + skew), order_id)


def test_a_timestamp_within_five_minutes_is_accepted(api):
    order_id = pending_order_id(api)

    response = send_webhook(order_id=order_id, timestamp=int(time.time()) - 290)

    assert response.status_code == 200
    assert order_status(order_id) == "PAID"


@pytest.mark.parametrize("missing", ["HTTP_WEBHOOK_ID", "HTTP_WEBHOOK_TIMESTAMP", "HTTP_WEBHOOK_SIGNATURE"])
def test_a_missing_signature_header_is_401(api, missing):
    order_id = pending_order_id(api)
    body = webhook_body(order_id=order_id)
    headers = signed_headers(body)
    del headers[missing]

    assert_refused_with_no_effect(deliver(body, headers), order_id)


@pytest.mark.parametrize("timestamp", ["soon", "1.5e9", "-5", ""])
def test_a_timestamp_that_is_not_unix_seconds_is_401(api, timestamp):
    order_id = pending_order_id(api)
    body = webhook_body(order_id=order_id)
    headers = signed_headers(body)
    headers["HTTP_WEBHOOK_TIMESTAMP"] = timestamp

    assert_refused_with_no_effect(deliver(body, headers), order_id)


def test_no_headers_at_all_is_401():
    response = APIClient().post("/api/v1/webhooks/provider", {"event_id": "e", "order_id": "o", "outcome": "PAID"},
                                format="json")

    assert response.status_code == 401
    assert WebhookEvent.objects.get().result == "rejected_signature"


def test_both_secrets_verify_while_the_provider_rotates(api, settings):
    settings.MINTGUARD_PROVIDER_WEBHOOK_SECRET = f"{WEBHOOK_SECRET}, {OTHER_WEBHOOK_SECRET}"
    old, new = pending_order_id(api), pending_order_id(api)

    signed_with_old = send_webhook(order_id=old, secret=WEBHOOK_SECRET)
    signed_with_new = send_webhook(order_id=new, secret=OTHER_WEBHOOK_SECRET)

    assert signed_with_old.status_code == signed_with_new.status_code == 200
    assert order_status(old) == order_status(new) == "PAID"


def test_one_valid_signature_among_several_is_enough(api):
    order_id = pending_order_id(api)
    body = webhook_body(order_id=order_id)
    headers = signed_headers(body)
    valid = headers["HTTP_WEBHOOK_SIGNATURE"]
    forged = signed_headers(body, secret=OTHER_WEBHOOK_SECRET, webhook_id=None)["HTTP_WEBHOOK_SIGNATURE"]
    headers["HTTP_WEBHOOK_SIGNATURE"] = f"v1a,c29tZXRoaW5nIGVsc2U= {forged} {valid}"

    response = deliver(body, headers)

    assert response.status_code == 200
    assert order_status(order_id) == "PAID"


def test_the_webhook_needs_no_api_key_and_ignores_one(api):
    order_id = pending_order_id(api)
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION="Bearer not-a-key")

    response = send_webhook(order_id=order_id, client=stranger)

    assert response.status_code == 200


# --- validation after the signature --------------------------------------------------------------


@pytest.mark.parametrize("payload", [
    {"order_id": "o", "outcome": "PAID"},
    {"event_id": "e" * 65, "order_id": "o", "outcome": "PAID"},
    {"event_id": "e", "order_id": "o" * 65, "outcome": "PAID"},
    {"event_id": "e", "order_id": "o", "outcome": "REFUNDED"},
    {"event_id": 7, "order_id": "o", "outcome": "PAID"},
    {"event_id": "e\u0000", "order_id": "o", "outcome": "PAID"},
    ["not", "an", "object"],
])
def test_a_signed_body_that_fails_validation_is_422_and_recorded(payload):
    body = json.dumps(payload).encode()

    response = deliver(body, signed_headers(body))

    assert response.status_code == 422, response.content
    assert response.json()["code"] == "validation_error"
    event = WebhookEvent.objects.get()
    assert (event.result, event.event_id) == ("rejected_invalid", "")


@pytest.mark.parametrize("body", [b"{not json", b'{"event_id": NaN}', b"\xff\xfe", b'{"a": "\x00"}', b"[" * 5000])
def test_a_signed_body_that_is_not_json_is_400_never_500(body):
    response = deliver(body, signed_headers(body))

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "malformed_request"
    assert WebhookEvent.objects.get().result == "rejected_invalid"


def test_the_signature_is_checked_before_the_body_is_validated():
    body = b'{"outcome": "nonsense"}'
    headers = signed_headers(body)
    headers["HTTP_WEBHOOK_SIGNATURE"] = "v1,bm9wZQ=="

    response = deliver(body, headers)

    assert response.status_code == 401


def test_a_nul_byte_in_an_unsigned_body_is_stored_without_error():
    body = b'{"event_id": "e\x00"}'

    response = deliver(body, {"HTTP_WEBHOOK_ID": "m", "HTTP_WEBHOOK_TIMESTAMP": str(int(time.time())),
                              "HTTP_WEBHOOK_SIGNATURE": "v1,AAAA"})

    assert response.status_code == 401
    assert "\x00" not in WebhookEvent.objects.get().body


def test_an_oversized_delivery_is_413_before_it_is_read():
    body = b'{"pad": "' + b"x" * 70_000 + b'"}'

    response = deliver(body, signed_headers(body))

    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert WebhookEvent.objects.count() == 0
