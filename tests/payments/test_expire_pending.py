"""manage.py expire_pending_payments: ask the provider, then pay or fail pending orders; idempotent."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from payments.management.commands.expire_pending_payments import parse_age
from payments.models import Order, Payment, PaymentConfirmation, PaymentStatus
from payments.providers import get_provider

from ..ledger.invariants import assert_ledger_consistent
from .helpers import payment_transactions, pending_order_id, send_webhook

pytestmark = pytest.mark.django_db


def age_pending_payment(order_id, *, hours: float) -> Payment:
    """Make the order's pending payment look `hours` old."""
    payment = Payment.objects.get(order_id=order_id, status=PaymentStatus.PENDING)
    Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - timedelta(hours=hours))
    return payment


def expire(*args) -> str:
    out = StringIO()
    call_command("expire_pending_payments", *args, stdout=out)
    return out.getvalue()


def test_stale_pending_orders_are_failed_and_a_second_run_changes_nothing(api):
    stale = pending_order_id(api)
    fresh = pending_order_id(api)
    age_pending_payment(stale, hours=25)

    output = expire("--older-than", "24h")

    order = Order.objects.get(pk=stale)
    assert (order.status, order.failure_reason) == ("FAILED", "pending_expired")
    assert Payment.objects.get(order_id=stale).status == PaymentStatus.FAILED
    assert Order.objects.get(pk=fresh).status == "PENDING_PAYMENT"
    assert "1 checked, 0 paid (the provider had charged), 1 failed (pending_expired)" in output
    assert f"failed {stale}" in output
    assert payment_transactions(stale) == []

    again = expire("--older-than", "24h")

    assert "0 checked, 0 paid" in again
    assert Order.objects.get(pk=stale).status == "FAILED"
    assert PaymentConfirmation.objects.count() == 1


def test_a_pending_order_the_provider_reports_as_charged_is_paid_once(api):
    order_id = pending_order_id(api, amount=3_000)
    payment = age_pending_payment(order_id, hours=30)
    # the provider came back and the charge went through, but its webhook never reached us
    charged = get_provider().charge(idempotency_key=payment.provider_key, amount=3_000, currency="USD",
                                    simulate="success")

    output = expire("--older-than", "1d")

    assert "1 paid (the provider had charged), 0 failed" in output
    payment.refresh_from_db()
    assert (payment.status, payment.provider_reference) == (PaymentStatus.SUCCEEDED, charged.reference)
    assert Order.objects.get(pk=order_id).status == "PAID"
    assert len(payment_transactions(order_id)) == 1
    expire("--older-than", "1d")
    assert len(payment_transactions(order_id)) == 1
    assert_ledger_consistent()


def test_while_the_provider_is_down_stale_orders_fail_and_a_late_webhook_can_still_pay_them(
    api, settings, webhook_secret
):
    order_id = pending_order_id(api)
    age_pending_payment(order_id, hours=48)
    settings.MINTGUARD_SIMULATOR_OUTAGE = True

    output = expire("--older-than", "2d")

    assert "could not answer for 1" in output
    assert Order.objects.get(pk=order_id).failure_reason == "pending_expired"
    send_webhook(order_id=order_id, outcome="PAID")
    assert Order.objects.get(pk=order_id).status == "PAID"
    assert len(payment_transactions(order_id)) == 1


def test_the_default_age_is_24_hours(api):
    order_id = pending_order_id(api)
    age_pending_payment(order_id, hours=23)

    expire()

    assert Order.objects.get(pk=order_id).status == "PENDING_PAYMENT"


@pytest.mark.parametrize(("text", "expected"), [
    ("30m", timedelta(minutes=30)), ("24h", timedelta(hours=24)), ("2d", timedelta(days=2)),
    ("90s", timedelta(seconds=90)), (" 5H ", timedelta(hours=5)),
])
def test_ages_are_read_in_seconds_minutes_hours_or_days(text, expected):
    assert parse_age(text) == expected


@pytest.mark.parametrize("text", ["24", "1w", "-1h", "1.5h", "soon", ""])
def test_an_unreadable_age_is_a_command_error(text):
    with pytest.raises(CommandError):
        expire("--older-than", text)
