"""Reads of the ledger that are more than a `.get()`: statements, integrity checks, and the
dashboard's pages (the API's list of accounts is `accounts_page`; the dashboard's, searched and
counted, is `searches.accounts_search`).

The integrity checks aggregate in SQL and stream their rows, so they run in bounded memory on
ledgers of any size. Reconciliation builds on them.
"""

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
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
    *, account: Account, limit: int, before: list | None = None, window: "StatementWindow | None" = None
) -> tuple[list[Posting], list | None]:
    """Return up to `limit` postings of the account, newest first, and the position of the next page.

    With a `window` (`statement_window`), only the postings within it.

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
        if window is not None:
            postings = window.within(postings, bucket)
        streams.append(list(postings.select_related("transaction").order_by("-entry_number")[:limit + 1]))
    page = list(islice(heapq.merge(*streams, key=_posted_at, reverse=True), limit))
    position, taken = list(before), [0] * buckets
    for posting in page:
        position[posting.bucket], taken[posting.bucket] = posting.entry_number, taken[posting.bucket] + 1
    more = any(count < len(stream) for count, stream in zip(taken, streams, strict=True))
    return page, position if more else None


def _posted_at(posting: Posting) -> tuple:
    return posting.transaction.created_at, posting.pk


# An account's statement as CSV: every posting, oldest first, read a chunk at a time.
STATEMENT_CSV_HEADER = (
    "posted_at", "transaction_id", "kind", "reference", "description", "direction", "amount", "currency",
    "balance_after", "bucket", "entry_number",
)
STATEMENT_EXPORT_CHUNK = 2000


def statement_export_rows(
    *, account: Account, posted_from: datetime | None = None, posted_to: datetime | None = None,
    chunk_size: int = STATEMENT_EXPORT_CHUNK,
) -> Iterator[tuple]:
    """Return the account's postings posted from `posted_from` to `posted_to` (both included, either
    optional), oldest first, as rows of `STATEMENT_CSV_HEADER` (amounts in minor units).

    The window is a run of entry numbers per bucket (`statement_window`, fixed when this is called:
    what is posted while the rows stream is left for the next download). Each bucket is read in
    entry order by the (account, bucket, entry_number) index a chunk at a time, so memory stays flat
    for any length of history; a system account's buckets are merged by posting time.
    """
    window = statement_window(account=account, start=posted_from, end=posted_to)
    runs = sorted((bucket, after, through) for bucket, (after, through) in window.entries.items() if through > after)
    per_bucket = max(1, chunk_size // max(1, len(runs)))  # the buckets' chunks together: about one chunk
    streams = [
        _bucket_postings(account=account, bucket=bucket, after=after, through=through, chunk_size=per_bucket)
        for bucket, after, through in runs
    ]
    postings = streams[0] if len(streams) == 1 else heapq.merge(*streams, key=lambda row: (row[1], row[2]))
    return (_statement_csv_row(row) for row in postings)


def _bucket_postings(*, account: Account, bucket: int, after: int, through: int, chunk_size: int) -> Iterator[tuple]:
    """Yield one bucket's postings numbered after `after` up to `through`, by keyset pages of `chunk_size`."""
    postings = Posting.objects.filter(account=account, bucket=bucket).order_by("entry_number").values_list(
        "entry_number", "posted_at", "id", "transaction_id", "transaction__kind", "transaction__reference",
        "transaction__description", "direction", "amount", "currency", "balance_after", "bucket",
    )
    while after < through:
        chunk = list(postings.filter(entry_number__gt=after, entry_number__lte=through)[:chunk_size])
        if not chunk:
            return
        yield from chunk
        after = chunk[-1][0]


def _statement_csv_row(row: tuple) -> tuple:
    entry_number, posted_at, _, transaction_id, *middle, bucket = row
    return (posted_at.astimezone(UTC).isoformat(), str(transaction_id), *middle, bucket, entry_number)


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



# --- history: balances at an instant (model invariant 11) --------------------------------------


