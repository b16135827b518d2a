"""Authorizations in the books: reconciliation stays clean after every flow and names a wrong posting;
the OpenAPI schema documents the routes and their codes; the routes are the `payments` scope's; the
migration gave existing paid orders their paid_amount."""

from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from rest_framework.test import APIClient

from mintguard_site.api.models import Scope
from mintguard_site.api.services import api_client_create
from payments.models import Payment
from payments.reconciliation import check_orders

from .helpers import authorize, authorized_order, capture, create_order, paid_order, refund, void
from .test_reconciliation import set_order

pytestmark = pytest.mark.django_db


def drifts():
    return [(d.check, d.order_id) for d in check_orders()]


def test_reconciliation_is_clean_after_authorizations_captured_voided_expired_refunded_or_pending(api, settings):
    settings.MINTGUARD_AUTHORIZATION_TTL = 60
    held = authorized_order(api)
    captured = authorized_order(api, amount=1_200, seller_id="seller-1")
    capture(api, captured["id"], amount=700)
    refund(api, captured["id"], amount=200)
    refunded = authorized_order(api, amount=900)
    capture(api, refunded["id"], amount=400)
    refund(api, refunded["id"])
    voided = authorized_order(api)
    void(api, voided["id"])
    expired = authorized_order(api)
    Payment.objects.filter(order_id=expired["id"]).update(authorized_at=timezone.now() - timedelta(seconds=61))
    assert capture(api, expired["id"]).json()["code"] == "authorization_expired"
    declined = create_order(api)
    authorize(api, declined["id"], simulate="decline")
    paid_order(api)

    assert drifts() == []
    assert {o: api.get(f"/api/v1/orders/{o}").json()["status"] for o in (held["id"], voided["id"])} == {
        held["id"]: "AUTHORIZED", voided["id"]: "CANCELED"}


def test_a_paid_amount_that_differs_from_the_captured_posting_is_a_drift(api):
    order = authorized_order(api, amount=1_200)
    capture(api, order["id"], amount=800)
    set_order(order["id"], "paid_amount = 1000")

    found = list(check_orders())

    assert [(d.check, d.order_id, d.expected, d.actual) for d in found] == [
        ("order_payment_matches_ledger", order["id"], 1_000, 800)]
    assert "paid 1000: its payment took 800, posted as 800" in found[0].message


def test_an_authorized_order_without_its_live_authorization_is_a_drift(api):
    order = authorized_order(api)
    Payment.objects.filter(order_id=order["id"]).update(status="VOIDED")

    assert drifts() == [("order_authorization_count", order["id"])]


def test_a_canceled_order_still_holding_an_authorization_is_a_drift(api):
    order = authorized_order(api)
    set_order(order["id"], "status = 'CANCELED'")

    assert drifts() == [("order_authorization_count", order["id"])]


# --- the contract's surface --------------------------------------------------------------


def test_the_schema_documents_authorize_capture_and_void_with_their_codes(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]

    def conflict_codes(path: str) -> set[str]:
        examples = paths[path]["post"]["responses"]["409"]["content"]["application/problem+json"]["examples"]
        return {example["value"]["code"] for example in examples.values()}

    assert conflict_codes("/api/v1/orders/{order_id}/authorize") >= {"order_not_payable"}
    assert conflict_codes("/api/v1/orders/{order_id}/capture") >= {
        "order_not_capturable", "authorization_expired", "capture_exceeds_authorization", "provider_unavailable"}
    assert conflict_codes("/api/v1/orders/{order_id}/void") >= {
        "order_not_voidable", "authorization_expired", "provider_unavailable"}
    assert set(paths["/api/v1/orders/{order_id}/void"]["post"]["responses"]) >= {"200", "404", "409"}
    assert "201" in paths["/api/v1/orders/{order_id}/capture"]["post"]["responses"]
    order_schema = schema["components"]["schemas"]["Order"]
    assert "paid_amount" in order_schema["properties"] and "paid_amount" in order_schema["required"]
    status = order_schema["properties"]["status"]
    status = schema["components"]["schemas"][status["$ref"].rsplit("/", 1)[1]] if "$ref" in status else status
    assert {"AUTHORIZED", "CANCELED"} <= set(status["enum"])


@pytest.mark.parametrize("route", ["authorize", "capture", "void"])
def test_a_key_without_the_payments_scope_is_403_scope_denied(api, route):
    order = authorized_order(api)
    _, key = api_client_create(name="accounts-only", scopes=[Scope.ACCOUNTS])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    response = client.post(f"/api/v1/orders/{order['id']}/{route}", {}, format="json", HTTP_IDEMPOTENCY_KEY="k")

    assert (response.status_code, response.json()["code"]) == (403, "scope_denied")
    assert Payment.objects.get(order_id=order["id"]).status == "AUTHORIZED"


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_every_paid_order_its_amount_as_paid_amount():
    # given orders as the previous release left them
    executor = MigrationExecutor(connection)
    before = [("payments", "0004_order_permissions")]
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    Order, Payment = old.get_model("payments", "Order"), old.get_model("payments", "Payment")
    statuses = ["CREATED", "FAILED", "PENDING_PAYMENT", "PAID", "PARTIALLY_REFUNDED", "REFUNDED"]
    ids = {status: Order.objects.create(owner="o", user_id="u", amount=1_000 + n, currency="USD", status=status,
                                        refunded_amount=500 if "REFUNDED" in status else 0).id
           for n, status in enumerate(statuses)}
    Payment.objects.create(order_id=ids["CREATED"], amount=1_000, idempotency_key="k", status="FAILED")

    # when it is migrated to this release
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    # then paid orders were paid their amount, the others nothing, and nothing else changed
    from payments.models import Order as CurrentOrder
    from payments.models import Payment as CurrentPayment

    paid = dict(CurrentOrder.objects.values_list("status", "paid_amount"))
    assert paid == {"CREATED": 0, "FAILED": 0, "PENDING_PAYMENT": 0, "PAID": 1_003, "PARTIALLY_REFUNDED": 1_004,
                    "REFUNDED": 1_005}
    assert CurrentPayment.objects.get().kind == "charge"
