"""Reads of the ledger that are more than a `.get()`: statements, integrity checks, and the
dashboard's pages (the API's list of accounts is `accounts_page`; the dashboard's, searched and
counted, is `searches.accounts_search`).

The integrity checks aggregate in SQL and stream their rows, so they run in bounded memory on
ledgers of any size. Reconciliation builds on them.
"""

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db.models import BigIntegerField, Count, F, Max, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from mintguard_site.api.pagination import keyset_after

from .exceptions import AccountNotFound, HoldNotFound, InvalidStatementPosition, TransferNotFound
from .models import (
    DEBIT_NORMAL_KINDS,
    Account,
    BalanceBucket,
    Direction,
    Hold,
    HoldStatus,
    Posting,
    ReconciliationRun,
    ReferenceNamespace,
    Transaction,
    normal_balance,
)

_debits = Coalesce(Sum("amount", filter=Q(direction=Direction.DEBIT)), Value(0), output_field=BigIntegerField())
_credits = Coalesce(Sum("amount", filter=Q(direction=Direction.CREDIT)), Value(0), output_field=BigIntegerField())


def account_get(*, account_id, owner: str | None = None) -> Account:
    """Return a customer account, or raise AccountNotFound (also for another owner's account)."""
    accounts = Account.objects.with_balance().filter(is_system=False)
    if owner is not None:
        accounts = accounts.filter(owner=owner)
    try:
        return accounts.get(pk=account_id)
    except (Account.DoesNotExist, ValueError, TypeError, ValidationError):
        raise AccountNotFound(f"Account {account_id} does not exist.") from None


def accounts_page(*, owner: str | None, limit: int, after: list | tuple | None = None) -> list[Account]:
    """Return customer accounts with their balances newest first, after the (created_at, id) position given.

    `owner` None (an operator) sees every client's accounts. The dashboard's account list, with
    its search and filters, is `ledger.searches.accounts_search`.
    """
    accounts = Account.objects.filter(is_system=False).with_balance().order_by("-created_at", "-id")
    if owner is not None:
        accounts = accounts.filter(owner=owner)
    return list(accounts.filter(keyset_after(after))[:limit])


def transfer_get(*, transfer_id, owner: str | None = None) -> Transaction:
    """Return a transfer with its postings, or raise TransferNotFound (also for another owner's)."""
    transfers = Transaction.objects.filter(kind="transfer").prefetch_related("postings")  # for txn.legs
    if owner is not None:
        transfers = transfers.filter(owner=owner)
    try:
        return transfers.get(pk=transfer_id)
    except (Transaction.DoesNotExist, ValueError, TypeError, ValidationError):
        raise TransferNotFound(f"Transfer {transfer_id} does not exist.") from None


def hold_get(*, hold_id, owner: str | None = None) -> Hold:
    """Return a hold, or raise HoldNotFound (also for another owner's)."""
    holds = Hold.objects.all() if owner is None else Hold.objects.filter(owner=owner)
    try:
        return holds.get(pk=hold_id)
    except (Hold.DoesNotExist, ValueError, TypeError, ValidationError):
        raise HoldNotFound(f"Hold {hold_id} does not exist.") from None


def holds_with_status(holds, status: str):
    """Filter holds by their status as of now: a HELD hold past `expires_at` counts as EXPIRED."""
    if status == HoldStatus.HELD:
        return holds.active()
    if status == HoldStatus.EXPIRED:
        return holds.filter(Q(status=HoldStatus.EXPIRED) | Q(status=HoldStatus.HELD, expires_at__lte=timezone.now()))
    return holds.filter(status=status)


def holds_page(*, owner: str | None, limit: int, after=None, status: str | None = None,
               account_id: UUID | None = None) -> list[Hold]:
    """Return holds newest first after the (created_at, id) position, optionally by status and account (either side)."""
    holds = Hold.objects.order_by("-created_at", "-id")
    if owner is not None:
        holds = holds.filter(owner=owner)
    if status:
        holds = holds_with_status(holds, status)
    if account_id is not None:
        holds = holds.filter(Q(source_account_id=account_id) | Q(destination_account_id=account_id))
    return list(holds.filter(keyset_after(after))[:limit])


def account_active_holds(*, account: Account, limit: int) -> list[Hold]:
    """The account's holds that reserve money now, the soonest to lapse first (a system account holds none)."""
    if account.is_system:
        return []
    holds = account.holds.active().select_related("destination_account").order_by("expires_at", "id")
    return list(holds[:limit])


def hold_capture_transaction(*, hold: Hold) -> Transaction | None:
    """A captured hold's one transaction, found by its system reference `hold:<id>`; None before capture."""
    if hold.status != HoldStatus.CAPTURED:
        return None
    return Transaction.objects.filter(owner=hold.owner, namespace=ReferenceNamespace.SYSTEM,
                                      reference=hold.capture_reference).first()


