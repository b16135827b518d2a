"""A capture or void whose request died resumes from its claim and never captures or books twice."""

import pytest

from mintguard_site.api.models import IdempotencyKey
from payments.models import Order, Payment, PaymentStatus, SimulatedAuthorization
from payments.providers import get_provider
from payments.services import authorizations as authorization_flow

from ..ledger.invariants import assert_ledger_consistent
from .helpers import authorize, authorized_order, capture, create_order, new_key, payment_transactions, void

pytestmark = pytest.mark.django_db


def crash_while_booking(monkeypatch):
    """Kill the request after the provider answered, before our books know (what test_recovery does for pay)."""
    real = authorization_flow._close_record

    def crash(**kwargs):
        raise RuntimeError("worker killed while booking")

    monkeypatch.setattr(authorization_flow, "_close_record", crash)
    return lambda: monkeypatch.setattr(authorization_flow, "_close_record", real)


def test_a_capture_that_died_after_the_provider_captured_resumes_and_books_it_once(api, monkeypatch):
    order = authorized_order(api, amount=1_200)
    key = new_key()
    restore = crash_while_booking(monkeypatch)

    with pytest.raises(RuntimeError):
        capture(api, order["id"], key=key, amount=1_000)

    # the provider took 1,000; our books do not know yet, and the key was released (5xx is not stored)
    hold = SimulatedAuthorization.objects.get()
    assert (hold.closure, hold.captured_amount) == ("captured", 1_000)
    payment = Payment.objects.get(order_id=order["id"])
    assert (payment.status, payment.captured_amount) == (PaymentStatus.CAPTURING, 1_000)
    assert Order.objects.get(pk=order["id"]).status == "AUTHORIZED"
    assert not IdempotencyKey.objects.filter(key=key).exists()
    # a capture under another key, or a void, meanwhile: refused while the claim stands
    assert capture(api, order["id"]).json()["code"] == "order_not_capturable"
    assert void(api, order["id"]).json()["code"] == "order_not_voidable"

    restore()
    response = capture(api, order["id"], key=key, amount=1_000)

    assert response.status_code == 201, response.content
    assert (response.json()["order"]["status"], response.json()["order"]["paid_amount"]) == ("PAID", 1_000)
    assert SimulatedAuthorization.objects.get().captured_amount == 1_000
    (txn,) = payment_transactions(order["id"])
    assert sum(p.amount for p in txn.postings.all() if p.direction == "DEBIT") == 1_000
    assert_ledger_consistent()


def test_a_capture_that_died_before_calling_the_provider_is_resumed_by_its_retry(api, monkeypatch):
    order = authorized_order(api, amount=1_200)
    key = new_key()

    def died(**kwargs):
        raise RuntimeError("worker killed before the provider call")

    monkeypatch.setattr(authorization_flow, "_close", died)
    with pytest.raises(RuntimeError):
        capture(api, order["id"], key=key)
    assert SimulatedAuthorization.objects.get().closure == ""
    monkeypatch.undo()

    response = capture(api, order["id"], key=key)

    assert response.status_code == 201 and response.json()["order"]["paid_amount"] == 1_200
    assert len(payment_transactions(order["id"])) == 1


def test_the_provider_answers_a_repeated_capture_with_the_first_one(api):
    order = authorized_order(api, amount=1_200)
    payment = Payment.objects.get(order_id=order["id"])
    provider = get_provider()

    first = provider.capture(idempotency_key=payment.capture_key, authorization_reference=payment.provider_reference,
                             amount=500)
    again = provider.capture(idempotency_key=payment.capture_key, authorization_reference=payment.provider_reference,
                             amount=1_200)
    released = provider.void(idempotency_key=payment.void_key, authorization_reference=payment.provider_reference)

    assert first == again == released
    assert (first.status, first.amount) == ("captured", 500)


def test_a_void_whose_booking_died_is_finished_by_any_later_void(api, monkeypatch):
    order = authorized_order(api)
    restore = crash_while_booking(monkeypatch)
    with pytest.raises(RuntimeError):
        void(api, order["id"])
    assert Payment.objects.get(order_id=order["id"]).status == PaymentStatus.VOIDING
    assert capture(api, order["id"]).json()["code"] == "order_not_capturable"

    restore()
    response = void(api, order["id"], key=new_key())

    assert response.status_code == 200 and response.json()["order"]["status"] == "CANCELED"
    assert SimulatedAuthorization.objects.get().closure == "voided"


def test_an_authorization_that_died_after_the_provider_held_the_funds_resumes_and_holds_once(api, monkeypatch):
    from payments.services import pay as pay_flow

    order = create_order(api, amount=1_200)
    key = new_key()
    real_finish = pay_flow.payment_attempt_finish

    def crash(**kwargs):
        raise RuntimeError("worker killed while recording")

    monkeypatch.setattr(pay_flow, "payment_attempt_finish", crash)
    with pytest.raises(RuntimeError):
        authorize(api, order["id"], key=key)
    assert Payment.objects.get(order_id=order["id"]).status == PaymentStatus.PROCESSING
    monkeypatch.setattr(pay_flow, "payment_attempt_finish", real_finish)

    # even a retry that asks the simulator to decline gets the provider's first answer
    response = authorize(api, order["id"], key=key, simulate="decline")

    assert response.status_code == 201 and response.json()["order"]["status"] == "AUTHORIZED"
    assert SimulatedAuthorization.objects.count() == 1
    assert Payment.objects.filter(order_id=order["id"]).count() == 1
