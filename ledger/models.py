"""The ledger: accounts, balanced double-entry transactions and their postings.

Invariants (services check them first, for clear errors; the database is the last word). On
PostgreSQL the checks of 1, 5, 6, 7 and 8 run inside the posting function `ledger_post`
(migrations 0006, 0007: one round trip per posting); elsewhere `ledger.engine_python` runs the same
checks through the ORM, and a differential test keeps the two identical:

1. A transaction has at least two postings and they sum to zero per currency (debits equal
   credits). PostgreSQL: a DEFERRABLE INITIALLY DEFERRED constraint trigger checks it at commit.
2. Postings and transactions are append-only: a mistake is corrected by a reversing transaction.
   PostgreSQL: triggers raise on UPDATE and DELETE.
3. A posting's amount is a positive integer in the currency's minor unit (CHECK), its direction is
   DEBIT or CREDIT (CHECK), and its currency is its account's currency (PostgreSQL trigger).
4. An account's balance lives in `BalanceBucket` rows, apart from the `Account` row that postings
   reference by foreign key: locking a row that foreign keys point at deadlocks or crawls under load.
   The balance, on the account's normal side, is the sum of its buckets. Customer accounts have
   exactly one bucket (CHECK: only accounts that may go negative have more); system accounts have
   several, so traffic that all touches one of them spreads over several row locks.
5. Each bucket numbers its postings 1, 2, 3... with no gap (unique per account and bucket),
   assigned under the bucket's lock; a bucket's balance equals the sum of its postings and the
   `balance_after` of its last one. A customer account's entries are thus numbered per account,
   and statements page on the entry number (per bucket, for system accounts).
6. Accounts that may not go negative (customers) never do (CHECK on the bucket), and no
   bucket passes +-9 * 10^18, so 64-bit columns cannot overflow (CHECK).
7. A transaction's `reference` is unique per (owner, namespace): no code path posts one business
   event twice. References a client chooses (idempotency keys, wallet `reference_id`s) live in the
   `client` namespace, those our code derives (`payment:<id>`, `refund:<id>`) in `system`, so no
   client value can take a system reference and block its posting.
8. An account opened by another app for its own purposes (a wallet's account) says so in
   `managed_by`; the generic deposit, withdrawal and transfer services refuse to move it, so its
   money moves only through that app.
9. A hold reserves money on a customer account without moving it. A customer's `available` is its
   balance minus its active holds (status HELD and `expires_at` still ahead: a hold reserves
   nothing from the instant it expires, whoever tidies its status later), and no debit or new hold
   takes `available` below 0. The bucket's `held` is the sum of its account's HELD holds, kept
   under the bucket's lock by the hold services; both engines read it under the same lock and, when
   it is not 0, sum the active holds by the (source account, expires_at) index. A captured hold has
   exactly one transaction, of `captured_amount`: reference `hold:<id>` in the system namespace.
10. A client's own deposit, withdrawal or transfer may be reversed, once: a transaction of kind
   `reversal` with the exact opposite legs, reference `reversal:<original id>` in the system
   namespace, owned by the original's owner, and a `Reversal` row linking the two. The row's primary
   key is the original, so a second reversal fails on the unique index whatever races above it;
   PostgreSQL: the row is append-only like the transactions it links.
11. A posting's `posted_at` is its transaction's `created_at`, read by the engine after it took the
   bucket locks, so within a bucket `posted_at` never decreases as entry numbers grow. The balance
   as of an instant T is thus, per bucket, the `balance_after` of its last posting at or before T
   (one probe of the (account, bucket, posted_at, entry_number) index), never a sum over history.
"""

import uuid

from django.db import models
from django.db.models import OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Now
from django.utils import timezone
from django.utils.functional import cached_property

# A balance never passes this, so sums of a few balances still fit in 64 bits.
BALANCE_LIMIT = 9 * 10**18
# The owner of system accounts and of transactions not made for an API client.
SYSTEM_OWNER = ""


class AccountKind(models.TextChoices):
    ASSET = "asset", "Asset"
    LIABILITY = "liability", "Liability"
    EQUITY = "equity", "Equity"
    REVENUE = "revenue", "Revenue"
    EXPENSE = "expense", "Expense"


DEBIT_NORMAL_KINDS = frozenset({AccountKind.ASSET, AccountKind.EXPENSE})


class AccountManagedBy(models.TextChoices):
    """Which app alone moves an account's money: none (plain accounts) or the wallets app."""

    NONE = "", "None"
    WALLET = "wallet", "Wallet"


