"""Dashboard users per role, and orders in each state, made through the real services."""

import itertools
import uuid

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from payments.models import Order, OrderStatus
from payments.services import order_create, order_pay

PASSWORD = "test-password-123"  # noqa: S105
_numbers = itertools.count(1)


def user_with_role(role: str | None, *, username: str | None = None, **extra):
    """A dashboard user in the group `role` (viewer, operator, admin), or in none."""
    user = get_user_model().objects.create_user(
        username=username or f"{role or 'nobody'}-{next(_numbers)}", password=PASSWORD, **extra
    )
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


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
