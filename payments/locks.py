"""The only place the payments app takes row locks.

Every write to an order, its payments or its refunds first locks the order row, so the order is
the one queue all of them wait in. FOR NO KEY UPDATE (PostgreSQL) rather than FOR UPDATE: payments
and refunds reference the order by foreign key, and inserting them takes KEY SHARE on it, which
FOR UPDATE would block and NO KEY UPDATE does not. (SQLite ignores row locks: its IMMEDIATE
transactions serialize writers.) A compare-and-set UPDATE of the order (`rows.update_if_status`)
takes the same lock, so it waits in the same queue.
"""

from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import connection

from mintguard_site.db import rows

from .exceptions import OrderNotFound
from .models import Order


def order_for_update(order_id: UUID | str, *, owner: str | None = None) -> Order:
    """Lock one order row and return it fresh, in one statement.

    Raise OrderNotFound for an unknown or malformed id, and, given `owner`, for another owner's order.
    """
    try:
        params = [rows.db_value(Order, "id", order_id)]
    except (ValueError, TypeError, ValidationError):
        raise OrderNotFound(f"Order {str(order_id)[:64]} does not exist.") from None
    condition = 'WHERE "id" = %s'
    if owner is not None:
        condition += ' AND "owner" = %s'
        params.append(owner)
    if connection.vendor == "postgresql":
        condition += " FOR NO KEY UPDATE"
    found = rows.fetch(Order, condition, params)
    if not found:
        raise OrderNotFound(f"Order {str(order_id)[:64]} does not exist.")
    return found[0]