class ReferenceNamespace(models.TextChoices):
    """Whose reference a transaction carries: a value the client chose, or one our code derived."""

    CLIENT = "client", "Client"
    SYSTEM = "system", "System"


class Direction(models.TextChoices):
    DEBIT = "DEBIT", "Debit"
    CREDIT = "CREDIT", "Credit"


def bucket_sum(account_ref: str = "pk", field: str = "balance") -> Coalesce:
    """An expression for the sum of `field` over an account's balance buckets: its balance, or
    with "last_entry_number" its posting count. `account_ref` leads from the queried model to the
    account ("pk" on Account, "account_id" on a wallet).
    """
    buckets = BalanceBucket.objects.filter(account=OuterRef(account_ref)).order_by().values("account")
    total = Subquery(buckets.annotate(total=Sum(field)).values("total"), output_field=models.BigIntegerField())
    return Coalesce(total, Value(0), output_field=models.BigIntegerField())


class AccountQuerySet(models.QuerySet):
    def with_balance(self) -> "AccountQuerySet":
        """Annotate `balance`, `available` (balance less active holds) and `entry_count` (postings so far)."""
        return self.annotate(balance=bucket_sum(), entry_count=bucket_sum(field="last_entry_number"),
                             available=bucket_sum() - active_held_sum())


class Account(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.CharField(max_length=64, blank=True, default=SYSTEM_OWNER, db_index=True)
    name = models.CharField(max_length=64)
    currency = models.CharField(max_length=12)
    kind = models.CharField(max_length=16, choices=AccountKind.choices, default=AccountKind.LIABILITY)
    is_system = models.BooleanField(default=False)
    allow_negative = models.BooleanField(default=False)
    # Blank for plain accounts; set once, when the managing app opens the account.
    managed_by = models.CharField(max_length=16, choices=AccountManagedBy.choices, blank=True,
                                  default=AccountManagedBy.NONE)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = AccountQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["name", "currency"], condition=Q(is_system=True), name="ledger_account_system_unique"
            ),
            # Customer accounts are liabilities that may never go negative.
            models.CheckConstraint(
                condition=Q(is_system=True) | Q(allow_negative=False), name="ledger_account_customer_not_negative"
            ),
        ]
        indexes = [models.Index(fields=["owner", "-created_at", "-id"], name="ledger_account_owner_recent")]

    def __str__(self) -> str:
        return f"{self.name} ({self.currency})"

    @property
    def debit_normal(self) -> bool:
        return self.kind in DEBIT_NORMAL_KINDS

    # Read from the buckets unless `Account.objects.with_balance()` annotated them already.
    @cached_property
    def balance(self) -> int:
        return self.balance_buckets.aggregate(total=Sum("balance"))["total"] or 0

    @cached_property
    def entry_count(self) -> int:
        return self.balance_buckets.aggregate(total=Sum("last_entry_number"))["total"] or 0

    @cached_property
    def available(self) -> int:
        """The balance less what active holds reserve: what a debit or a new hold may take."""
        active = Hold.objects.active().filter(source_account=self).aggregate(total=Sum("amount"))["total"] or 0
        return self.balance - active


class BalanceBucket(models.Model):
    """A share of an account's balance: locked FOR UPDATE and rewritten by every posting to it.

    Customer accounts have one bucket (number 0), so their balance, overdraft check and entry
    numbers live under one lock. System accounts may go negative, need no overdraft check, and have
    several: each transaction picks one at random, so every top-up debiting treasury no longer
    queues on one row.
    """

    id = models.BigAutoField(primary_key=True)
    # The (account, bucket) unique index serves lookups by account: no second index.
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="balance_buckets", db_index=False)
    bucket = models.PositiveSmallIntegerField(default=0)
    balance = models.BigIntegerField(default=0)
    last_entry_number = models.BigIntegerField(default=0)
    # Copied from the account so the database itself can refuse a negative customer balance.
    allow_negative = models.BooleanField(default=False)
    # The sum of the account's HELD holds (invariant 9): 0 lets a posting skip looking at holds.
    held = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "bucket"], name="ledger_balance_bucket_unique"),
            # An account that may not go negative keeps its whole balance in one row, under one lock.
            models.CheckConstraint(condition=Q(allow_negative=True) | Q(bucket=0), name="ledger_balance_one_bucket"),
            models.CheckConstraint(
                condition=Q(allow_negative=True) | Q(balance__gte=0), name="ledger_balance_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(balance__gte=-BALANCE_LIMIT) & Q(balance__lte=BALANCE_LIMIT),
                name="ledger_balance_within_limit",
            ),
            models.CheckConstraint(condition=Q(last_entry_number__gte=0), name="ledger_balance_entry_number"),
            models.CheckConstraint(condition=Q(held__gte=0) & Q(held__lte=BALANCE_LIMIT), name="ledger_balance_held"),
        ]

    def __str__(self) -> str:
        return f"bucket {self.bucket}: {self.balance} (entry {self.last_entry_number})"


