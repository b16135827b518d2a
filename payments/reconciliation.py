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

from .models import Order, Payment, PaymentStatus, Refund
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
    """Every order's status, payments, refunds and ledger transactions tell one story."""
    succeeded = Payment.objects.filter(order=OuterRef("pk"), status=PaymentStatus.SUCCEEDED)
    refunds = Refund.objects.filter(order=OuterRef("pk")).order_by().values("order").annotate(total=Sum("amount"))
    orders = (
        Order.objects.order_by("pk")
        .annotate(
            succeeded=Coalesce(
                Subquery(succeeded.order_by().values("order").annotate(n=Count("pk")).values("n")[:1],
                         output_field=IntegerField()),
                Value(0),
            ),
            paid_amount=Coalesce(
                Subquery(succeeded.values("amount")[:1], output_field=BigIntegerField()), Value(0),
                output_field=BigIntegerField(),
            ),
            payment_posted=_posted({"transaction__payment__order": OuterRef("pk"),
                                    "transaction__payment__status": PaymentStatus.SUCCEEDED}),
            refunds_total=Coalesce(Subquery(refunds.values("total")[:1], output_field=BigIntegerField()), Value(0),
                                   output_field=BigIntegerField()),
            refunds_posted=_posted({"transaction__refund__order": OuterRef("pk")}),
        )
        .values_list("id", "currency", "status", "amount", "refunded_amount", "succeeded", "paid_amount",
                     "payment_posted", "refunds_total", "refunds_posted")
    )
    for (order_id, currency, status, amount, refunded, succeeded_count, paid_amount, payment_posted,
         refunds_total, refunds_posted) in orders.iterator(chunk_size=2000):
        order = str(order_id)
        drift = functools.partial(_drift, order=order, status=status, amount=amount, currency=currency)
        is_paid = status in PAID_STATUSES
        if succeeded_count != (1 if is_paid else 0):
            yield drift("order_payment_count", f"has {succeeded_count} succeeded payments, expected "
                        f"{1 if is_paid else 0}.", 1 if is_paid else 0, succeeded_count)
        if is_paid and (paid_amount != amount or payment_posted != amount):
            yield drift("order_payment_matches_ledger", f"payment of {paid_amount} posted as {payment_posted} "
                        f"in the ledger, expected {amount}.", amount, payment_posted)
        if not is_paid and payment_posted:
            yield drift("order_payment_matches_ledger", f"is not paid but {payment_posted} is posted.", 0,
                        payment_posted)
        if not refunded == refunds_total == refunds_posted:
            yield drift("order_refunds_match_ledger", f"refunded_amount {refunded}, refunds total {refunds_total}, "
                        f"posted {refunds_posted}.", refunded, refunds_posted)
        expected_status = status_after_refunds(amount=amount, refunded=refunded) if is_paid else status
        if expected_status != status:
            yield drift("order_status_matches_refunds", f"refunded {refunded} of {amount} means {expected_status}.",
                        expected_status, status)


def _drift(check: str, message: str, expected, actual, *, order: str, status: str, amount: int, currency: str) -> Drift:
    return Drift(check, f"Order {order} ({status}, {amount} {currency}): {message}", order_id=order,
                 currency=currency, expected=expected, actual=actual)


def register() -> None:
    register_check("payments.orders", check_orders)