def statement_page(
    *, account: Account, limit: int, before: list | None = None
) -> tuple[list[Posting], list | None]:
    """Return up to `limit` postings of the account, newest first, and the position of the next page.

    A position holds, per bucket, the entry number the next page stays below (None: not started
    on that bucket); a customer account has one bucket, so its position is one entry number.
    Entry numbers are assigned under the bucket's lock and committed in order, so paging on them
    never skips or repeats a posting while new ones arrive. A system account's buckets are merged
    newest first by looking only at each bucket's next posting, so each bucket is still read in
    entry order, without a gap. Raises InvalidStatementPosition for a position that cannot be this
    account's.
    """
    # Buckets are numbered 0..n-1 (created together, never removed), so position i is bucket i.
    buckets = account.balance_buckets.count() if account.is_system else 1
    if before is None:
        before = [None] * buckets
    if len(before) > buckets or not all(e is None or type(e) is int for e in before):
        raise InvalidStatementPosition("The cursor does not fit this account's statement.")
    # Buckets added since the cursor was issued hold only newer entries: none belong on older pages.
    before = list(before) + [1] * (buckets - len(before))
    streams = []
    for bucket, bound in enumerate(before):
        postings = Posting.objects.filter(account=account, bucket=bucket)
        if bound is not None:
            postings = postings.filter(entry_number__lt=bound)
        streams.append(list(postings.select_related("transaction").order_by("-entry_number")[:limit + 1]))
    page = list(islice(heapq.merge(*streams, key=_posted_at, reverse=True), limit))
    position, taken = list(before), [0] * buckets
    for posting in page:
        position[posting.bucket], taken[posting.bucket] = posting.entry_number, taken[posting.bucket] + 1
    more = any(count < len(stream) for count, stream in zip(taken, streams, strict=True))
    return page, position if more else None


def _posted_at(posting: Posting) -> tuple:
    return posting.transaction.created_at, posting.pk


# --- integrity ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BucketTotals:
    """One balance bucket's stored figures next to the sums of the postings booked to it."""

    account_id: UUID
    bucket: int
    name: str
    currency: str
    is_system: bool
    debit_normal: bool
    has_row: bool  # False: postings name a bucket the account does not have
    stored_balance: int
    last_entry_number: int
    last_balance_after: int | None
    debits: int = 0
    credits: int = 0
    posting_count: int = 0
    max_entry_number: int = 0

    @property
    def posted_balance(self) -> int:
        return normal_balance(debit_normal=self.debit_normal, debits=self.debits, credits=self.credits)


def bucket_totals() -> Iterator[BucketTotals]:
    """Stream every balance bucket, in (account, bucket) order, with the sums of its postings.

    Two ordered streams, merged here: the bucket rows, and the postings summed per (account,
    bucket) in SQL. Postings in a bucket that has no row come out too, with has_row False.
    """
    last_balance_after = Posting.objects.filter(
        account_id=OuterRef("account_id"), bucket=OuterRef("bucket"), entry_number=OuterRef("last_entry_number")
    ).values("balance_after")[:1]
    rows = (
        BalanceBucket.objects.order_by("account_id", "bucket")
        .annotate(last_balance_after=Subquery(last_balance_after))
        .values_list("account_id", "bucket", "account__name", "account__currency", "account__is_system",
                     "account__kind", "balance", "last_entry_number", "last_balance_after")
        .iterator(chunk_size=2000)
    )
    sums = (
        Posting.objects.values("account_id", "bucket")
        .annotate(debits=_debits, credits=_credits, count=Count("id"), max_entry=Max("entry_number"))
        .order_by("account_id", "bucket")
        .values_list("account_id", "bucket", "debits", "credits", "count", "max_entry",
                     "account__name", "account__currency", "account__is_system", "account__kind")
        .iterator(chunk_size=2000)
    )
    row, total = next(rows, None), next(sums, None)
    while row is not None or total is not None:
        row_key = row[:2] if row is not None else None
        total_key = total[:2] if total is not None else None
        if total is None or (row is not None and row_key < total_key):
            yield _bucket(row)
            row = next(rows, None)
        elif row is None or total_key < row_key:
            account_id, bucket, debits, credits, count, max_entry, name, currency, is_system, kind = total
            yield BucketTotals(account_id, bucket, name, currency, is_system, kind in DEBIT_NORMAL_KINDS,
                               False, 0, 0, None, debits, credits, count, max_entry)
            total = next(sums, None)
        else:
            yield _bucket(row, sums=total[2:6])
            row, total = next(rows, None), next(sums, None)