class Transaction(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.CharField(max_length=64, blank=True, default=SYSTEM_OWNER)
    # No default: every posting says whose reference it is (`transaction_post(namespace=...)`).
    namespace = models.CharField(max_length=6, choices=ReferenceNamespace.choices)
    reference = models.CharField(max_length=255)
    kind = models.CharField(max_length=32)
    description = models.CharField(max_length=500, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)

    class Meta:
        # Which transaction reverses which is a `Reversal` row (invariant 10).
        permissions = [("reverse_transaction", "Can reverse a transaction")]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "namespace", "reference"], name="ledger_transaction_reference_unique"
            ),
            models.CheckConstraint(condition=~Q(reference=""), name="ledger_transaction_reference_required"),
            models.CheckConstraint(
                condition=Q(namespace__in=ReferenceNamespace.values), name="ledger_transaction_namespace_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.reference}"

    @cached_property
    def legs(self) -> list["Posting"]:
        """This transaction's postings. The engine that posted it fills this with the postings it
        wrote (each with its `account` attached), so rendering a fresh posting costs no query;
        a transaction read back from the database loads them once, on first use."""
        return list(self.postings.all())


REVERSAL_REFERENCE_PREFIX = "reversal:"


class Reversal(models.Model):
    """`reversal` posts the exact opposite legs of `original` (invariant 10).

    Written in the reversal's own transaction, right after its posting (the posting function inserts
    the transaction row, and transactions are append-only, so the link cannot be a column set later).
    `original` is the primary key: that unique index is what makes a second reversal impossible.
    """

    original = models.OneToOneField(Transaction, on_delete=models.PROTECT, primary_key=True,
                                    related_name="reversed_by")
    reversal = models.OneToOneField(Transaction, on_delete=models.PROTECT, related_name="reverses")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(original=models.F("reversal")), name="ledger_reversal_not_itself"),
        ]

    def __str__(self) -> str:
        return f"{self.reversal_id} reverses {self.original_id}"


