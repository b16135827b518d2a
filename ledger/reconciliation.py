"""Reconciliation: prove the books balance, or say precisely where they do not.

Each app owns its checks. The ledger registers its own below; an app above it (payments) calls
`register_check(name, fn)` from its AppConfig.ready(), so the ledger never imports it. A check is
a callable that yields `Drift`s; it must aggregate in SQL and stream, never load the ledger.

`reconcile_run()` runs every registered check, counts every drift, keeps the first few as
records, stores a `ReconciliationRun` for the dashboard and /metrics, and returns it.
The `reconcile` management command and the dashboard page both call it.
"""

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django.db.models import BigIntegerField, F, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from . import selectors
from .models import (
    CAPTURE_REFERENCE_PREFIX,
    Account,
    BalanceBucket,
    Direction,
    Hold,
    HoldStatus,
    Posting,
    ReconciliationRun,
    ReferenceNamespace,
    Transaction,
)

logger = logging.getLogger(__name__)

# Names of the drifts the ledger's checks report: stable, for machines and alerts.
TRANSACTION_UNBALANCED = "transaction_balanced"
TRANSACTION_TOO_FEW_POSTINGS = "transaction_has_two_postings"
BALANCE_MATCHES_POSTINGS = "balance_matches_postings"
BALANCE_MATCHES_LAST_ENTRY = "balance_matches_last_entry"
ENTRY_NUMBERS_GAPLESS = "entry_numbers_gapless"
BUCKET_EXISTS = "posting_bucket_exists"
CUSTOMER_NOT_NEGATIVE = "customer_balance_not_negative"
DEBITS_EQUAL_CREDITS = "debits_equal_credits"
HELD_MATCHES_HOLDS = "held_matches_holds"
AVAILABLE_NOT_NEGATIVE = "customer_available_not_negative"
HOLD_CAPTURED_ONCE = "hold_captured_once"
CHECK_FAILED = "check_failed"


@dataclass(frozen=True)
class Drift:
    """One thing that does not reconcile: a sentence for people and the fields for machines."""

    check: str
    message: str
    account_id: str | None = None
    transaction_id: str | None = None
    order_id: str | None = None
    currency: str | None = None
    expected: Any = None
    actual: Any = None

    def as_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value is not None or key in ("expected", "actual")}


Check = Callable[[], Iterable[Drift]]
_checks: dict[str, Check] = {}


def register_check(name: str, check: Check) -> None:
    """Add a check to every reconciliation run. Registering a name again replaces its check."""
    _checks[name] = check


def registered_checks() -> dict[str, Check]:
    return dict(_checks)


# --- the ledger's checks -------------------------------------------------------------------


def _bucket_label(totals: selectors.BucketTotals) -> str:
    if totals.is_system:
        return f"System account {totals.account_id} ({totals.name}, {totals.currency}), bucket {totals.bucket}"
    return f"Account {totals.account_id} ({totals.name}, {totals.currency})"


def check_transactions() -> Iterator[Drift]:
    """Every transaction has two postings or more, and its debits equal its credits per currency."""
    for transaction_id, currency, difference in selectors.unbalanced_transactions():
        side = "debits exceed credits" if difference > 0 else "credits exceed debits"
        yield Drift(
            TRANSACTION_UNBALANCED,
            f"Transaction {transaction_id} does not balance in {currency}: {side} by {abs(difference)}.",
            transaction_id=str(transaction_id), currency=currency, expected=0, actual=difference,
        )
    for transaction_id in selectors.transactions_with_too_few_postings():
        yield Drift(
            TRANSACTION_TOO_FEW_POSTINGS,
            f"Transaction {transaction_id} has fewer than two postings.",
            transaction_id=str(transaction_id), expected=">= 2", actual="< 2",
        )


