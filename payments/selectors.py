"""Reads of the payments app that are more than a `.get()`: the API's and the dashboard's.

The dashboard's lists are searched in `searches.py`. The order page is fetched in a fixed number of
queries whatever its history: the dashboard's query-count tests count them.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db.models import Count, Min, Prefetch, Q, Sum
from django.db.models.functions import Coalesce, TruncDate

from audit.models import AuditEntry
from audit.selectors import audit_history
from ledger.currencies import format_amount
from ledger.models import Direction, Posting
from mintguard_site.api.pagination import keyset_after
from mintguard_site.api.selectors import owner_names

from .exceptions import OrderNotFound, SettlementBreakNotFound, SettlementRunNotFound
from .models import (
    HELD_PAYMENT_STATUSES,
    Order,
    OrderStatus,
    Payment,
    PaymentConfirmation,
    PaymentKind,
    PaymentStatus,
    Refund,
    SettlementBreak,
    SettlementBreakKind,
    SettlementRun,
    WebhookEvent,
)
from .policies import authorization_expires_at
from .transitions import status_after_refunds


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


def authorizations_due(*, expired_before: datetime, claimed_before: datetime) -> list[Payment]:
    """Return the authorizations the expiry job settles, oldest first: those AUTHORIZED at or before
    `expired_before`, and the captures and voids claimed at or before `claimed_before` (abandoned)."""
    return list(
        Payment.objects.filter(
            Q(status=PaymentStatus.AUTHORIZED, authorized_at__lte=expired_before)
            | Q(status__in=(PaymentStatus.CAPTURING, PaymentStatus.VOIDING), updated_at__lte=claimed_before)
        )
        .select_related("order")
        .order_by("authorized_at", "id")
    )


def orders_page(
    *,
    owner: str | None,
    limit: int,
    after: list | tuple | None = None,
    status: str | None = None,
    user_id: str | None = None,
) -> list[Order]:
    """Return orders newest first, after the (created_at, id) position given.

    `owner` None (an operator) sees every client's orders. The dashboard's order list, with its
    search, filters and sorting, is `payments.searches.orders_search`.
    """
    orders = Order.objects.order_by("-created_at", "-id")
    if owner is not None:
        orders = orders.filter(owner=owner)
    if status:
        orders = orders.filter(status=status)
    if user_id is not None:
        orders = orders.filter(user_id=user_id)
    return list(orders.filter(keyset_after(after))[:limit])


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


# --- the dashboard's order page ------------------------------------------------------------


@dataclass(frozen=True)
class LedgerLine:
    transaction_id: UUID
    kind: str
    account: str
    account_id: UUID
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
    def authorization(self) -> Payment | None:
        """The order's live authorization, what a capture or void acts on, if it has one."""
        return next((p for p in reversed(self.payments) if p.status in HELD_PAYMENT_STATUSES), None)

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
    audit_entries = audit_history(target_type="order", target_id=order.pk)
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
        if payment.kind == PaymentKind.AUTHORIZATION:
            events += authorization_timeline(payment, order=order, confirmed=payment.id in confirmed)
            continue
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
        status = status_after_refunds(paid=order.paid_amount, refunded=refunded)
        events.append(TimelineEvent(refund.created_at, f"Refund {str(refund.id)[:8]}", refund.reason, status))
    events.sort(key=lambda e: e.at)
    return events


def authorization_timeline(payment: Payment, *, order: Order, confirmed: bool) -> list[TimelineEvent]:
    """The steps of one authorization: asked, authorized (or not), then captured, voided or expired."""
    S, P = OrderStatus, PaymentStatus
    events = [TimelineEvent(payment.created_at, f"Authorization {str(payment.id)[:8]} started")]
    if payment.status == P.FAILED and not confirmed:
        return [*events, TimelineEvent(payment.updated_at, "Authorization failed", payment.failure_reason, S.FAILED)]
    if payment.status == P.PENDING or confirmed:  # confirmed later: it had waited for the provider
        events.append(TimelineEvent(payment.created_at, "Provider unavailable: authorization left pending",
                                    "trusted buyer under the outage cap", S.PENDING_PAYMENT))
    if payment.authorized_at is None:
        return events
    expires = authorization_expires_at(payment)
    held = f"{format_amount(payment.amount, order.currency)} held until {expires:%Y-%m-%d %H:%M} UTC"
    events.append(TimelineEvent(payment.authorized_at, "Funds authorized", f"{held} · {payment.provider_reference}",
                                S.AUTHORIZED))
    if payment.status == P.SUCCEEDED:
        captured = format_amount(payment.captured_amount, order.currency)
        rest = payment.amount - payment.captured_amount
        detail = captured + (f", {format_amount(rest, order.currency)} released" if rest else "")
        events.append(TimelineEvent(payment.updated_at, "Captured", detail, S.PAID))
    elif payment.status == P.VOIDED:
        events.append(TimelineEvent(payment.updated_at, "Authorization voided", "the hold was released", S.CANCELED))
    elif payment.status == P.EXPIRED:
        events.append(TimelineEvent(payment.updated_at, "Authorization expired", "not captured in time", S.CANCELED))
    elif payment.status in (P.CAPTURING, P.VOIDING):
        events.append(TimelineEvent(payment.updated_at, f"{payment.get_status_display()}: waiting for the provider"))
    return events


