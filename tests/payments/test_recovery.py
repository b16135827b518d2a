"""A pay whose request died between the recovery point and the outcome resumes and never charges twice."""

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from mintguard_site.api.idempotency import fingerprint
from mintguard_site.api.models import IdempotencyKey
from payments import services
from payments.models import Order, Payment, PaymentStatus, SimulatedCharge
from payments.providers import get_provider
from payments.services import pay as pay_flow

from ..ledger.invariants import assert_ledger_consistent
from .helpers import create_order, new_key, pay, payment_transactions

pytestmark = pytest.mark.django_db


def abandoned_reservation(*, owner: str, key: str, path: str, body: dict) -> IdempotencyKey:
    """Leave the key as a request that died mid-way leaves it: in progress, its lease run out."""
    request = Request(APIRequestFactory().post(path, body, format="json"), parsers=[JSONParser()])
    now = timezone.now()
    return IdempotencyKey.objects.create(
        owner=owner, key=key, fingerprint=fingerprint(request), method="POST", path=path,
        lease_token=uuid.uuid4(), locked_until=now - timedelta(seconds=1),
        created_at=now - timedelta(seconds=61), expires_at=now + timedelta(days=1),
    )


def test_retry_after_a_crash_before_the_provider_call_charges_exactly_once(api):
    # given a request that committed its PROCESSING payment and died before calling the provider
    order = create_order(api, amount=1200)
    key = new_key()
    attempt, resumed = services.payment_attempt_begin(order_id=order["id"], idempotency_key=key)
    assert (attempt.status, resumed) == (PaymentStatus.PROCESSING, False)
    path = f"/api/v1/orders/{order['id']}/pay"
    abandoned_reservation(owner=api.api_client.owner, key=key, path=path, body={})

    # when the client retries with the same key
    response = pay(api, order["id"], key=key)

    # then the same attempt is finished: one charge, one ledger transaction
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["payment"]["id"] == str(attempt.id)
    assert body["payment"]["status"] == "SUCCEEDED"
    assert body["order"]["status"] == "PAID"
    assert Payment.objects.filter(order_id=order["id"]).count() == 1
    assert SimulatedCharge.objects.filter(idempotency_key=attempt.provider_key).count() == 1
    assert len(payment_transactions(order["id"])) == 1
    assert IdempotencyKey.objects.get(key=key).state == IdempotencyKey.State.COMPLETED
    assert_ledger_consistent()


def test_retry_after_a_crash_after_the_provider_charged_asks_the_provider_and_does_not_charge_again(api):
    # given a request that died after the provider charged the card, before booking it
    order = create_order(api, amount=1200)
    key = new_key()
    attempt, _ = services.payment_attempt_begin(order_id=order["id"], idempotency_key=key)
    charged = get_provider().charge(idempotency_key=attempt.provider_key, amount=1200, currency="USD")
    abandoned_reservation(
        owner=api.api_client.owner, key=key, path=f"/api/v1/orders/{order['id']}/pay", body={}
    )

    # when the retry even asks the simulator to decline
    response = pay(api, order["id"], key=key, simulate="decline")

    # then the provider's record of the first charge wins: booked once, never charged twice
    assert response.status_code == 201
    assert response.json()["payment"]["status"] == "SUCCEEDED"
    assert response.json()["payment"]["provider_reference"] == charged.reference
    assert SimulatedCharge.objects.count() == 1
    (txn,) = payment_transactions(order["id"])
    assert sum(p.amount for p in txn.postings.all() if p.direction == "DEBIT") == 1200
    assert_ledger_consistent()


def test_a_crash_while_booking_is_a_500_and_the_retry_books_the_charge_once(api, monkeypatch):
    order = create_order(api, amount=1200)
    key = new_key()
    finish = services.payment_attempt_finish

    def crash(**kwargs):
        raise RuntimeError("worker killed while booking")

    monkeypatch.setattr(pay_flow, "payment_attempt_finish", crash)
    with pytest.raises(RuntimeError):
        pay(api, order["id"], key=key)
    # the provider charged; our books do not know yet, and the key was released (5xx is not stored)
    assert SimulatedCharge.objects.count() == 1
    assert Payment.objects.get(order_id=order["id"]).status == PaymentStatus.PROCESSING
    assert Order.objects.get(pk=order["id"]).status == "CREATED"
    assert not IdempotencyKey.objects.filter(key=key).exists()

    monkeypatch.setattr(pay_flow, "payment_attempt_finish", finish)
    response = pay(api, order["id"], key=key)

    assert response.status_code == 201
    assert response.json()["payment"]["status"] == "SUCCEEDED"
    assert SimulatedCharge.objects.count() == 1
    assert len(payment_transactions(order["id"])) == 1
    assert_ledger_consistent()


def test_a_new_key_while_another_attempt_is_processing_is_409_order_not_payable(api):
    order = create_order(api, amount=1200)
    services.payment_attempt_begin(order_id=order["id"], idempotency_key=new_key())

    response = pay(api, order["id"])

    assert response.status_code == 409
    assert response.json()["code"] == "order_not_payable"
    assert SimulatedCharge.objects.count() == 0


def test_the_same_key_while_its_first_request_still_runs_is_409_in_use(api):
    order = create_order(api, amount=1200)
    key = new_key()
    services.payment_attempt_begin(order_id=order["id"], idempotency_key=key)
    reservation = abandoned_reservation(
        owner=api.api_client.owner, key=key, path=f"/api/v1/orders/{order['id']}/pay", body={}
    )
    IdempotencyKey.objects.filter(pk=reservation.pk).update(locked_until=timezone.now() + timedelta(seconds=30))

    response = pay(api, order["id"], key=key)

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_in_use"
    assert response["Retry-After"] == "1"
    assert SimulatedCharge.objects.count() == 0


def test_order_pay_with_a_finished_key_returns_that_attempt_without_calling_the_provider(api):
    order = create_order(api, amount=1200)
    first = services.order_pay(order_id=order["id"], idempotency_key="k1", simulate="decline")

    again = services.order_pay(order_id=order["id"], idempotency_key="k1", simulate="success")

    assert again.payment.id == first.payment.id
    assert again.payment.status == PaymentStatus.FAILED
    assert again.order.status == "FAILED"
    assert SimulatedCharge.objects.count() == 1