def check_balances() -> Iterator[Drift]:
    """Each balance bucket's stored balance equals its postings' sum and its last `balance_after`,
    its entry numbers run 1..n with no gap, no posting names a bucket that does not exist, and no
    customer account (always one bucket) is below zero. One streamed pass.
    """
    for totals in selectors.bucket_totals():
        label = _bucket_label(totals)
        account_id = str(totals.account_id)
        stored, posted = totals.stored_balance, totals.posted_balance
        if not totals.has_row:
            yield Drift(
                BUCKET_EXISTS,
                f"{label}: {totals.posting_count} posting(s) are booked to a balance bucket that does not exist.",
                account_id=account_id, currency=totals.currency, expected=0, actual=totals.posting_count,
            )
            continue
        if stored != posted:
            yield Drift(
                BALANCE_MATCHES_POSTINGS,
                f"{label}: stored balance {stored} differs from the sum of its postings {posted} "
                f"(by {stored - posted}).",
                account_id=account_id, currency=totals.currency, expected=posted, actual=stored,
            )
        if totals.posting_count and totals.last_balance_after != stored:
            after = "missing" if totals.last_balance_after is None else totals.last_balance_after
            yield Drift(
                BALANCE_MATCHES_LAST_ENTRY,
                f"{label}: stored balance {stored} differs from balance_after {after} of its last "
                f"posting (entry {totals.last_entry_number}).",
                account_id=account_id, currency=totals.currency, expected=totals.last_balance_after, actual=stored,
            )
        # Entry numbers are unique per bucket and >= 1, so count == max means exactly 1..max.
        if not totals.posting_count == totals.max_entry_number == totals.last_entry_number:
            yield Drift(
                ENTRY_NUMBERS_GAPLESS,
                f"{label}: {totals.posting_count} posting(s) numbered up to {totals.max_entry_number}, "
                f"last entry number recorded {totals.last_entry_number}; expected 1..{totals.posting_count} "
                "with no gap.",
                account_id=account_id, currency=totals.currency,
                expected={"postings": totals.posting_count, "max_entry": totals.posting_count,
                          "last_entry": totals.posting_count},
                actual={"postings": totals.posting_count, "max_entry": totals.max_entry_number,
                        "last_entry": totals.last_entry_number},
            )
        if not totals.is_system and min(stored, posted) < 0:
            yield Drift(
                CUSTOMER_NOT_NEGATIVE,
                f"{label}: customer balance is {min(stored, posted)}, below zero.",
                account_id=account_id, currency=totals.currency, expected=">= 0", actual=min(stored, posted),
            )


def check_currency_totals() -> Iterator[Drift]:
    """Over the whole ledger, debits equal credits in each currency."""
    for currency, (debits, credits) in selectors.currency_totals().items():
        if debits != credits:
            yield Drift(
                DEBITS_EQUAL_CREDITS,
                f"Ledger total in {currency}: debits {debits} differ from credits {credits} "
                f"(by {debits - credits}).",
                currency=currency, expected=credits, actual=debits,
            )


def _held_drifts() -> Iterator:
    """Buckets whose `held` is not the sum of their account's HELD holds."""
    held_holds = (Hold.objects.filter(source_account=OuterRef("account_id"), status=HoldStatus.HELD).order_by()
                  .values("source_account").annotate(total=Sum("amount")).values("total"))
    rows = (BalanceBucket.objects.annotate(holds_total=Coalesce(Subquery(held_holds), Value(0),
                                                                output_field=BigIntegerField()))
            .exclude(held=F("holds_total")).values_list("account_id", "held", "holds_total"))
    for account_id, held, holds_total in rows.iterator(chunk_size=1000):
        yield _HeldDrift(account_id, held, holds_total)


@dataclass(frozen=True)
class _HeldDrift:
    account_id: UUID
    held: int
    holds_total: int


def _accounts_below_available() -> Iterator[Account]:
    """Customer accounts whose active holds reserve more than their balance."""
    return Account.objects.filter(is_system=False).with_balance().filter(available__lt=0).iterator(chunk_size=1000)


def _hold_capture_drifts(chunk: int = 1000) -> Iterator[tuple[str, str, object, object]]:
    """Each captured hold has exactly one transaction (`hold:<id>`) moving `captured_amount` from its source to
    its destination, and no other hold moved money. Streams both sides in chunks."""
    captures = (Transaction.objects
                .filter(namespace=ReferenceNamespace.SYSTEM, reference__startswith=CAPTURE_REFERENCE_PREFIX)
                .order_by("id").values_list("id", "reference", "owner"))
    seen = 0
    batch = []
    for row in captures.iterator(chunk_size=chunk):
        batch.append(row)
        if len(batch) == chunk:
            seen += len(batch)
            yield from _capture_batch_drifts(batch)
            batch = []
    seen += len(batch)
    yield from _capture_batch_drifts(batch)
    captured = Hold.objects.filter(status=HoldStatus.CAPTURED).count()
    if captured != seen:
        yield "(all)", "captured holds and capture transactions differ in number", captured, seen


def _hold_id(reference: str) -> UUID:
    return UUID(reference.removeprefix(CAPTURE_REFERENCE_PREFIX))


