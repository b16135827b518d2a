"""Reads of the operators' dashboard: searches, queues and pages across the apps, in few queries.

Every list is fetched in one query (two when it names API clients or operators), whatever its
length: the tests count them with 50 rows.
"""

import re
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import CharField, Count, DateTimeField, Min, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Cast, Coalesce, TruncDate
from django.utils import timezone

from ledger.models import Account, Posting, ReconciliationRun, Transaction, bucket_sum
from ledger.selectors import currency_totals
from mintguard_site.api.auth import OPERATOR_OWNER_PREFIX
from mintguard_site.api.models import ApiClient
from payments.models import (
    Order,
    OrderStatus,
    Payment,
    PaymentConfirmation,
    PaymentStatus,
    Refund,
    WebhookEvent,
)
from payments.selectors import order_ledger_entries
from payments.transitions import status_after_refunds
from wallets.models import Wallet

from .models import AuditEntry

# An id prefix as the lists show it (8 hex characters, the part before the first hyphen, which
# reads the same in PostgreSQL's uuid text and SQLite's 32-hex storage).
_ID_PREFIX = re.compile(r"[0-9a-f]{4,8}")


def _as_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _id_matches(queryset, q: str, field_name: str = "id") -> tuple:
    """Return (queryset, Q) matching `field_name` by full UUID or by its first 4-8 hex characters."""
    full = _as_uuid(q)
    if full is not None:
        return queryset, Q(**{field_name: full})
    if _ID_PREFIX.fullmatch(q.lower()):
        alias = f"{field_name.replace('__', '_')}_text"
        queryset = queryset.alias(**{alias: Cast(field_name, output_field=CharField())})
        return queryset, Q(**{f"{alias}__startswith": q.lower()})
    return queryset, Q(pk__in=[])


def _after(created_at_field: str, position: list | None, *, descending: bool = True) -> Q:
    """The keyset condition for rows after (created_at, id) in the list's order."""
    if not position:
        return Q()
    moment, row_id = datetime.fromisoformat(position[0]), position[1]
    op = "lt" if descending else "gt"
    return Q(**{f"{created_at_field}__{op}": moment}) | Q(**{created_at_field: moment, f"id__{op}": row_id})


# --- names of owners and operators -----------------------------------------------------------


def owner_names(owners) -> dict[str, str]:
    """Map owner strings (API client ids, `operator:<user id>`) to readable names, in two queries."""
    owners = {o for o in owners if o}
    client_ids = [o for o in owners if _as_uuid(o)]
    user_ids = [o.removeprefix(OPERATOR_OWNER_PREFIX) for o in owners if o.startswith(OPERATOR_OWNER_PREFIX)]
    names = {}
    if client_ids:
        names.update({str(pk): f"{name} (API client)" for pk, name in ApiClient.objects.filter(pk__in=client_ids)
                     .values_list("pk", "name")})
    user_ids = [int(pk) for pk in user_ids if pk.isascii() and pk.isdigit()]  # "²".isdigit() is True
    if user_ids:
        names.update({f"{OPERATOR_OWNER_PREFIX}{pk}": f"{username} (operator)" for pk, username in
                      get_user_model().objects.filter(pk__in=user_ids).values_list("pk", "username")})
    return names


# --- overview --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DayVolume:
    day: date
    amount: int
    count: int


@dataclass(frozen=True)
class CurrencyVolume:
    currency: str
    days: list[DayVolume]

    @property
    def total(self) -> int:
        return sum(d.amount for d in self.days)

    @property
    def count(self) -> int:
        return sum(d.count for d in self.days)

    @property
    def today(self) -> DayVolume:
        return self.days[-1]


@dataclass(frozen=True)
class CurrencyAmount:
    currency: str
    count: int
    amount: int
    today_count: int = 0
    today_amount: int = 0
    oldest: datetime | None = None


@dataclass(frozen=True)
class Overview:
    volumes: list[CurrencyVolume]
    status_counts: list[tuple[str, str, int]]  # (status, label, count)
    refunds: list[CurrencyAmount]
    pending: list[CurrencyAmount]
    totals: dict[str, tuple[int, int]]  # currency -> (debits, credits) over the whole ledger
    last_run: ReconciliationRun | None

    @property
    def balanced(self) -> bool:
        return all(debits == credits for debits, credits in self.totals.values())

    @property
    def refund_count(self) -> int:
        return sum(r.count for r in self.refunds)

    @property
    def pending_count(self) -> int:
        return sum(p.count for p in self.pending)

    @property
    def oldest_pending(self) -> datetime | None:
        return min((p.oldest for p in self.pending if p.oldest), default=None)


