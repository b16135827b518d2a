"""The overview, the operators' own page: totals across the apps, read through each app's selectors."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from ledger.models import ReconciliationRun
from ledger.selectors import currency_totals, reconciliation_runs
from payments.selectors import (
    CurrencyAmount,
    CurrencyVolume,
    order_status_counts,
    payment_volumes,
    pending_totals,
    refund_totals,
)


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
    last_runs = reconciliation_runs(limit=1)
    return Overview(
        volumes=payment_volumes(first_day=first_day, days=days, since=since),
        status_counts=order_status_counts(),
        refunds=refund_totals(since=since, today_start=today_start),
        pending=pending_totals(),
        totals=currency_totals(),
        last_run=last_runs[0] if last_runs else None,
    )
