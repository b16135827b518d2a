"""The order lifecycle: the one table of allowed status changes and the one function that applies them.

    CREATED ──pay──> PAID ──refund──> PARTIALLY_REFUNDED ──refund──> REFUNDED
       │               └──────────refund (all)───────────────────────┘
       ├──authorize──> AUTHORIZED ──capture (all or part)──> PAID
       │                   └──void, or expiry──> CANCELED
       ├──decline / provider down──> FAILED ──pay or authorize again──> PAID | AUTHORIZED | FAILED | PENDING_PAYMENT
       └──provider down, trusted buyer──> PENDING_PAYMENT ──confirmed──> PAID | AUTHORIZED | FAILED

A FAILED order whose provider was unavailable may still turn PAID (or AUTHORIZED, for an
authorization) when the provider confirms later: FAILED -> PAID covers both a new attempt and that.
Refunds are measured against `paid_amount`, what was charged or captured, not the order's amount.
CANCELED and REFUNDED are final.
"""

from django.utils import timezone

from .exceptions import InvalidOrderTransition
from .models import PAID_ORDER_STATUSES, Order, OrderStatus

S = OrderStatus

ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    S.CREATED: frozenset({S.PAID, S.AUTHORIZED, S.FAILED, S.PENDING_PAYMENT}),
    S.PENDING_PAYMENT: frozenset({S.PAID, S.AUTHORIZED, S.FAILED}),
    # FAILED -> FAILED: another attempt was declined too.
    S.FAILED: frozenset({S.PAID, S.AUTHORIZED, S.FAILED, S.PENDING_PAYMENT}),
    S.AUTHORIZED: frozenset({S.PAID, S.CANCELED}),
    S.PAID: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.PARTIALLY_REFUNDED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.REFUNDED: frozenset(),
    S.CANCELED: frozenset(),
}

# Pay and authorize start from these only: an AUTHORIZED order is captured or voided, not paid again.
PAYABLE_STATUSES = frozenset({S.CREATED, S.FAILED})
REFUNDABLE_STATUSES = frozenset({S.PAID, S.PARTIALLY_REFUNDED})
PAID_STATUSES = frozenset(PAID_ORDER_STATUSES)


def status_after_refunds(*, paid: int, refunded: int) -> str:
    """The status of an order that was paid `paid` (its paid_amount) once `refunded` of it has been refunded."""
    if refunded == 0:
        return S.PAID
    return S.REFUNDED if refunded == paid else S.PARTIALLY_REFUNDED


def can_transition(from_status: str, to_status: str) -> bool:
    return to_status in ALLOWED_TRANSITIONS.get(from_status, frozenset())


def order_transition(order: Order, to_status: str) -> Order:
    """Move the order to `to_status` in memory, or raise InvalidOrderTransition; the caller saves."""
    if not can_transition(order.status, to_status):
        raise InvalidOrderTransition(f"Order {order.id} cannot go from {order.status} to {to_status}.")
    order.status = to_status
    order.updated_at = timezone.now()
    return order
