"""The only place the payments app takes row locks.

Every write to an order, its payments or its refunds first locks the order row, so the order is
the one queue all of them wait in. FOR NO KEY UPDATE (PostgreSQL) rather than FOR UPDATE: payments
and refunds reference the order by foreign key, and inserting them takes KEY SHARE on it, which
FOR UPDATE would block and NO KEY UPDATE does not. (SQLite ignores row locks: its IMMEDIATE
transactions serialize writers.)
"""

from uuid import UUID

from .exceptions import OrderNotFound
from .models import Order


def order_for_update(order_id: UUID) -> Order:
    """Lock one order row and return it fresh, or raise OrderNotFound."""
    order = Order.objects.select_for_update(no_key=True).filter(pk=order_id).first()
    if order is None:
        raise OrderNotFound(f"Order {order_id} does not exist.")
    return order