def overview(*, days: int = 14, now: datetime | None = None) -> Overview:
    """Return the overview: payment volume per currency and day, orders by status, refunds,
    pending payments and their age, and whether debits equal credits in every currency."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    first_day = today - timedelta(days=days - 1)
    since = timezone.make_aware(datetime.combine(first_day, datetime.min.time()))
    today_start = timezone.make_aware(datetime.combine(today, datetime.min.time()))

    # Volume is what the ledger booked: a payment counts on the day its transaction was posted.
    booked = (
        Payment.objects.filter(status=PaymentStatus.SUCCEEDED, ledger_transaction__created_at__gte=since)
        .annotate(day=TruncDate("ledger_transaction__created_at"))
        .values("day", "order__currency")
        .annotate(total=Sum("amount"), n=Count("id"))
        .order_by()
    )
    per_currency: dict[str, dict[date, tuple[int, int]]] = {}
    for row in booked:
        per_currency.setdefault(row["order__currency"], {})[row["day"]] = (row["total"], row["n"])
    span = [first_day + timedelta(days=n) for n in range(days)]
    volumes = [
        CurrencyVolume(currency, [DayVolume(day, *per_currency[currency].get(day, (0, 0))) for day in span])
        for currency in sorted(per_currency)
    ]

    counts = dict(Order.objects.values_list("status").annotate(n=Count("id")).order_by())
    status_counts = [(status, label, counts.get(status, 0)) for status, label in OrderStatus.choices]

    refunds = [
        CurrencyAmount(row["order__currency"], row["n"], row["total"], row["today_n"], row["today_total"])
        for row in Refund.objects.filter(created_at__gte=since)
        .values("order__currency")
        .annotate(
            n=Count("id"),
            total=Sum("amount"),
            today_n=Count("id", filter=Q(created_at__gte=today_start)),
            today_total=Coalesce(Sum("amount", filter=Q(created_at__gte=today_start)), 0),
        )
        .order_by("order__currency")
    ]
    pending = [
        CurrencyAmount(row["order__currency"], row["n"], row["total"], oldest=row["oldest"])
        for row in Payment.objects.filter(status=PaymentStatus.PENDING)
        .values("order__currency")
        .annotate(n=Count("id"), total=Sum("amount"), oldest=Min("created_at"))
        .order_by("order__currency")
    ]
    last_run = ReconciliationRun.objects.defer("drifts").order_by("-started_at", "-id").first()
    return Overview(volumes, status_counts, refunds, pending, currency_totals(), last_run)


# --- orders ----------------------------------------------------------------------------------


def orders_search(*, q: str = "", status: str | None = None, limit: int, after: list | None = None) -> list[Order]:
    """Return orders newest first, after the (created_at, id) position given.

    `q` matches the order id (full, or its first 4-8 characters), or part of the buyer's or the
    seller's id.
    """
    orders = Order.objects.order_by("-created_at", "-id")
    if status:
        orders = orders.filter(status=status)
    q = q.strip()
    if q:
        orders, by_id = _id_matches(orders, q)
        orders = orders.filter(by_id | Q(user_id__icontains=q) | Q(seller_id__icontains=q))
    return list(orders.filter(_after("created_at", after))[:limit])


@dataclass(frozen=True)
class LedgerLine:
    transaction_id: uuid.UUID
    kind: str
    account: str
    account_id: uuid.UUID
    direction: str  # "DR" or "CR"
    amount: int
    currency: str
    created_at: datetime
    total_debits: int  # running totals of the order's lines up to and including this one
    total_credits: int
    first_of_transaction: bool


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    title: str
    detail: str = ""
    status: str = ""  # the order's status after the event, when it changed it


@dataclass
class OrderDetail:
    order: Order
    payments: list[Payment]
    refunds: list[Refund]
    confirmations: list[PaymentConfirmation]
    webhook_events: list[WebhookEvent]
    ledger_lines: list[LedgerLine]
    audit_entries: list[AuditEntry]
    timeline: list[TimelineEvent] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)

    @property
    def ledger_balanced(self) -> bool:
        last = self.ledger_lines[-1] if self.ledger_lines else None
        return last is None or last.total_debits == last.total_credits


def order_detail(*, order: Order) -> OrderDetail:
    """Return everything the order page shows: attempts, refunds, events, ledger lines, audit log."""
    payments = list(order.payments.order_by("created_at", "id"))
    refunds = list(order.refunds.order_by("created_at", "id"))
    confirmations = list(order.confirmations.order_by("created_at", "id"))
    webhook_events = list(order.webhook_events.order_by("received_at", "id"))
    audit_entries = list(
        AuditEntry.objects.filter(target_type="order", target_id=str(order.pk)).order_by("-created_at", "-id")
    )
    lines, debits, credits, previous = [], 0, 0, None
    for entry in order_ledger_entries(order=order):
        debits += entry.amount if entry.direction == "DR" else 0
        credits += entry.amount if entry.direction == "CR" else 0
        lines.append(LedgerLine(
            entry.transaction_id, entry.kind, entry.account, entry.account_id, entry.direction, entry.amount,
            entry.currency, entry.created_at, debits, credits, entry.transaction_id != previous,
        ))
        previous = entry.transaction_id
    detail = OrderDetail(order, payments, refunds, confirmations, webhook_events, lines, audit_entries)
    detail.timeline = order_timeline(detail)
    detail.names = owner_names([order.owner, *(r.created_by for r in refunds)])
    return detail


def order_timeline(detail: OrderDetail) -> list[TimelineEvent]:
    """Put the order's story in time order: creation, attempts, confirmations, webhooks, refunds."""
    order = detail.order
    events = [TimelineEvent(order.created_at, "Order created", order.description, OrderStatus.CREATED)]
    confirmed = {c.payment_id for c in detail.confirmations if c.result == "applied"}
    for payment in detail.payments:
        events.append(TimelineEvent(payment.created_at, f"Payment attempt {str(payment.id)[:8]} started"))
        if payment.status == PaymentStatus.SUCCEEDED and payment.id not in confirmed:
            events.append(TimelineEvent(payment.updated_at, "Charge succeeded", payment.provider_reference,
                                        OrderStatus.PAID))
        elif payment.status == PaymentStatus.FAILED and payment.id not in confirmed:
            events.append(TimelineEvent(payment.updated_at, "Charge failed", payment.failure_reason,
                                        OrderStatus.FAILED))
        elif payment.status == PaymentStatus.PENDING or payment.id in confirmed:
            events.append(TimelineEvent(payment.created_at, "Provider unavailable: payment left pending",
                                        "trusted buyer under the outage cap", OrderStatus.PENDING_PAYMENT))
    for confirmation in detail.confirmations:
        by = confirmation.get_source_display() + (f" {confirmation.actor}" if confirmation.actor else "")
        changed = confirmation.status_after if confirmation.status_after != confirmation.status_before else ""
        events.append(TimelineEvent(
            confirmation.created_at, f"{confirmation.outcome} reported by {by}",
            " · ".join(filter(None, [confirmation.get_result_display(), confirmation.note])), changed,
        ))
    for event in detail.webhook_events:
        events.append(TimelineEvent(
            event.received_at, f"Webhook {event.outcome or ''} received".replace("  ", " "),
            f"event {event.event_id or '—'}: {event.get_result_display()}",
        ))
    refunded = 0
    for refund in detail.refunds:
        refunded += refund.amount
        status = status_after_refunds(amount=order.amount, refunded=refunded)
        events.append(TimelineEvent(refund.created_at, f"Refund {str(refund.id)[:8]}", refund.reason, status))
    events.sort(key=lambda e: e.at)
    return events


