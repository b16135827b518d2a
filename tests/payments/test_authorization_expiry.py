"""An authorization not captured within MINTGUARD_AUTHORIZATION_TTL expires, by the clock or by the job."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from payments.models import Order, Payment, PaymentStatus, SimulatedAuthorization
from payments.providers import get_provider
from payments.services import authorizations as authorization_flow

from ..ledger.invariants import assert_ledger_consistent
from .helpers import authorized_order, capture, payment_transactions, void

pytestmark = pytest.mark.django_db

TTL = 3_600


@pytest.fixture(autouse=True)
def one_hour_ttl(settings):
    settings.MINTGUARD_AUTHORIZATION_TTL = TTL


def authorized_ago(order_id, *, seconds: float) -> Payment:
    """Make the order's authorization look `seconds` old (the clock moved on)."""
    Payment.objects.filter(order_id=order_id).update(authorized_at=timezone.now() - timedelta(seconds=seconds))
    return Payment.objects.get(order_id=order_id)


def expire() -> str:
    out = StringIO()
    call_command("expire_authorizations", stdout=out)
    return out.getvalue()


def test_a_capture_after_the_ttl_is_409_authorization_expired_and_records_the_expiry(api):
    order = authorized_order(api, amount=1_200)
    authorized_ago(order["id"], seconds=TTL + 1)

    response = capture(api, order["id"])

    assert (response.status_code, response.json()["code"]) == (409, "authorization_expired")
    row = Order.objects.get(pk=order["id"])
    assert (row.status, row.failure_reason, row.paid_amount) == ("CANCELED", "authorization_expired", 0)
    assert Payment.objects.get(order_id=order["id"]).status == PaymentStatus.EXPIRED
    assert SimulatedAuthorization.objects.get().closure == "voided"  # the hold was released at the provider
    assert payment_transactions(order["id"]) == []
    # and it stays expired for every later capture or void
    assert capture(api, order["id"]).json()["code"] == "authorization_expired"
    assert void(api, order["id"]).json()["code"] == "authorization_expired"


def test_a_capture_one_second_before_the_ttl_is_taken(api):
    order = authorized_order(api, amount=1_200)
    authorized_ago(order["id"], seconds=TTL - 1)

    response = capture(api, order["id"])

    assert response.status_code == 201 and response.json()["order"]["paid_amount"] == 1_200


def test_a_void_after_the_ttl_is_409_authorization_expired(api):
    order = authorized_order(api)
    authorized_ago(order["id"], seconds=TTL)

    response = void(api, order["id"])

    assert (response.status_code, response.json()["code"]) == (409, "authorization_expired")
    assert Payment.objects.get(order_id=order["id"]).status == PaymentStatus.EXPIRED


def test_the_clock_decides_even_when_the_provider_cannot_release_the_hold(api):
    order = authorized_order(api)
    authorized_ago(order["id"], seconds=TTL + 5)

    response = capture(api, order["id"], simulate="outage")

    # refused as expired; recorded once the provider can be told (the job retries it)
    assert (response.status_code, response.json()["code"]) == (409, "authorization_expired")
    assert Payment.objects.get(order_id=order["id"]).status == PaymentStatus.AUTHORIZED
    assert "1 expired" in expire()
    assert Payment.objects.get(order_id=order["id"]).status == PaymentStatus.EXPIRED


def test_the_expire_command_expires_stale_authorizations_once_and_leaves_fresh_ones(api):
    stale, fresh = authorized_order(api), authorized_order(api)
    authorized_ago(stale["id"], seconds=TTL + 60)

    output = expire()

    assert "1 checked, 1 expired, 0 captured, 0 voided" in output
    assert f"expired  {stale['id']}" in output
    assert Order.objects.get(pk=stale["id"]).status == "CANCELED"
    assert Order.objects.get(pk=fresh["id"]).status == "AUTHORIZED"
    assert "0 checked" in expire()
    assert_ledger_consistent()


def test_the_expire_command_books_a_capture_whose_request_died_after_the_provider_took_it(api):
    # given a capture claimed and taken by the provider, whose request died before booking it
    order = authorized_order(api, amount=1_200)
    payment = authorization_flow._claim(order_id=order["id"], owner=None, capture=True, amount=900,
                                        closing_key="k-1")
    get_provider().capture(idempotency_key=payment.capture_key, authorization_reference=payment.provider_reference,
                           amount=900)
    Payment.objects.filter(pk=payment.pk).update(updated_at=timezone.now() - timedelta(minutes=5))

    output = expire()

    assert "1 checked, 0 expired, 1 captured" in output
    row = Order.objects.get(pk=order["id"])
    assert (row.status, row.paid_amount) == ("PAID", 900)
    (txn,) = payment_transactions(order["id"])
    assert sum(p.amount for p in txn.postings.all() if p.direction == "DEBIT") == 900
    assert "0 checked" in expire()
    assert_ledger_consistent()


def test_a_claim_younger_than_the_abandon_age_is_left_to_its_request(api):
    order = authorized_order(api)
    authorization_flow._claim(order_id=order["id"], owner=None, capture=False, amount=None, closing_key=None)

    assert "0 checked" in expire()
    assert Payment.objects.get(order_id=order["id"]).status == PaymentStatus.VOIDING


def test_an_expiry_that_fails_is_reported_left_for_the_next_run_and_the_command_exits_1(api, monkeypatch):
    broken, other = authorized_order(api), authorized_order(api)
    for order in (broken, other):
        authorized_ago(order["id"], seconds=TTL + 1)
    real_close = authorization_flow._close

    def close(*, payment, **kwargs):
        if str(payment.order_id) == broken["id"]:
            raise RuntimeError("provider connection reset")
        return real_close(payment=payment, **kwargs)

    monkeypatch.setattr(authorization_flow, "_close", close)
    err = StringIO()

    with pytest.raises(CommandError) as failure:
        call_command("expire_authorizations", stdout=StringIO(), stderr=err)

    assert failure.value.returncode == 1
    assert f"error    {broken['id']}: RuntimeError: provider connection reset" in err.getvalue()
    assert Order.objects.get(pk=broken["id"]).status == "AUTHORIZED"
    assert Order.objects.get(pk=other["id"]).status == "CANCELED"