def _capture_batch_drifts(batch: list) -> Iterator[tuple[str, str, object, object]]:
    holds = Hold.objects.in_bulk([_hold_id(reference) for _, reference, _ in batch])
    legs: dict[UUID, list] = {}
    for posting in Posting.objects.filter(transaction_id__in=[txn_id for txn_id, _, _ in batch]):
        legs.setdefault(posting.transaction_id, []).append((posting.account_id, posting.direction, posting.amount))
    for txn_id, reference, owner in batch:
        hold = holds.get(_hold_id(reference))
        if hold is None or hold.status != HoldStatus.CAPTURED or hold.owner != owner:
            yield str(_hold_id(reference)), f"transaction {txn_id} moved money for a hold that is not captured", \
                HoldStatus.CAPTURED, hold.status if hold else None
            continue
        wanted = sorted([(hold.source_account_id, Direction.DEBIT, hold.captured_amount),
                         (hold.destination_account_id, Direction.CREDIT, hold.captured_amount)])
        moved = sorted(legs.get(txn_id, []))
        if moved != wanted:
            yield str(hold.id), f"transaction {txn_id} does not move exactly the captured amount", \
                hold.captured_amount, [f"{direction} {amount} {account_id}" for account_id, direction, amount in moved]


def check_holds() -> Iterator[Drift]:
    """Holds agree with the balances they reserve on, and each moved money only by its capture."""
    for row in _held_drifts():
        yield Drift(HELD_MATCHES_HOLDS, f"Account {row.account_id}: held {row.held}, its HELD holds sum to "
                    f"{row.holds_total}.", account_id=str(row.account_id), expected=row.holds_total, actual=row.held)
    for account in _accounts_below_available():
        yield Drift(AVAILABLE_NOT_NEGATIVE, f"Account {account.id}: available is {account.available}, below zero.",
                    account_id=str(account.id), currency=account.currency, expected=">= 0", actual=account.available)
    for hold_id, problem, expected, actual in _hold_capture_drifts():
        yield Drift(HOLD_CAPTURED_ONCE, f"Hold {hold_id}: {problem}.", transaction_id=None, expected=expected,
                    actual=actual)


register_check("ledger.transactions", check_transactions)
register_check("ledger.accounts", check_balances)
register_check("ledger.currency_totals", check_currency_totals)
register_check("ledger.holds", check_holds)


# --- running them ----------------------------------------------------------------------------


@dataclass
class _Tally:
    """Count every drift; keep only the first `max_kept`, so memory stays bounded."""

    max_kept: int
    count: int = 0
    kept: list[dict] = field(default_factory=list)

    def add(self, drift: Drift) -> None:
        self.count += 1
        if len(self.kept) < self.max_kept:
            self.kept.append(drift.as_dict())


def _run_check(name: str, check: Check, tally: _Tally) -> int:
    before = tally.count
    # On PostgreSQL a failed statement poisons the transaction: give each check a savepoint.
    guard = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    try:
        with guard:
            for drift in check():
                tally.add(drift)
    except Exception as exc:
        # A check that cannot run has verified nothing: that is a drift, not a pass.
        logger.exception("reconciliation check %s failed", name)
        tally.add(Drift(CHECK_FAILED, f"Check {name} could not run: {type(exc).__name__}: {exc}",
                        expected="completed", actual="failed"))
    return tally.count - before


@contextlib.contextmanager
def _snapshot():
    """Give all checks one consistent view of the books, where the database offers one cheaply.

    PostgreSQL: a REPEATABLE READ, READ ONLY transaction, so postings committed during the run
    cannot make two checks disagree (inside a caller's transaction, the caller's view stands).
    SQLite: no wrapper, since its IMMEDIATE transactions would block every writer for the whole
    run; each check is one statement there, and a statement is a consistent read on its own.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


def reconcile_run(*, checks: dict[str, Check] | None = None, store: bool = True) -> ReconciliationRun:
    """Run the checks (default: every registered one), store the run, and return it."""
    checks = registered_checks() if checks is None else checks
    tally = _Tally(max_kept=settings.MINTGUARD_RECONCILIATION_MAX_DRIFTS)
    started_at, clock = timezone.now(), time.monotonic()
    per_check = []
    with _snapshot():
        for name, check in checks.items():
            check_clock = time.monotonic()
            drift_count = _run_check(name, check, tally)
            per_check.append({"name": name, "drift_count": drift_count,
                              "duration_ms": int((time.monotonic() - check_clock) * 1000)})
    run = ReconciliationRun(
        started_at=started_at,
        finished_at=timezone.now(),
        duration_ms=int((time.monotonic() - clock) * 1000),
        ok=tally.count == 0,
        drift_count=tally.count,
        drifts_truncated=tally.count > len(tally.kept),
        checks=per_check,
        drifts=tally.kept,
    )
    if store:
        run.save()
    log = logger.info if run.ok else logger.error
    log("reconciliation finished: %s", "clean" if run.ok else f"{run.drift_count} drift(s)",
        extra={"event": "reconciliation.finished", "ok": run.ok, "drift_count": run.drift_count,
               "duration_ms": run.duration_ms, "reconciliation_run_id": run.pk})
    return run


def reconciliation_latest() -> ReconciliationRun | None:
    """Return the latest stored run, or None if reconciliation never ran."""
    return ReconciliationRun.objects.order_by("-started_at", "-id").first()
