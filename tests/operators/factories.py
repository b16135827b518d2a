"""Orders in each state, made through the real services (dashboard users: `tests.role_helpers`)."""

import uuid

from payments.models import Order, OrderStatus
from payments.services import order_create, order_pay


def paid_order(*, amount=4_800, currency="USD", user_id="buyer-1", seller_id=None, owner="client-a", **extra) -> Order:
    order = order_create(owner=owner, user_id=user_id, amount=amount, currency=currency, seller_id=seller_id, **extra)
    order_pay(order_id=order.id, idempotency_key=f"pay-{uuid.uuid4()}", simulate="success")
    order.refresh_from_db()
    assert order.status == OrderStatus.PAID
    return order


def pending_order(*, amount=3_000, currency="USD", user_id="buyer-2", owner="client-a") -> Order:
    """An order left PENDING_PAYMENT by a provider outage (trusted buyer, under the cap)."""
    order = order_create(owner=owner, user_id=user_id, amount=amount, currency=currency, buyer_trust="trusted")
    order_pay(order_id=order.id, idempotency_key=f"pay-{uuid.uuid4()}", simulate="outage")
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_PAYMENT
    return order
