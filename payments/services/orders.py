"""Create orders; the event of an order's status, which every service that changes it records."""

import uuid
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from events.services import NewEvent, events_record
from ledger.currencies import amount_check, validate_currency

from ..bodies import order_body
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
    """Create an order awaiting payment and record `order.created`, in one transaction.

    `order_id` lets a caller (the seed) make creation repeatable.
    """
    validate_currency(currency)
    amount_check(amount, field="amount")
    now = timezone.now()
    order = Order(
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
    with transaction.atomic(savepoint=False):  # joins a caller's; alone, the order commits with its event
        order.save(force_insert=True)
        events_record([order_event(order)])
    return order


def order_event(order: Order) -> NewEvent:
    """The event of the order's status as it now is (`order.created`, `order.paid`, `order.refunded`...),
    for the order's owner, `data` the order as the API shows it. Record it in the change's transaction."""
    return NewEvent(type=f"order.{order.status.lower()}", owner=order.owner, data=order_body(order))


def order_audit_state(order: Order) -> dict:
    """What the audit log keeps of an order before and after an operator acts on it."""
    return {"status": order.status, "refunded_amount": order.refunded_amount, "currency": order.currency}
