"""Create orders."""

import uuid
from uuid import UUID

from django.utils import timezone

from ledger.currencies import amount_check, validate_currency

from ..models import BuyerTrust, Order


def order_create(
    *,
    owner: str,
    user_id: str,
    amount: int,
    currency: str = "USD",
    seller_id: str | None = None,
    description: str = "",
    buyer_trust: str = BuyerTrust.STANDARD,
    order_id: UUID | None = None,
    checkout_key: str | None = None,
) -> Order:
    """Create an order awaiting payment. `order_id` lets a caller (the seed) make creation repeatable."""
    validate_currency(currency)
    amount_check(amount, field="amount")
    now = timezone.now()
    return Order.objects.create(
        id=order_id or uuid.uuid4(),
        owner=owner,
        user_id=user_id,
        seller_id=seller_id or None,
        amount=amount,
        currency=currency,
        description=description,
        buyer_trust=buyer_trust,
        checkout_key=checkout_key,
        created_at=now,
        updated_at=now,
    )


def order_audit_state(order: Order) -> dict:
    """What the audit log keeps of an order before and after an operator acts on it."""
    return {"status": order.status, "refunded_amount": order.refunded_amount, "currency": order.currency}