def _last_postings(*, account_id, instant: datetime, inclusive: bool = True):
    """The postings of the outer query's bucket at or before `instant` (strictly before, not
    `inclusive`), last first: `[:1]` of it is one probe of the as-of index."""
    moment = Q(posted_at__lte=instant) if inclusive else Q(posted_at__lt=instant)
    return (Posting.objects.filter(moment, account_id=account_id, bucket=OuterRef("bucket"))
            .order_by("-posted_at", "-entry_number"))


def _bucket_edges(*, account: Account, instant: datetime, inclusive: bool) -> dict[int, tuple[int, int]]:
    """Per bucket: (entry number, balance_after) of its last posting at (or before) `instant`; a
    bucket with none then is left out. One query, one index probe per bucket."""
    last = _last_postings(account_id=account.pk, instant=instant, inclusive=inclusive)
    rows = (BalanceBucket.objects.filter(account_id=account.pk)
            .annotate(entry=Subquery(last.values("entry_number")[:1]),
                      after=Subquery(last.values("balance_after")[:1]))
            .values_list("bucket", "entry", "after"))
    return {bucket: (entry, after) for bucket, entry, after in rows if entry is not None}


def account_balance_as_of(*, account: Account, as_of: datetime) -> int:
    """Return the account's balance, on its normal side, as it stood at `as_of` (0 before its first posting).

    The sum over its buckets of the `balance_after` of each one's last posting at or before `as_of`:
    one index probe per bucket, however long the history. A transaction counts from the instant it
    took its balance locks (`posted_at`); see ARCHITECTURE.md for one still committing at `as_of`.
    """
    last = _last_postings(account_id=account.pk, instant=as_of).values("balance_after")[:1]
    balances = BalanceBucket.objects.filter(account_id=account.pk).annotate(after=Subquery(last))
    return sum(after for after in balances.values_list("after", flat=True) if after is not None)


def account_held_as_of(*, account: Account, as_of: datetime) -> int:
    """Return what the account's holds reserved at `as_of`: each from its creation until it expired,
    was captured or was voided, whichever came first."""
    holds = Hold.objects.filter(source_account_id=account.pk, created_at__lte=as_of, expires_at__gt=as_of).filter(
        Q(finished_at__isnull=True) | Q(finished_at__gt=as_of))
    return holds.aggregate(total=Sum("amount"))["total"] or 0


@dataclass(frozen=True)
class StatementWindow:
    """The part of a statement posted from `start` to `end` (both included, either open): per
    bucket, the entry numbers it spans, and the balance just before it and at its end."""

    start: datetime | None
    end: datetime | None
    opening_balance: int
    closing_balance: int
    # bucket -> (entries after this number, up to this one); a bucket missing here has none in it.
    entries: dict[int, tuple[int, int]]

    def within(self, postings, bucket: int):
        """Limit one bucket's postings to the window, by entry number (the statement's own index)."""
        after, through = self.entries.get(bucket, (0, 0))
        return postings.filter(entry_number__gt=after, entry_number__lte=through)


def statement_window(*, account: Account, start: datetime | None = None, end: datetime | None = None
                     ) -> StatementWindow:
    """Return the window of the account's statement from `start` to `end`, both included.

    Within a bucket posting times follow entry numbers (invariant 11), so a window is a run of
    entry numbers: its edges are found by the as-of index and the statement then pages on entry
    numbers as always. Without `start` it opens at 0; without `end` it closes at the last posting
    now. `start` after `end` is an empty window whose closing balance is its opening one.
    """
    if end is None:
        closing = {bucket: (last_entry, balance) for bucket, last_entry, balance in
                   account.balance_buckets.values_list("bucket", "last_entry_number", "balance") if last_entry}
    else:
        closing = _bucket_edges(account=account, instant=end, inclusive=True)
    opening = {} if start is None else _bucket_edges(account=account, instant=start, inclusive=False)
    if start is not None and end is not None and start > end:
        closing = opening
    entries = {bucket: (opening.get(bucket, (0, 0))[0], through) for bucket, (through, _) in closing.items()}
    return StatementWindow(start=start, end=end, opening_balance=sum(after for _, after in opening.values()),
                           closing_balance=sum(after for _, after in closing.values()), entries=entries)


