"""The dashboard's lists of payments: orders, refunds and the pending queue, searched and sorted.

Each returns an ordered queryset that the frame pages (`mintguard_site.dashboard.list_page`): one
COUNT and one query for the page, whatever the number of rows. What an operator types in a list's
search box matches an id (full, or its first 4-8 characters, as the breadcrumb shows it), an
amount in major units in the row's own currency, the provider's reference of a charge
(`sim_ch_...`), a description or reason, the buyer and the seller.
"""

from collections.abc import Iterator
from datetime import UTC

from django.db.models import DateTimeField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from ledger.searches import amount_matches
from mintguard_site.api.auth import OPERATOR_OWNER_PREFIX
from mintguard_site.search import created_between, id_matches, ordering

from .models import Order, OrderStatus, Payment, PaymentStatus, Refund

# A provider reference is matched from its start once this long: shorter is every charge.
_MIN_REFERENCE = 6


def _order_text_matches(orders: QuerySet, q: str, currencies: QuerySet, prefix: str = "") -> tuple[QuerySet, Q]:
    """Return (queryset, Q) matching an order, reached through `prefix`, by what an operator typed.

    `currencies` (`order_currencies_query()`) is read once, and only if `q` looks like an amount.
    """
    orders, by_id = id_matches(orders, q, f"{prefix}id" if prefix else "id")
    charges = Payment.objects.filter(provider_reference__startswith=q) if len(q) >= _MIN_REFERENCE else None
    matches = (
        by_id
        | Q(**{f"{prefix}user_id__icontains": q})
        | Q(**{f"{prefix}seller_id__icontains": q})
        | Q(**{f"{prefix}description__icontains": q})
        | amount_matches(q, currencies, amount=f"{prefix}amount", currency=f"{prefix}currency")
    )
    if charges is not None:
        matches |= Q(**{f"{prefix}pk__in": charges.values("order_id")})
    return orders, matches


def _narrowed(orders: QuerySet, *, q: str, currency: str, trust: str) -> QuerySet:
    """Narrow a list of orders by the search box, the currency and the buyer's trust, those given."""
    if q:
        orders, matches = _order_text_matches(orders, q, order_currencies_query())
        orders = orders.filter(matches)
    if currency:
        orders = orders.filter(currency=currency)
    if trust:
        orders = orders.filter(buyer_trust=trust)
    return orders


def orders_search(
    *, q: str = "", status: str = "", currency: str = "", trust: str = "", created_from=None, created_to=None,
    sort: str = "-created",
) -> QuerySet:
    """Return every client's orders for the dashboard's list, in `sort` order."""
    orders = _narrowed(Order.objects.all(), q=q, currency=currency, trust=trust)
    if status:
        orders = orders.filter(status=status)
    return orders.filter(created_between(created_from, created_to)).order_by(*ordering(sort))


def refunds_search(
    *, q: str = "", currency: str = "", source: str = "", acknowledged: str = "", created_from=None,
    created_to=None, sort: str = "-created",
) -> QuerySet:
    """Return refunds with their orders, in `sort` order. `q` matches the refund's id, amount, reason
    and provider reference, or its order as the orders list does; `source` is "operator" or "api";
    `acknowledged` "yes"/"no" (by the provider)."""
    refunds = Refund.objects.select_related("order")
    if q:
        currencies = order_currencies_query()
        refunds, by_id = id_matches(refunds, q)
        refunds, by_order = _order_text_matches(refunds, q, currencies, prefix="order__")
        refunds = refunds.filter(
            by_id | by_order | Q(reason__icontains=q)
            | amount_matches(q, currencies, currency="order__currency")
            | (Q(provider_reference__startswith=q) if len(q) >= _MIN_REFERENCE else Q(pk__in=[]))
        )
    if currency:
        refunds = refunds.filter(order__currency=currency)
    if source == "operator":
        refunds = refunds.filter(created_by__startswith=OPERATOR_OWNER_PREFIX)
    elif source == "api":
        refunds = refunds.exclude(created_by__startswith=OPERATOR_OWNER_PREFIX)
    if acknowledged == "yes":
        refunds = refunds.exclude(provider_reference="")
    elif acknowledged == "no":
        refunds = refunds.filter(provider_reference="")
    return refunds.filter(created_between(created_from, created_to)).order_by(*ordering(sort))


