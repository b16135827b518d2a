"""HTTP helpers for the payments tests: every call goes through the real API."""

import base64
import json
import time
import uuid

from rest_framework.test import APIClient

from ledger.models import Transaction
from payments import webhooks


def new_key() -> str:
    return f"key-{uuid.uuid4()}"


def create_order(api, *, amount=1200, currency="USD", user_id="user-1", seller_id=None, **extra) -> dict:
    body = {"user_id": user_id, "amount": amount, "currency": currency, **extra}
    if seller_id is not None:
        body["seller_id"] = seller_id
    response = api.post("/api/v1/orders", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def pay(api, order_id, *, key=None, simulate=None, body=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key or new_key()}
    if simulate is not None:
        headers["HTTP_X_PROVIDER_SIMULATE"] = simulate
    return api.post(f"/api/v1/orders/{order_id}/pay", body or {}, format="json", **headers)


def refund(api, order_id, *, key=None, **body):
    return api.post(
        f"/api/v1/orders/{order_id}/refund", body, format="json", HTTP_IDEMPOTENCY_KEY=key or new_key()
    )


def _forced(simulate) -> dict:
    return {} if simulate is None else {"HTTP_X_PROVIDER_SIMULATE": simulate}


def authorize(api, order_id, *, key=None, simulate=None, body=None):
    return api.post(f"/api/v1/orders/{order_id}/authorize", body or {}, format="json",
                    HTTP_IDEMPOTENCY_KEY=key or new_key(), **_forced(simulate))


def capture(api, order_id, *, key=None, simulate=None, **body):
    return api.post(f"/api/v1/orders/{order_id}/capture", body, format="json", HTTP_IDEMPOTENCY_KEY=key or new_key(),
                    **_forced(simulate))


def void(api, order_id, *, key=None, simulate=None):
    """A void sends an Idempotency-Key only when given one: it is optional there."""
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}
    return api.post(f"/api/v1/orders/{order_id}/void", {}, format="json", **headers, **_forced(simulate))


def authorized_order(api, **order) -> dict:
    created = create_order(api, **order)
    response = authorize(api, created["id"])
    assert response.status_code == 201, response.content
    assert response.json()["payment"]["status"] == "AUTHORIZED"
    return response.json()["order"]


def paid_order(api, **order) -> dict:
    created = create_order(api, **order)
    response = pay(api, created["id"])
    assert response.status_code == 201, response.content
    assert response.json()["payment"]["status"] == "SUCCEEDED"
    return response.json()["order"]


def payment_transactions(order_id) -> list[Transaction]:
    return list(Transaction.objects.filter(kind="payment", metadata__order_id=str(order_id)))


def refund_transactions(order_id) -> list[Transaction]:
    return list(Transaction.objects.filter(kind="refund", metadata__order_id=str(order_id)))


# --- checkout and provider webhooks ------------------------------------------------------

CHECKOUT_URL = "/api/v1/checkout"
WEBHOOK_URL = "/api/v1/webhooks/provider"
# Standard Webhooks secrets: `whsec_` + base64 of the HMAC key.
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"mintguard-test-webhook-key-32by!").decode()
OTHER_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"the-provider-s-next-key-32-bytes").decode()


def checkout_body(**overrides) -> dict:
    return {"buyer_id": "buyer-1", "seller_id": "seller-1", "amount": 1200, "currency": "USD",
            "buyer_trust": "trusted", **overrides}


def checkout(api, *, key=None, simulate=None, **overrides):
    headers = {"HTTP_IDEMPOTENCY_KEY": key or new_key()}
    if simulate is not None:
        headers["HTTP_X_PROVIDER_SIMULATE"] = simulate
    return api.post(CHECKOUT_URL, checkout_body(**overrides), format="json", **headers)


def pending_order_id(api, **overrides) -> str:
    """Check out during a provider outage as a trusted buyer: an order awaiting the provider's webhook."""
    response = checkout(api, simulate="outage", **overrides)
    assert response.status_code == 201, response.content
    assert response.json()["status"] == "PENDING_PAYMENT", response.content
    return response.json()["order_id"]


def webhook_body(*, order_id, outcome="PAID", event_id=None) -> bytes:
    return json.dumps(
        {"event_id": event_id or f"evt_{uuid.uuid4().hex}", "order_id": str(order_id), "outcome": outcome}
    ).encode()


def signed_headers(body: bytes, *, secret=WEBHOOK_SECRET, timestamp=None, webhook_id=None) -> dict:
    """Return Django test-client META entries for the three Standard Webhooks headers."""
    signed = webhooks.sign(secret=secret, webhook_id=webhook_id or f"msg_{uuid.uuid4().hex}", body=body,
                           timestamp=int(time.time()) if timestamp is None else timestamp)
    return {"HTTP_" + name.upper().replace("-", "_"): value for name, value in signed.items()}


def deliver(body: bytes, headers: dict, client=None):
    """POST a webhook as the provider would: no API key, the raw signed bytes."""
    return (client or APIClient()).post(WEBHOOK_URL, data=body, content_type="application/json", **headers)


def send_webhook(*, order_id, outcome="PAID", event_id=None, secret=WEBHOOK_SECRET, timestamp=None, client=None):
    body = webhook_body(order_id=order_id, outcome=outcome, event_id=event_id)
    return deliver(body, signed_headers(body, secret=secret, timestamp=timestamp), client=client)
