"""The order lifecycle: the one table of allowed status changes and the one function that applies them.

    CREATED ──pay──> PAID ──refund──> PARTIALLY_REFUNDED ──refund──> REFUNDED
       │               └──────────refund (all)───────────────────────┘
       ├──decline / provider down──> FAILED ──pay again──> PAID | FAILED | PENDING_PAYMENT
       └──provider down, trusted buyer──> PENDING_PAYMENT ──confirmed──> PAID | FAILED

A FAILED order whose provider was unavailable may still turn PAID when the provider confirms
later (the charge went through after all): FAILED -> PAID covers both a new attempt and that.
"""

from django.utils import timezone

from .exceptions import InvalidOrderTransition
from .models import Order, OrderStatus

S = OrderStatus

ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    S.CREATED: frozenset({S.PAID, S.FAILED, S.PENDING_PAYMENT}),
    S.PENDING_PAYMENT: frozenset({S.PAID, S.FAILED}),
    # FAILED -> FAILED: another attempt was declined too.
    S.FAILED: frozenset({S.PAID, S.FAILED, S.PENDING_PAYMENT}),
    S.PAID: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.PARTIALLY_REFUNDED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.REFUNDED: frozenset(),
}

PAYABLE_STATUSES = frozenset({S.CREATED, S.FAILED})
REFUNDABLE_STATUSES = frozenset({S.PAID, S.PARTIALLY_REFUNDED})
PAID_STATUSES = frozenset({S.PAID, S.PARTIALLY_REFUNDED, S.REFUNDED})


def status_after_refunds(*, amount: int, refunded: int) -> str:
    """The status of a paid order of `amount` once `refunded` of it has been refunded."""
    if refunded == 0:
        return S.PAID
    return S.REFUNDED if refunded == amount else S.PARTIALLY_REFUNDED


def can_transition(from_status: str, to_status: str) -> bool:
    return to_status in ALLOWED_TRANSITIONS.get(from_status, frozenset())


def order_transition(order: Order, to_status: str) -> Order:
    """Move the order to `to_status` in memory, or raise InvalidOrderTransition; the caller saves."""
    if not can_transition(order.status, to_status):
        raise InvalidOrderTransition(f"Order {order.id} cannot go from {order.status} to {to_status}.")
    order.status = to_status
    order.updated_at = timezone.now()
    return order