def pending_queue(*, limit: int, after: list | None = None) -> list[Order]:
    """Return orders awaiting a provider's confirmation, oldest pending first (`pending_since`)."""
    since = Subquery(
        Payment.objects.filter(order=OuterRef("pk"), status=PaymentStatus.PENDING).values("created_at")[:1]
    )
    orders = (
        Order.objects.filter(status=OrderStatus.PENDING_PAYMENT)
        .annotate(pending_since=Coalesce(since, "created_at", output_field=DateTimeField()))
        .order_by("pending_since", "id")
    )
    return list(orders.filter(_after("pending_since", after, descending=False))[:limit])


# --- refunds ---------------------------------------------------------------------------------


def refunds_search(
    *, q: str = "", currency: str = "", source: str = "", acknowledged: str = "", limit: int,
    after: list | None = None,
) -> list[Refund]:
    """Return refunds newest first with their orders. `q` matches the refund or order id, the
    buyer, or the reason; `source` is "operator" or "api"; `acknowledged` "yes"/"no" (by the provider)."""
    refunds = Refund.objects.select_related("order").order_by("-created_at", "-id")
    q = q.strip()
    if q:
        refunds, by_id = _id_matches(refunds, q)
        refunds, by_order = _id_matches(refunds, q, "order_id")
        refunds = refunds.filter(by_id | by_order | Q(order__user_id__icontains=q) | Q(reason__icontains=q))
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
    return list(refunds.filter(_after("created_at", after))[:limit])


