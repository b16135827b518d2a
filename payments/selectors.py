"""Reads of the payments app that are more than a `.get()`."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db.models import Q

from ledger.models import Direction, Posting

from .exceptions import OrderNotFound
from .models import Order, OrderStatus, Payment, PaymentStatus


def order_get(*, order_id, owner: str | None = None) -> Order:
    """Return an order, or raise OrderNotFound (also for another owner's order or a malformed id)."""
    orders = Order.objects.all()
    if owner is not None:
        orders = orders.filter(owner=owner)
    try:
        return orders.get(pk=order_id)
    except (Order.DoesNotExist, ValueError, TypeError, ValidationError):
        raise OrderNotFound(f"Order {str(order_id)[:64]} does not exist.") from None


def order_find(order_ref: str) -> Order | None:
    """Return the order a provider names by id, or None (unknown or malformed: the provider's word, not ours)."""
    try:
        return Order.objects.filter(pk=order_ref).first()
    except (ValueError, TypeError, ValidationError):
        return None


def pending_payments_before(*, cutoff: datetime) -> list[Payment]:
    """Return the PENDING payments of PENDING_PAYMENT orders whose attempt began before `cutoff`, oldest first."""
    return list(
        Payment.objects.filter(
            status=PaymentStatus.PENDING, order__status=OrderStatus.PENDING_PAYMENT, created_at__lt=cutoff
        )
        .select_related("order")
        .order_by("created_at", "id")
    )


def orders_page(
    *,
    owner: str | None,
    limit: int,
    after: tuple | None = None,
    status: str | None = None,
    user_id: str | None = None,
) -> list[Order]:
    """Return orders newest first, after the (created_at, id) position given."""
    orders = Order.objects.order_by("-created_at", "-id")
    if owner is not None:
        orders = orders.filter(owner=owner)
    if status is not None:
        orders = orders.filter(status=status)
    if user_id is not None:
        orders = orders.filter(user_id=user_id)
    if after is not None:
        created_at, order_id = after
        orders = orders.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, id__lt=order_id))
    return list(orders[:limit])


@dataclass(frozen=True)
class OrderLedgerEntry:
    transaction_id: UUID
    account: str
    account_id: UUID
    direction: str  # "DR" or "CR"
    amount: int
    currency: str
    kind: str
    created_at: datetime


def order_ledger_entries(*, order: Order) -> list[OrderLedgerEntry]:
    """Return the postings of the order's payment and refund transactions, oldest first."""
    transaction_ids = [
        *order.payments.filter(ledger_transaction__isnull=False).values_list("ledger_transaction_id", flat=True),
        *order.refunds.values_list("ledger_transaction_id", flat=True),
    ]
    postings = (
        Posting.objects.filter(transaction_id__in=transaction_ids)
        .select_related("transaction", "account")
        .order_by("transaction__created_at", "transaction_id", "id")
    )
    return [
        OrderLedgerEntry(
            transaction_id=p.transaction_id,
            account=p.account.name,
            account_id=p.account_id,
            direction="DR" if p.direction == Direction.DEBIT else "CR",
            amount=p.amount,
            currency=p.currency,
            kind=p.transaction.kind,
            created_at=p.transaction.created_at,
        )
        for p in postings
    ]
