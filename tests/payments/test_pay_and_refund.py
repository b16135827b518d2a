"""The order story over HTTP: create, pay, replay, decline, refund, with the ledger checked at every step."""

import pytest

from audit.models import AuditAction, AuditEntry
from ledger.models import Posting, Transaction
from payments.models import Order, Payment, PaymentStatus, Refund, SimulatedCharge

from ..ledger.invariants import assert_ledger_consistent
from .helpers import create_order, new_key, paid_order, pay, payment_transactions, refund, refund_transactions

pytestmark = pytest.mark.django_db


def test_pay_replayed_with_the_same_key_returns_identical_bytes_and_books_once(api):
    order = create_order(api, amount=1200)
    key = new_key()

    first = pay(api, order["id"], key=key)
    replay = pay(api, order["id"], key=key)

    assert first.status_code == replay.status_code == 201
    assert replay.content == first.content
    assert replay["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first
    body = first.json()
    assert body["order"]["status"] == "PAID"
    assert body["payment"]["status"] == "SUCCEEDED"
    assert body["payment"]["amount"] == 1200
    assert body["payment"]["provider_reference"].startswith("sim_ch_")
    assert body["payment"]["failure_reason"] is None
    assert len(payment_transactions(order["id"])) == 1
    assert SimulatedCharge.objects.count() == 1
    assert_ledger_consistent()


def test_paying_a_paid_order_with_a_new_key_is_409_order_not_payable(api):
    order = paid_order(api, amount=1200)

    response = pay(api, order["id"])

    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "order_not_payable"
    assert Payment.objects.filter(order_id=order["id"]).count() == 1
    assert len(payment_transactions(order["id"])) == 1


def test_a_successful_payment_posts_dr_cash_cr_revenue_for_the_amount(api):
    order = paid_order(api, amount=1200)

    (txn,) = payment_transactions(order["id"])
    legs = sorted((p.account.name, p.direction, p.amount) for p in txn.postings.select_related("account"))
    assert legs == [("cash", "DEBIT", 1200), ("revenue", "CREDIT", 1200)]
    assert txn.owner == api.api_client.owner
    assert txn.reference == f"payment:{Payment.objects.get(order_id=order['id']).id}"


def test_partial_refund_of_300_of_1200_leaves_the_order_partially_refunded_with_reverse_entries(api):
    order = paid_order(api, amount=1200)

    response = refund(api, order["id"], amount=300, reason="Chipped")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["refund"]["amount"] == 300
    assert body["refund"]["currency"] == "USD"
    assert body["refund"]["reason"] == "Chipped"
    assert body["refund"]["status"] == "SUCCEEDED"
    assert body["refund"]["order_id"] == order["id"]
    assert body["order"]["status"] == "PARTIALLY_REFUNDED"
    assert body["order"]["refunded_amount"] == 300
    (txn,) = refund_transactions(order["id"])
    assert txn.reference == f"refund:{body['refund']['id']}"
    legs = sorted((p.account.name, p.direction, p.amount) for p in txn.postings.select_related("account"))
    assert legs == [("cash", "CREDIT", 300), ("revenue", "DEBIT", 300)]
    assert_ledger_consistent()


def test_declined_pay_is_201_with_order_and_payment_failed_and_no_ledger_rows(api):
    order = create_order(api, amount=1200)
    transactions_before, postings_before = Transaction.objects.count(), Posting.objects.count()

    response = pay(api, order["id"], simulate="decline")

    assert response.status_code == 201
    body = response.json()
    assert body["order"]["status"] == "FAILED"
    assert body["payment"]["status"] == "FAILED"
    assert body["payment"]["failure_reason"] == "card_declined"
    assert Transaction.objects.count() == transactions_before
    assert Posting.objects.count() == postings_before
    assert Order.objects.get(pk=order["id"]).failure_reason == "card_declined"


def test_a_failed_order_can_be_paid_again_with_a_new_key(api):
    order = create_order(api, amount=1200)
    assert pay(api, order["id"], simulate="decline").json()["order"]["status"] == "FAILED"

    response = pay(api, order["id"])

    assert response.status_code == 201
    assert response.json()["order"]["status"] == "PAID"
    assert response.json()["payment"]["status"] == "SUCCEEDED"
    statuses = sorted(Payment.objects.filter(order_id=order["id"]).values_list("status", flat=True))
    assert statuses == [PaymentStatus.FAILED, PaymentStatus.SUCCEEDED]
    assert len(payment_transactions(order["id"])) == 1
    assert Order.objects.get(pk=order["id"]).failure_reason == ""


@pytest.mark.parametrize("simulate", ["outage", "timeout"])
def test_provider_unavailable_fails_the_order_of_a_buyer_who_is_not_trusted(api, settings, simulate):
    settings.MINTGUARD_PROVIDER_TIMEOUT = 0.01
    order = create_order(api, amount=1200)

    response = pay(api, order["id"], simulate=simulate, body={"buyer_trust": "new"})

    assert response.status_code == 201
    body = response.json()
    assert body["order"]["status"] == "FAILED"
    assert body["payment"]["status"] == "FAILED"
    assert body["payment"]["failure_reason"] == "provider_unavailable"
    assert payment_transactions(order["id"]) == []
    assert Order.objects.get(pk=order["id"]).buyer_trust == "new"


def test_refunding_the_remaining_900_makes_the_order_refunded_and_a_third_refund_is_409(api):
    order = paid_order(api, amount=1200)
    assert refund(api, order["id"], amount=300).status_code == 201

    second = refund(api, order["id"])  # no amount: all that remains
    third = refund(api, order["id"], amount=1)

    assert second.status_code == 201
    assert second.json()["refund"]["amount"] == 900
    assert second.json()["order"]["status"] == "REFUNDED"
    assert second.json()["order"]["refunded_amount"] == 1200
    assert third.status_code == 409
    assert third.json()["code"] == "order_not_refundable"
    assert refund(api, order["id"]).json()["code"] == "order_not_refundable"
    assert sum(Refund.objects.filter(order_id=order["id"]).values_list("amount", flat=True)) == 1200
    assert_ledger_consistent()


def test_refund_above_the_remaining_amount_is_409_refund_exceeds_remaining_and_changes_nothing(api):
    order = paid_order(api, amount=1200)
    refund(api, order["id"], amount=300)
    key = new_key()

    response = refund(api, order["id"], key=key, amount=901)
    replay = refund(api, order["id"], key=key, amount=901)

    assert response.status_code == 409
    assert response.json()["code"] == "refund_exceeds_remaining"
    assert "900" in response.json()["detail"]
    assert replay.content == response.content and replay["Idempotent-Replayed"] == "true"
    assert Order.objects.get(pk=order["id"]).refunded_amount == 300
    assert len(refund_transactions(order["id"])) == 1


@pytest.mark.parametrize("simulate", [None, "decline"])
def test_refunding_an_unpaid_order_is_409_order_not_refundable(api, simulate):
    order = create_order(api, amount=1200)
    if simulate:
        pay(api, order["id"], simulate=simulate)

    response = refund(api, order["id"], amount=100)

    assert response.status_code == 409
    assert response.json()["code"] == "order_not_refundable"
    assert Refund.objects.count() == 0


def test_the_whole_story_leaves_the_ledger_balanced(api):
    # given an order paid after a decline, refunded in two steps, with refusals along the way
    order = create_order(api, amount=1200)
    pay(api, order["id"], simulate="decline")
    pay(api, order["id"])
    pay(api, order["id"])  # 409
    refund(api, order["id"], amount=300)
    refund(api, order["id"], amount=901)  # 409
    refund(api, order["id"], amount=900)
    refund(api, order["id"], amount=1)  # 409
    unpaid = create_order(api, amount=500)
    refund(api, unpaid["id"])  # 409

    # when the summary is read
    summary = api.get("/api/v1/ledger/summary").json()

    # then debits equal credits and the order's accounts net to zero
    assert summary["balanced"] is True
    usd = summary["currencies"]["USD"]
    assert usd["debits"] == usd["credits"] == 1200 + 300 + 900
    balances = {a["name"]: a["balance"] for a in usd["accounts"]}
    assert balances == {"cash": 0, "revenue": 0}
    assert_ledger_consistent()


def test_refund_amount_must_be_a_positive_integer(api):
    order = paid_order(api, amount=1200)
    for bad in (0, -5, 12.5, "300", True):
        response = refund(api, order["id"], amount=bad)
        assert response.status_code == 422, bad
        assert response.json()["code"] == "validation_error"
    assert refund(api, order["id"], amount=300, extra="x").status_code == 422
    assert Order.objects.get(pk=order["id"]).refunded_amount == 0


def test_pay_and_refund_require_an_idempotency_key(api):
    order = create_order(api)
    pay_response = api.post(f"/api/v1/orders/{order['id']}/pay", {}, format="json")
    refund_response = api.post(f"/api/v1/orders/{order['id']}/refund", {}, format="json")
    assert pay_response.status_code == refund_response.status_code == 400
    assert pay_response.json()["code"] == refund_response.json()["code"] == "idempotency_key_missing"
    assert Payment.objects.count() == 0


def test_pay_with_a_bad_body_or_simulation_is_refused_and_charges_nothing(api):
    order = create_order(api)
    assert pay(api, order["id"], body={"buyer_trust": "vip"}).status_code == 422
    assert pay(api, order["id"], body={"tip": 5}).status_code == 422
    bad_header = pay(api, order["id"], simulate="maybe")
    assert bad_header.status_code == 400
    assert bad_header.json()["code"] == "invalid_parameter"
    assert Payment.objects.count() == 0 and SimulatedCharge.objects.count() == 0


def test_the_same_pay_key_on_another_order_is_idempotency_key_reused(api):
    first, second = create_order(api), create_order(api)
    key = new_key()
    assert pay(api, first["id"], key=key).status_code == 201

    response = pay(api, second["id"], key=key)

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"
    assert Order.objects.get(pk=second["id"]).status == "CREATED"


def test_another_client_gets_404_for_the_order_everywhere(api, make_api_client):
    order = paid_order(api, amount=1200)
    other = make_api_client("other")

    for response in (
        other.get(f"/api/v1/orders/{order['id']}"),
        other.get(f"/api/v1/orders/{order['id']}/ledger"),
        pay(other, order["id"]),
        refund(other, order["id"], amount=100),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "order_not_found"
    assert other.get("/api/v1/orders").json()["results"] == []
    assert Order.objects.get(pk=order["id"]).refunded_amount == 0


def test_unknown_and_malformed_order_ids_are_404(api):
    for order_id in ("00000000-0000-0000-0000-000000000000", "not-a-uuid"):
        assert api.get(f"/api/v1/orders/{order_id}").status_code == 404
        assert pay(api, order_id).status_code == 404
        assert refund(api, order_id).status_code == 404


def test_an_operator_can_refund_any_clients_order_through_the_api(api, client, operator_user):
    from rest_framework.test import APIClient

    order = paid_order(api, amount=1200)
    staff = operator_user("operator")
    operator = APIClient(enforce_csrf_checks=False)
    operator.force_login(staff)

    response = refund(operator, order["id"], amount=200, reason="Goodwill", key="goodwill-1")

    assert response.status_code == 201, response.content
    assert Refund.objects.get().created_by == f"operator:{staff.pk}"
    (txn,) = refund_transactions(order["id"])
    assert txn.owner == api.api_client.owner  # the order's ledger stays with its client
    # The same audited action as the dashboard's, once, even if the request is resent.
    assert refund(operator, order["id"], amount=200, reason="Goodwill", key="goodwill-1").status_code == 201
    (entry,) = AuditEntry.objects.all()
    assert (entry.action, entry.actor, entry.after["amount"], entry.note) == (
        AuditAction.REFUND_CREATED, staff, 200, "Goodwill")


def test_a_viewer_cannot_refund_through_the_browsable_api(api, operator_user):
    from rest_framework.test import APIClient

    order = paid_order(api, amount=1200)
    viewer = APIClient()
    viewer.force_login(operator_user("viewer"))

    response = refund(viewer, order["id"], amount=200)

    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert Refund.objects.count() == 0
