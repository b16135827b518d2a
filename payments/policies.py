"""Business decisions that change by configuration or by issue, each in one place."""

from datetime import datetime, timedelta

from django.conf import settings

from mintguard_site.conf import outage_pending_cap

from .models import BuyerTrust, Order, Payment, PaymentStatus

PROVIDER_UNAVAILABLE = "provider_unavailable"
PENDING_EXPIRED = "pending_expired"
AUTHORIZATION_EXPIRED = "authorization_expired"

# A capture or void claim older than this belongs to a request that died (longer than the
# idempotency lease, so the request's own retry had its chance): the expiry job finishes it.
ABANDONED_CLAIM_AGE = timedelta(seconds=120)

# Failures that say only "we never heard from the provider": a later confirmation that the charge
# went through (webhook, operator, expiry lookup) may still turn such an order PAID.
CONFIRMABLE_FAILURES = frozenset({PROVIDER_UNAVAILABLE, PENDING_EXPIRED})


def provider_unavailable_outcome(*, order: Order) -> str:
    """Decide what a payment becomes when the provider timed out or is down.

    Outage mode: keep selling to trusted buyers, but only under the per-currency risk cap
    (MINTGUARD_OUTAGE_PENDING_CAP): PENDING (the order awaits the provider's confirmation, with no
    ledger entries yet). Everyone else: FAILED, reason `provider_unavailable`.
    """
    if order.buyer_trust == BuyerTrust.TRUSTED and order.amount < outage_pending_cap(order.currency):
        return PaymentStatus.PENDING
    return PaymentStatus.FAILED


def platform_fee(amount: int) -> int:
    """Return the platform's fee on a seller's sale: floor(amount * bps / 10000), in minor units."""
    bps = settings.MINTGUARD_PLATFORM_FEE_BPS
    return amount * bps // 10_000


def authorization_expires_at(payment: Payment) -> datetime:
    """Return the instant an authorization stops holding anything: MINTGUARD_AUTHORIZATION_TTL after it was given.

    Read from the clock on every capture and void, so an authorization is expired from that
    instant whether or not the expiry job has visited it.
    """
    return payment.authorized_at + timedelta(seconds=settings.MINTGUARD_AUTHORIZATION_TTL)
