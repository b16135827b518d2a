"""Webhook fuzz: random bodies, headers and signatures against POST /api/v1/webhooks/provider.

Without a valid signature nothing may happen: the answer is 401 (never a 5xx), no event is
applied or even recorded as anything but `rejected_signature`, no ledger row is written and no
order changes. With a valid signature over a random body the answer is never a 5xx either, and
the ledger still balances. The targets are real orders in every state a webhook can touch.
"""

import base64
import hashlib
import hmac
import json
import time
from collections import Counter

import pytest
from django.core.cache import cache
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from ledger.models import Posting, Transaction
from payments import webhooks
from payments.models import Order, PaymentConfirmation, WebhookEvent, WebhookResult
from payments.services import order_create, order_pay

from ..ledger.invariants import assert_ledger_consistent
from ..payments.helpers import OTHER_WEBHOOK_SECRET, WEBHOOK_SECRET, WEBHOOK_URL

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("webhook_secret")]

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
# Header values as a WSGI server hands them over: latin-1 text.
header_text = st.text(st.characters(max_codepoint=255, exclude_categories=["Cs"]), max_size=80)


@pytest.fixture
def orders(settings):
    """One order in each state a webhook may act on: pending, failed for want of an answer, created, paid."""
    settings.MINTGUARD_PROVIDER_TIMEOUT = 0.01
    # Every example comes from one test client's address: lift its budget of failed signatures,
    # whose 429 (tested in tests/security) would otherwise answer most of them.
    settings.MINTGUARD_WEBHOOK_FAILURE_RATE = "1000000/min"
    cache.clear()
    pending = order_create(owner="fuzz", user_id="b", amount=900, buyer_trust="trusted")
    order_pay(order_id=pending.id, idempotency_key="p1", simulate="outage")
    unanswered = order_create(owner="fuzz", user_id="b", amount=900)
    order_pay(order_id=unanswered.id, idempotency_key="p2", simulate="timeout")
    created = order_create(owner="fuzz", user_id="b", amount=900)
    paid = order_create(owner="fuzz", user_id="b", amount=900)
    order_pay(order_id=paid.id, idempotency_key="p3", simulate="success")
    ids = [str(o.id) for o in (pending, unanswered, created, paid)]
    assert [Order.objects.get(pk=i).status for i in ids] == ["PENDING_PAYMENT", "FAILED", "CREATED", "PAID"]
    return ids


def events(order_ids):
    """Bodies a provider might send, well-formed or not, about our orders or others."""
    event = st.fixed_dictionaries(
        {"event_id": st.one_of(st.text(max_size=70), st.integers(), st.none()),
         "order_id": st.one_of(st.sampled_from(order_ids), st.text(max_size=70), st.integers()),
         "outcome": st.one_of(st.sampled_from(["PAID", "FAILED"]), st.text(max_size=10), st.none())},
        optional={"extra": st.text(max_size=10)},
    ).map(lambda d: json.dumps(d).encode())
    well_formed = st.builds(
        lambda event_id, order_id, outcome: json.dumps(
            {"event_id": event_id, "order_id": order_id, "outcome": outcome}).encode(),
        st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=64),
        st.sampled_from(order_ids), st.sampled_from(["PAID", "FAILED"]),
    )
    junk = st.one_of(st.binary(max_size=300), st.text(max_size=200).map(str.encode),
                     st.sampled_from([b"", b"{}", b"[]", b"null", b"NaN", b'{"event_id": NaN}', b"\x00" * 10,
                                      b'{"a":' * 200]))
    return st.one_of(well_formed, event, junk)


def forged_signature(*, key: bytes, webhook_id: str, timestamp: str, body: bytes) -> str:
    """A v1 signature over any headers, even ones the library would refuse to sign (a timestamp that is no number)."""
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