class Posting(models.Model):
    id = models.BigAutoField(primary_key=True)
    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="postings")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="postings")
    direction = models.CharField(max_length=6, choices=Direction.choices)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=12)
    # The balance bucket the posting moved (always 0 for customer accounts), its entry number
    # there, and that bucket's balance after it.
    bucket = models.PositiveSmallIntegerField(default=0)
    entry_number = models.BigIntegerField()
    balance_after = models.BigIntegerField()
    # When the posting counts in its account's history (invariant 11): its transaction's
    # `created_at`, read after the bucket locks. The database default serves rows written by hand.
    posted_at = models.DateTimeField(default=timezone.now, db_default=Now())

    class Meta:
        # "The last posting of this bucket at or before T" (balances as of T): one index probe.
        indexes = [models.Index(fields=["account", "bucket", "posted_at", "entry_number"],
                                name="ledger_posting_as_of")]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="ledger_posting_amount_positive"),
            models.CheckConstraint(
                condition=Q(direction__in=[Direction.DEBIT, Direction.CREDIT]), name="ledger_posting_direction_valid"
            ),
            models.CheckConstraint(condition=Q(entry_number__gte=1), name="ledger_posting_entry_number_positive"),
            # Statements page on (account, bucket, entry_number): this index serves them too.
            models.UniqueConstraint(fields=["account", "bucket", "entry_number"], name="ledger_posting_entry_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.amount} {self.currency}"


def balance_effect(*, debit_normal: bool, direction: str, amount: int) -> int:
    """Return how a posting moves a balance kept on the account's normal side."""
    return amount if (direction == Direction.DEBIT) == debit_normal else -amount


def normal_balance(*, debit_normal: bool, debits: int, credits: int) -> int:
    """Return the balance, on the account's normal side, that these debit and credit totals make."""
    return debits - credits if debit_normal else credits - debits


class HoldStatus(models.TextChoices):
    HELD = "HELD", "Held"
    CAPTURED = "CAPTURED", "Captured"
    VOIDED = "VOIDED", "Voided"
    EXPIRED = "EXPIRED", "Expired"


CAPTURE_REFERENCE_PREFIX = "hold:"


class HoldQuerySet(models.QuerySet):
    def active(self, now=None) -> "HoldQuerySet":
        """Holds that reserve money now: HELD, and not yet past `expires_at`."""
        return self.filter(status=HoldStatus.HELD, expires_at__gt=now or timezone.now())


def active_held_sum(account_ref: str = "pk") -> Coalesce:
    """An expression for what an account's active holds reserve (0 without any)."""
    holds = (Hold.objects.active().filter(source_account=OuterRef(account_ref)).order_by()
             .values("source_account"))
    total = Subquery(holds.annotate(total=Sum("amount")).values("total"), output_field=models.BigIntegerField())
    return Coalesce(total, Value(0), output_field=models.BigIntegerField())


class Hold(models.Model):
    """Money reserved on a customer account for a later transfer to `destination_account` (invariant 9).

    A hold ends once: CAPTURED (one transfer of `captured_amount`, the rest released), VOIDED, or
    EXPIRED. A HELD hold past `expires_at` already reserves nothing; the expiry job only records it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.CharField(max_length=64, blank=True, default=SYSTEM_OWNER)
    source_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="holds", db_index=False)
    destination_account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+")
    amount = models.BigIntegerField()
    captured_amount = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=12)
    status = models.CharField(max_length=8, choices=HoldStatus.choices, default=HoldStatus.HELD)
    description = models.CharField(max_length=500, blank=True, default="")
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = HoldQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0) & Q(amount__lte=BALANCE_LIMIT),
                                   name="ledger_hold_amount_positive"),
            models.CheckConstraint(condition=Q(captured_amount__gte=0) & Q(captured_amount__lte=models.F("amount")),
                                   name="ledger_hold_captured_within_amount"),
            models.CheckConstraint(condition=Q(status__in=HoldStatus.values), name="ledger_hold_status_valid"),
            models.CheckConstraint(condition=~Q(source_account=models.F("destination_account")),
                                   name="ledger_hold_not_to_itself"),
            # Only a captured hold has moved money, and then some.
            models.CheckConstraint(
                condition=Q(status=HoldStatus.CAPTURED, captured_amount__gt=0)
                | (~Q(status=HoldStatus.CAPTURED) & Q(captured_amount=0)),
                name="ledger_hold_capture_recorded",
            ),
            models.CheckConstraint(condition=Q(status=HoldStatus.HELD) | Q(finished_at__isnull=False),
                                   name="ledger_hold_finished_at"),
        ]
        indexes = [
            # What reserves money on an account, and what the expiry job visits: HELD holds by expiry.
            models.Index(fields=["source_account", "expires_at"], condition=Q(status=HoldStatus.HELD),
                         name="ledger_hold_held_by_account"),
            models.Index(fields=["expires_at"], condition=Q(status=HoldStatus.HELD), name="ledger_hold_held_by_expiry"),
            models.Index(fields=["owner", "-created_at", "-id"], name="ledger_hold_owner_recent"),
        ]
        permissions = [("void_hold", "Can void a hold")]

    def __str__(self) -> str:
        return f"hold {self.amount} {self.currency} ({self.current_status})"

    @property
    def capture_reference(self) -> str:
        """The system reference of the hold's one capture transaction: a hold is captured once."""
        return f"{CAPTURE_REFERENCE_PREFIX}{self.id}"

    @property
    def current_status(self) -> str:
        """The status as of now: a HELD hold past `expires_at` is EXPIRED, visited or not."""
        if self.status == HoldStatus.HELD and self.expires_at <= timezone.now():
            return HoldStatus.EXPIRED
        return self.status


class ReconciliationRun(models.Model):
    """One run of the reconciliation checks: when, how long, and every drift found (capped).

    `drift_count` counts every drift; `drifts` keeps the first MINTGUARD_RECONCILIATION_MAX_DRIFTS
    of them as machine records ({check, message, account_id, transaction_id, currency, expected,
    actual}), so a ledger in ruins cannot make one row unbounded.
    """

    id = models.BigAutoField(primary_key=True)
    started_at = models.DateTimeField(db_index=True)
    finished_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    ok = models.BooleanField()
    drift_count = models.PositiveBigIntegerField(default=0)
    drifts_truncated = models.BooleanField(default=False)
    checks = models.JSONField(default=list, help_text="[{name, drift_count, duration_ms}] in the order they ran")
    drifts = models.JSONField(default=list)

    class Meta:
        ordering = ["-started_at", "-id"]
        permissions = [("run_reconciliation", "Can run a reconciliation")]

    def __str__(self) -> str:
        outcome = "clean" if self.ok else f"{self.drift_count} drift(s)"
        return f"reconciliation {self.started_at:%Y-%m-%d %H:%M:%S} {outcome}"