def _bucket(row: tuple, *, sums: tuple = (0, 0, 0, 0)) -> BucketTotals:
    account_id, bucket, name, currency, is_system, kind, balance, last_entry, last_after = row
    return BucketTotals(account_id, bucket, name, currency, is_system, kind in DEBIT_NORMAL_KINDS,
                        True, balance, last_entry, last_after, *sums)


def unbalanced_transactions() -> Iterator[tuple[UUID, str, int]]:
    """Stream (transaction id, currency, debits - credits) for every currency that does not net to zero."""
    rows = (
        Posting.objects.values("transaction_id", "currency")
        .annotate(debits=_debits, credits=_credits)
        .exclude(debits=F("credits"))
        .values_list("transaction_id", "currency", "debits", "credits")
    )
    for transaction_id, currency, debits, credits in rows.iterator(chunk_size=2000):
        yield transaction_id, currency, debits - credits


def transactions_with_too_few_postings() -> Iterator[UUID]:
    rows = Transaction.objects.annotate(n=Count("postings")).filter(n__lt=2).values_list("id", flat=True)
    yield from rows.iterator(chunk_size=2000)


def currency_totals() -> dict[str, tuple[int, int]]:
    """Return {currency: (debits, credits)} over the whole ledger."""
    rows = Posting.objects.values("currency").annotate(debits=_debits, credits=_credits).order_by("currency")
    return {row["currency"]: (row["debits"], row["credits"]) for row in rows}


# --- summary -----------------------------------------------------------------------------

OTHER_ACCOUNTS_NAME = "other_clients_accounts"


def ledger_summary(*, owner: str | None = None) -> dict:
    """Return debits and credits per currency and per account, summed in SQL over the postings.

    `balanced` is true when debits equal credits in every currency. With an `owner` (an API
    client), system accounts and that owner's accounts are listed one by one and every other
    client's accounts are folded into one `other_clients_accounts` line per currency (id null), so
    the totals stay whole and no client sees another's accounts. Without one (operators), every
    account is listed.
    """
    rows = (
        Posting.objects.values(
            "account_id", "account__name", "account__currency", "account__kind", "account__is_system",
            "account__owner",
        )
        .annotate(debits=_debits, credits=_credits)
        .order_by()
    )
    currencies: dict[str, dict] = {}
    for row in rows.iterator(chunk_size=2000):
        currency = currencies.setdefault(row["account__currency"], {"debits": 0, "credits": 0, "accounts": {}})
        currency["debits"] += row["debits"]
        currency["credits"] += row["credits"]
        listed = owner is None or row["account__is_system"] or row["account__owner"] == owner
        key = row["account_id"] if listed else None
        line = currency["accounts"].setdefault(key, {
            "id": key,
            "name": row["account__name"] if listed else OTHER_ACCOUNTS_NAME,
            "debits": 0,
            "credits": 0,
            # The folded line holds customer accounts only: liabilities, credit-normal.
            "debit_normal": listed and row["account__kind"] in DEBIT_NORMAL_KINDS,
            "is_system": listed and row["account__is_system"],
        })
        line["debits"] += row["debits"]
        line["credits"] += row["credits"]
    summary = {}
    for code in sorted(currencies):
        currency = currencies[code]
        accounts = sorted(
            currency["accounts"].values(),
            key=lambda a: (not a["is_system"], a["id"] is None, a["name"], str(a["id"])),
        )
        summary[code] = {
            "debits": currency["debits"],
            "credits": currency["credits"],
            "accounts": [
                {
                    "id": a["id"],
                    "name": a["name"],
                    "debits": a["debits"],
                    "credits": a["credits"],
                    "balance": normal_balance(debit_normal=a["debit_normal"], debits=a["debits"], credits=a["credits"]),
                }
                for a in accounts
            ],
        }
    return {"balanced": all(c["debits"] == c["credits"] for c in summary.values()), "currencies": summary}


# --- the dashboard's pages -----------------------------------------------------------------


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


def account_currencies() -> list[str]:
    return list(Account.objects.values_list("currency", flat=True).distinct().order_by("currency"))


def transaction_postings(*, transaction: Transaction) -> list[Posting]:
    """Return a transaction's postings with their accounts, in the order they were written."""
    return list(transaction.postings.select_related("account").order_by("id"))


def reconciliation_runs(*, limit: int = 15) -> list[ReconciliationRun]:
    """Return the latest runs without their drift lists (those can be long)."""
    return list(ReconciliationRun.objects.defer("drifts").order_by("-started_at", "-id")[:limit])


def reconciliation_run_since(moment: datetime) -> ReconciliationRun | None:
    """Return the first run that started at `moment` or after it (the one a page started), if stored yet."""
    return ReconciliationRun.objects.filter(started_at__gte=moment).order_by("started_at", "id").first()