# --- the dashboard's overview --------------------------------------------------------------


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


def payment_volumes(*, first_day: date, days: int, since: datetime) -> list[CurrencyVolume]:
    """Return the volume paid per currency on each of `days` days from `first_day` (which starts at `since`).

    Volume is what the ledger booked: a payment counts on the day its transaction was posted.
    """
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
    return [
        CurrencyVolume(currency, [DayVolume(day, *per_currency[currency].get(day, (0, 0))) for day in span])
        for currency in sorted(per_currency)
    ]


def order_status_counts() -> list[tuple[str, str, int]]:
    """Return (status, label, number of orders) for every status, in the lifecycle's order."""
    counts = dict(Order.objects.values_list("status").annotate(n=Count("id")).order_by())
    return [(status, label, counts.get(status, 0)) for status, label in OrderStatus.choices]


def refund_totals(*, since: datetime, today_start: datetime) -> list[CurrencyAmount]:
    """Return the refunds made since `since` per currency, with those made since `today_start`."""
    return [
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


def pending_totals() -> list[CurrencyAmount]:
    """Return the payments awaiting a provider's confirmation per currency, with the oldest's start."""
    return [
        CurrencyAmount(row["order__currency"], row["n"], row["total"], oldest=row["oldest"])
        for row in Payment.objects.filter(status=PaymentStatus.PENDING)
        .values("order__currency")
        .annotate(n=Count("id"), total=Sum("amount"), oldest=Min("created_at"))
        .order_by("order__currency")
    ]


# --- settlements (the platform's books: every run is visible to operators and `books` keys) ---


def _with_breaks(runs):
    return runs.prefetch_related(Prefetch("breaks", queryset=SettlementBreak.objects.order_by("created_at", "id")))


def settlement_runs_page(*, limit: int, after: list | tuple | None = None) -> list[SettlementRun]:
    """Return settlement runs newest first, after the (created_at, id) position given, with their breaks."""
    runs = SettlementRun.objects.order_by("-created_at", "-id").filter(keyset_after(after))
    return list(_with_breaks(runs)[:limit])


def settlement_run_get(*, run_id, with_breaks: bool = True) -> SettlementRun:
    """Return a settlement run (with its breaks), or raise SettlementRunNotFound (also for a malformed id)."""
    runs = _with_breaks(SettlementRun.objects.all()) if with_breaks else SettlementRun.objects.all()
    try:
        return runs.get(pk=run_id)
    except (SettlementRun.DoesNotExist, ValueError, TypeError, ValidationError):
        raise SettlementRunNotFound(f"Settlement run {str(run_id)[:64]} does not exist.") from None


def settlement_break_get(*, break_id) -> SettlementBreak:
    """Return a break with its run, or raise SettlementBreakNotFound (also for a malformed id)."""
    try:
        return SettlementBreak.objects.select_related("run").get(pk=break_id)
    except (SettlementBreak.DoesNotExist, ValueError, TypeError, ValidationError):
        raise SettlementBreakNotFound(f"Settlement break {str(break_id)[:64]} does not exist.") from None


def settlement_runs_list():
    """The dashboard's runs, newest first, each with its number of breaks and of unresolved ones."""
    return SettlementRun.objects.order_by("-created_at", "-id").annotate(
        break_count=Count("breaks"), unresolved_count=Count("breaks", filter=Q(breaks__resolved_at__isnull=True)),
    )


@dataclass(frozen=True)
class BreakGroup:
    kind: str
    label: str
    breaks: list
    unresolved: int


def settlement_break_groups(*, run: SettlementRun) -> list[BreakGroup]:
    """Return the run's breaks grouped by kind, in the kinds' order, unresolved first within each."""
    breaks = list(run.breaks.select_related("resolved_by", "payment", "refund", "line")
                  .order_by("resolved_at", "created_at", "id"))
    groups = []
    for kind, label in SettlementBreakKind.choices:
        of_kind = [b for b in breaks if b.kind == kind]
        if of_kind:
            groups.append(BreakGroup(kind, label, of_kind, sum(1 for b in of_kind if b.resolved_at is None)))
    return groups


def settlement_breaks_unresolved() -> dict[str, int]:
    """Return the number of unresolved settlement breaks of every kind (0 for a kind with none)."""
    counts = dict(SettlementBreak.objects.filter(resolved_at__isnull=True).values_list("kind")
                  .annotate(n=Count("id")).order_by())
    return {kind: counts.get(kind, 0) for kind in SettlementBreakKind.values}
