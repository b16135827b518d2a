"""Reconciliation checks of the payments app: orders against their payments, refunds and ledger.

Registered with the ledger's reconciliation (the ledger never imports payments). One SQL query
aggregates per order with correlated subqueries and the rows are streamed, so memory stays flat.
"""

import functools
from collections.abc import Iterator

from django.db.models import BigIntegerField, Count, IntegerField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from ledger.models import Direction, Posting
from ledger.reconciliation import Drift, register_check

from .models import HELD_PAYMENT_STATUSES, Order, OrderStatus, Payment, PaymentStatus, Refund
from .transitions import PAID_STATUSES, status_after_refunds


def _posted(transaction_filter: dict):
    """The debit total of the ledger transactions of this order's payments or refunds."""
    rows = (
        Posting.objects.filter(direction=Direction.DEBIT, **transaction_filter)
        .order_by()
        .values(*transaction_filter)  # group by the correlated key: one row per order
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return Coalesce(Subquery(rows[:1], output_field=BigIntegerField()), Value(0), output_field=BigIntegerField())


def check_orders() -> Iterator[Drift]:
    """Every order's status, payments, refunds and ledger transactions tell one story.

    A paid order has one succeeded payment that took its paid_amount (all of a charge, what was
    captured of an authorization) and one payment posting of exactly that; an order not paid (an
    AUTHORIZED one included: a hold books nothing) has none; an AUTHORIZED order holds exactly one
    live authorization.
    """
    payments = Payment.objects.filter(order=OuterRef("pk")).order_by().values("order")
    succeeded = payments.filter(status=PaymentStatus.SUCCEEDED)
    refunds = Refund.objects.filter(order=OuterRef("pk")).order_by().values("order").annotate(total=Sum("amount"))
    orders = (
        Order.objects.order_by("pk")
        .annotate(
            succeeded=_count(succeeded),
            held=_count(payments.filter(status__in=HELD_PAYMENT_STATUSES)),
            captured=Coalesce(
                Subquery(succeeded.values("captured_amount")[:1], output_field=BigIntegerField()), Value(0),
                output_field=BigIntegerField(),
            ),
            payment_posted=_posted({"transaction__payment__order": OuterRef("pk"),
                                    "transaction__payment__status": PaymentStatus.SUCCEEDED}),
            refunds_total=Coalesce(Subquery(refunds.values("total")[:1], output_field=BigIntegerField()), Value(0),
                                   output_field=BigIntegerField()),
            refunds_posted=_posted({"transaction__refund__order": OuterRef("pk")}),
        )
        .values_list("id", "currency", "status", "amount", "paid_amount", "refunded_amount", "succeeded", "held",
                     "captured", "payment_posted", "refunds_total", "refunds_posted")
    )
    for (order_id, currency, status, amount, paid, refunded, succeeded_count, held, captured, payment_posted,
         refunds_total, refunds_posted) in orders.iterator(chunk_size=2000):
        order = str(order_id)
        drift = functools.partial(_drift, order=order, status=status, amount=amount, currency=currency)
        is_paid = status in PAID_STATUSES
        if succeeded_count != (1 if is_paid else 0):
            yield drift("order_payment_count", f"has {succeeded_count} succeeded payments, expected "
                        f"{1 if is_paid else 0}.", 1 if is_paid else 0, succeeded_count)
        if is_paid and (not paid or captured != paid or payment_posted != paid):
            yield drift("order_payment_matches_ledger", f"paid {paid}: its payment took {captured}, posted as "
                        f"{payment_posted} in the ledger.", paid, payment_posted)
        if not is_paid and payment_posted:
            yield drift("order_payment_matches_ledger", f"is not paid but {payment_posted} is posted.", 0,
                        payment_posted)
        expected_held = 1 if status == OrderStatus.AUTHORIZED else 0
        if held != expected_held:
            yield drift("order_authorization_count", f"has {held} live authorizations, expected {expected_held}.",
                        expected_held, held)
        if not refunded == refunds_total == refunds_posted:
            yield drift("order_refunds_match_ledger", f"refunded_amount {refunded}, refunds total {refunds_total}, "
                        f"posted {refunds_posted}.", refunded, refunds_posted)
        expected_status = status_after_refunds(paid=paid, refunded=refunded) if is_paid else status
        if expected_status != status:
            yield drift("order_status_matches_refunds", f"refunded {refunded} of {paid} paid means {expected_status}.",
                        expected_status, status)


def _count(payments):
    """The number of these payments of the order, 0 when none."""
    counted = payments.annotate(n=Count("pk")).values("n")[:1]
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _drift(check: str, message: str, expected, actual, *, order: str, status: str, amount: int, currency: str) -> Drift:
    return Drift(check, f"Order {order} ({status}, {amount} {currency}): {message}", order_id=order,
                 currency=currency, expected=expected, actual=actual)


def register() -> None:
    register_check("payments.orders", check_orders)