@dataclass(frozen=True)
class TrialBalanceRow:
    """One account on the trial balance: its net debit or net credit, and its balance on its normal side.

    `id` is None for the line that folds other API clients' accounts together.
    """

    id: UUID | None
    name: str
    debits: int
    credits: int
    balance: int
    is_system: bool = False


@dataclass(frozen=True)
class CurrencyTrialBalance:
    debits: int
    credits: int
    accounts: list[TrialBalanceRow]

    @property
    def balanced(self) -> bool:
        return self.debits == self.credits


@dataclass(frozen=True)
class TrialBalance:
    as_of: datetime
    balanced: bool  # total debits equal total credits in every currency
    currencies: dict[str, CurrencyTrialBalance]


TRIAL_BALANCE_CSV_HEADER = ("currency", "account_id", "name", "debits", "credits", "balance")


def trial_balance(*, as_of: datetime | None = None, currency: str | None = None, owner: str | None = None
                  ) -> TrialBalance:
    """Return every account's balance at `as_of` (now without it), in the debit or credit column.

    An account's net debit (debits less credits posted) goes in `debits` when positive, its net
    credit in `credits`; `balance` is on its normal side. Accounts with no posting by then are left
    out. One query: at an instant, per bucket the `balance_after` of its last posting at or before it
    (one index probe each), summed per account; now, the buckets' balances themselves. With an
    `owner` (an API client), other clients' accounts fold into one `other_clients_accounts` line
    per currency, as in `ledger_summary`, so the totals stay whole and no client sees another's.
    """
    buckets = BalanceBucket.objects.all()
    if currency is not None:
        buckets = buckets.filter(account__currency=currency)
    if as_of is None:
        as_of = timezone.now()
        buckets = buckets.filter(last_entry_number__gt=0).annotate(moment_balance=F("balance"))
    else:
        last = _last_postings(account_id=OuterRef("account_id"), instant=as_of).values("balance_after")[:1]
        buckets = buckets.annotate(moment_balance=Subquery(last, output_field=BigIntegerField()))
    rows = (buckets.values("account_id", "account__name", "account__currency", "account__kind",
                           "account__is_system", "account__owner")
            .annotate(balance=Sum("moment_balance")).order_by())
    books: dict[str, dict] = {}
    for row in rows.iterator(chunk_size=2000):
        if row["balance"] is None:  # no posting by then
            continue
        listed = owner is None or row["account__is_system"] or row["account__owner"] == owner
        key = row["account_id"] if listed else None
        lines = books.setdefault(row["account__currency"], {})
        line = lines.setdefault(key, {
            "name": row["account__name"] if listed else OTHER_ACCOUNTS_NAME, "net_debit": 0,
            "debit_normal": listed and row["account__kind"] in DEBIT_NORMAL_KINDS,  # folded: customers, credit-normal
            "is_system": listed and row["account__is_system"],
        })
        line["net_debit"] += row["balance"] if row["account__kind"] in DEBIT_NORMAL_KINDS else -row["balance"]
    currencies = {}
    for code in sorted(books):
        accounts = [
            TrialBalanceRow(id=key, name=line["name"], debits=max(line["net_debit"], 0),
                            credits=max(-line["net_debit"], 0), is_system=line["is_system"],
                            balance=line["net_debit"] if line["debit_normal"] else -line["net_debit"])
            for key, line in books[code].items()
        ]
        accounts.sort(key=lambda a: (not a.is_system, a.id is None, a.name, str(a.id)))
        currencies[code] = CurrencyTrialBalance(debits=sum(a.debits for a in accounts),
                                                credits=sum(a.credits for a in accounts), accounts=accounts)
    return TrialBalance(as_of=as_of, balanced=all(c.balanced for c in currencies.values()), currencies=currencies)


def trial_balance_csv_rows(tb: TrialBalance) -> Iterator[tuple]:
    """Yield the trial balance as rows of TRIAL_BALANCE_CSV_HEADER: one per account and currency."""
    for code, book in tb.currencies.items():
        for account in book.accounts:
            yield (code, "" if account.id is None else str(account.id), account.name, account.debits,
                   account.credits, account.balance)
