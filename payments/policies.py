"""Business decisions that change by configuration or by issue, each in one place."""

from django.conf import settings

from mintguard_site.conf import outage_pending_cap

from .models import BuyerTrust, Order, PaymentStatus

PROVIDER_UNAVAILABLE = "provider_unavailable"
PENDING_EXPIRED = "pending_expired"

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