def order_currencies() -> list[str]:
    return list(Order.objects.values_list("currency", flat=True).distinct().order_by("currency"))


# --- ledger ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CurrencyBook:
    currency: str
    debits: int
    credits: int
    customer_accounts: int
    customer_balance: int

    @property
    def balanced(self) -> bool:
        return self.debits == self.credits


def ledger_books() -> list[CurrencyBook]:
    """Per currency: the ledger's total debits and credits, and what customers hold."""
    totals = currency_totals()
    customers = {
        row["currency"]: row
        for row in Account.objects.filter(is_system=False)
        .values("currency")
        .annotate(n=Count("id", distinct=True), held=Coalesce(Sum("balance_buckets__balance"), 0))
        .order_by()
    }
    currencies = sorted(set(totals) | set(customers))
    return [
        CurrencyBook(
            c, *totals.get(c, (0, 0)), customers.get(c, {}).get("n", 0), customers.get(c, {}).get("held", 0)
        )
        for c in currencies
    ]


@dataclass(frozen=True)
class SystemAccountRow:
    name: str
    kind: str
    accounts: list[Account | None]  # one per currency of the matrix, None where never used


def system_account_matrix() -> tuple[list[str], list[SystemAccountRow]]:
    """Return the currencies and, per system account name, its account in each currency (one query)."""
    accounts = list(Account.objects.filter(is_system=True).with_balance().order_by("name", "currency"))
    currencies = sorted({a.currency for a in accounts})
    by_name: dict[str, dict[str, Account]] = {}
    for account in accounts:
        by_name.setdefault(account.name, {})[account.currency] = account
    rows = [
        SystemAccountRow(name, next(iter(cells.values())).get_kind_display(), [cells.get(c) for c in currencies])
        for name, cells in by_name.items()
    ]
    return currencies, rows


def customer_accounts(*, q: str = "", currency: str = "", limit: int, after: list | None = None) -> list[Account]:
    """Return customer accounts newest first with their balances; `q` matches id, name or owner."""
    accounts = Account.objects.filter(is_system=False).with_balance().order_by("-created_at", "-id")
    q = q.strip()
    if q:
        accounts, by_id = _id_matches(accounts, q)
        accounts = accounts.filter(by_id | Q(name__icontains=q) | Q(owner=q))
    if currency:
        accounts = accounts.filter(currency=currency)
    return list(accounts.filter(_after("created_at", after))[:limit])


def account_currencies() -> list[str]:
    return list(Account.objects.values_list("currency", flat=True).distinct().order_by("currency"))


def transaction_detail(*, transaction_id) -> tuple[Transaction, list[Posting]]:
    """Return a ledger transaction and its postings with their accounts (Transaction.DoesNotExist)."""
    txn = Transaction.objects.get(pk=transaction_id)
    postings = list(txn.postings.select_related("account").order_by("id"))
    return txn, postings


# --- wallets ---------------------------------------------------------------------------------


def wallet_movements(*, account_ids, limit: int = 25) -> list[Posting]:
    """Return the latest postings on these wallet accounts, newest first, with their transactions."""
    return list(
        Posting.objects.filter(account_id__in=list(account_ids))
        .select_related("transaction", "account")
        .order_by("-transaction__created_at", "-id")[:limit]
    )


def recent_wallets(*, limit: int = 20) -> list[Wallet]:
    return list(Wallet.objects.select_related("account").annotate(balance=bucket_sum("account_id"))
                .order_by("-created_at", "-id")[:limit])


# --- audit -----------------------------------------------------------------------------------


def audit_search(*, action: str = "", actor: str = "", q: str = "", limit: int, after: list | None = None):
    """Return audit entries newest first; `q` matches the target's id (full or its first characters)."""
    entries = AuditEntry.objects.order_by("-created_at", "-id")
    if action:
        entries = entries.filter(action=action)
    if actor:
        entries = entries.filter(actor_name=actor)
    q = q.strip().lower()
    if q:
        entries = entries.filter(target_id__startswith=q)
    return list(entries.filter(_after("created_at", after))[:limit])


def audit_actors() -> list[str]:
    return list(AuditEntry.objects.values_list("actor_name", flat=True).distinct().order_by("actor_name"))


# --- reconciliation --------------------------------------------------------------------------


def reconciliation_runs(*, limit: int = 15) -> list[ReconciliationRun]:
    """Return the latest runs without their drift lists (those can be long)."""
    return list(ReconciliationRun.objects.defer("drifts").order_by("-started_at", "-id")[:limit])