# The pending queue reads oldest first by default: the longest wait is the most urgent.
PENDING_SORTS = {
    "waiting": "Longest waiting first", "-waiting": "Newest pending first",
    "-amount": "Largest amount", "amount": "Smallest amount",
}


def pending_search(
    *, q: str = "", currency: str = "", trust: str = "", created_from=None, created_to=None, sort: str = "waiting",
) -> QuerySet:
    """Return orders awaiting a provider's confirmation, annotated with `pending_since` (when their
    pending payment began), in `sort` order; the date range applies to `pending_since`."""
    since = Subquery(
        Payment.objects.filter(order=OuterRef("pk"), status=PaymentStatus.PENDING).values("created_at")[:1]
    )
    orders = Order.objects.filter(status=OrderStatus.PENDING_PAYMENT).annotate(
        pending_since=Coalesce(since, "created_at", output_field=DateTimeField())
    )
    orders = _narrowed(orders, q=q, currency=currency, trust=trust)
    order_by = ordering(sort.replace("waiting", "created"), created="pending_since")  # "waiting": oldest first
    return orders.filter(created_between(created_from, created_to, "pending_since")).order_by(*order_by)


# --- CSV exports: the same rows as the lists, every page of them, streamed -----------------------

# A chunk of rows read at a time while a download streams: memory stays flat whatever the count.
EXPORT_CHUNK = 2000

ORDERS_CSV_HEADER = (
    "id", "created_at", "updated_at", "status", "buyer_id", "seller_id", "buyer_trust", "amount", "paid_amount",
    "refunded_amount", "currency", "provider_reference", "description", "failure_reason",
)
REFUNDS_CSV_HEADER = (
    "id", "created_at", "order_id", "status", "amount", "currency", "reason", "provider_reference", "created_by",
    "ledger_transaction_id",
)


def _iso(moment) -> str:
    return moment.astimezone(UTC).isoformat()


def orders_csv_rows(**filters) -> Iterator[tuple]:
    """Yield every order the orders list shows with these `filters` (`orders_search`'s), in its order.

    Amounts are integers in the currency's minor unit; `provider_reference` is the order's latest
    payment the provider acknowledged (empty when none did).
    """
    charge = Payment.objects.filter(order=OuterRef("pk")).exclude(provider_reference="").order_by("-created_at")
    orders = orders_search(**filters).annotate(charge_reference=Subquery(charge.values("provider_reference")[:1]))
    rows = orders.values_list(
        "id", "created_at", "updated_at", "status", "user_id", "seller_id", "buyer_trust", "amount", "paid_amount",
        "refunded_amount", "currency", "charge_reference", "description", "failure_reason",
    )
    for pk, created_at, updated_at, status, buyer, seller, *middle, reference, description, reason in rows.iterator(
        chunk_size=EXPORT_CHUNK
    ):  # middle: buyer_trust, the three amounts, currency
        yield (str(pk), _iso(created_at), _iso(updated_at), status, buyer, seller or "", *middle, reference or "",
               description, reason)


def refunds_csv_rows(**filters) -> Iterator[tuple]:
    """Yield every refund the refunds list shows with these `filters` (`refunds_search`'s), in its order."""
    refunds = refunds_search(**filters).values_list(
        "id", "created_at", "order_id", "status", "amount", "order__currency", "reason", "provider_reference",
        "created_by", "ledger_transaction_id",
    )
    for pk, created_at, order_id, *rest, transaction_id in refunds.iterator(chunk_size=EXPORT_CHUNK):
        yield (str(pk), _iso(created_at), str(order_id), *rest, str(transaction_id))


def order_currencies_query() -> QuerySet:
    """The currencies orders use, as a lazy query: read only when a search needs them."""
    return Order.objects.values_list("currency", flat=True).distinct().order_by("currency")


def order_currencies() -> list[str]:
    return list(order_currencies_query())