@st.composite
def unsigned_deliveries(draw, order_ids):
    """A body and headers that do not carry a valid signature for it, in every way we can think of."""
    body = draw(events(order_ids))
    webhook_id = draw(st.one_of(st.just(f"msg_{draw(st.integers(0, 10**6))}"), header_text))
    now = int(time.time())
    timestamp = draw(st.one_of(st.just(now), st.integers(-10**12, 10**13), st.just(now - 301), st.just(now + 301)))
    stamp = draw(st.one_of(st.just(str(timestamp)), header_text))
    key = webhooks.webhook_secret_key(WEBHOOK_SECRET)
    how = draw(st.sampled_from(["random", "other_secret", "other_body", "other_id", "stale", "v2", "missing",
                                "garbage_base64"]))
    signed_body, signed_id, signed_stamp, signing_key, version = body, webhook_id, stamp, key, "v1"
    if how == "other_secret":
        signing_key = webhooks.webhook_secret_key(OTHER_WEBHOOK_SECRET)
    elif how == "other_body":
        signed_body = body + b" "
    elif how == "other_id":
        signed_id = webhook_id + "x"
    elif how == "stale":
        stamp = signed_stamp = str(now - draw(st.integers(301, 10**6)))
    elif how == "v2":
        version = "v2"
    digest = forged_signature(key=signing_key, webhook_id=signed_id, timestamp=signed_stamp, body=signed_body)
    signature = version + digest[2:]
    if how == "random":
        signature = draw(header_text)
    elif how == "garbage_base64":
        signature = "v1," + base64.b64encode(draw(st.binary(max_size=40))).decode()
    headers = {"webhook-id": webhook_id, "webhook-timestamp": stamp,
               "webhook-signature": draw(st.sampled_from([signature, f"v1,bogus {signature}", signature.upper()]))}
    if how == "missing":
        headers.pop(draw(st.sampled_from(sorted(headers))))
    content_type = draw(st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded"]))
    return body, headers, content_type


def post(body: bytes, headers: dict, content_type: str = "application/json"):
    meta = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    return APIClient().post(WEBHOOK_URL, data=body, content_type=content_type, **meta)


def effects() -> dict:
    return {
        "applied events": WebhookEvent.objects.exclude(result=WebhookResult.REJECTED_SIGNATURE).count(),
        "events with an event_id": WebhookEvent.objects.exclude(event_id="").count(),
        "ledger transactions": Transaction.objects.count(),
        "postings": Posting.objects.count(),
        "confirmations": PaymentConfirmation.objects.count(),
        "orders": sorted(Order.objects.values_list("id", "status", "refunded_amount", "updated_at")),
    }


def test_no_delivery_without_a_valid_signature_gets_past_401_or_has_any_effect(orders):
    before = effects()
    statuses = []

    @FUZZ
    @given(delivery=unsigned_deliveries(orders))
    def deliver(delivery):
        body, headers, content_type = delivery
        response = post(body, headers, content_type)
        statuses.append(response.status_code)
        assert response.status_code == 401, (response.status_code, response.content, headers)
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "invalid_webhook_signature"

    deliver()

    assert effects() == before
    assert len(statuses) >= 300
    assert WebhookEvent.objects.filter(result=WebhookResult.REJECTED_SIGNATURE).count() == len(statuses)


def test_validly_signed_random_bodies_never_get_a_5xx_and_the_books_still_balance(orders):
    seen = []

    @FUZZ
    @given(body=events(orders), webhook_id=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1,
                                                     max_size=255))
    def deliver(body, webhook_id):
        headers = webhooks.sign(secret=WEBHOOK_SECRET, webhook_id=webhook_id, body=body)
        response = post(body, headers)
        seen.append(response.status_code)
        assert response.status_code in (200, 400, 413, 422), (response.status_code, response.content, body)
        assert response["Content-Type"] in ("application/json", "application/problem+json")
        if response.status_code == 200:
            assert set(response.json()) == {"ok", "duplicate"}

    deliver()

    assert len(seen) >= 300
    assert 200 in seen and 422 in seen and 400 in seen
    assert_ledger_consistent()
    # Whatever arrived, no order was paid twice and nothing undid a payment.
    payments_per_order = Counter(t.metadata["order_id"] for t in Transaction.objects.filter(kind="payment"))
    assert payments_per_order and max(payments_per_order.values()) == 1
    assert Order.objects.get(pk=orders[3]).status == "PAID"
