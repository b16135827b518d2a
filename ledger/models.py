"""The ledger: accounts, balanced double-entry transactions and their postings.

Invariants (services check them first, for clear errors; the database is the last word):

1. A transaction has at least two postings and they sum to zero per currency (debits equal
   credits). PostgreSQL: a DEFERRABLE INITIALLY DEFERRED constraint trigger checks it at commit.
2. Postings and transactions are append-only: a mistake is corrected by a reversing transaction.
   PostgreSQL: triggers raise on UPDATE and DELETE.
3. A posting's amount is a positive integer in the currency's minor unit (CHECK), its direction is
   DEBIT or CREDIT (CHECK), and its currency is its account's currency (PostgreSQL trigger).
4. An account's balance lives in `AccountBalance`, a row apart from the `Account` row that postings
   reference by foreign key: locking a row that foreign keys point at deadlocks or crawls under load.
   The balance is on the account's normal side and equals the sum of its postings and the
   `balance_after` of its last posting.
5. Each account numbers its postings 1, 2, 3... with no gap (unique per account), assigned under
   the balance row's lock, so statements can page on the entry number.
6. Accounts that may not go negative (customers) never do (CHECK on the balance row), and no
   balance passes +-9 * 10^18, so 64-bit columns cannot overflow (CHECK).
7. A transaction's `reference` is unique per owner: no code path posts one business event twice.
"""

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

# A balance never passes this, so sums of a few balances still fit in 64 bits.
BALANCE_LIMIT = 9 * 10**18
# The largest amount one posting may carry (API.md: amount <= 10^15).
MAX_AMOUNT = 10**15
# The owner of system accounts and of transactions not made for an API client.
SYSTEM_OWNER = ""


class AccountKind(models.TextChoices):
    ASSET = "asset", "Asset"
    LIABILITY = "liability", "Liability"
    EQUITY = "equity", "Equity"
    REVENUE = "revenue", "Revenue"
    EXPENSE = "expense", "Expense"


DEBIT_NORMAL_KINDS = frozenset({AccountKind.ASSET, AccountKind.EXPENSE})


class Direction(models.TextChoices):
    DEBIT = "DEBIT", "Debit"
    CREDIT = "CREDIT", "Credit"


class Account(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.CharField(max_length=64, blank=True, default=SYSTEM_OWNER, db_index=True)
    name = models.CharField(max_length=64)
    currency = models.CharField(max_length=12)
    kind = models.CharField(max_length=16, choices=AccountKind.choices, default=AccountKind.LIABILITY)
    is_system = models.BooleanField(default=False)
    allow_negative = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

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


class AccountBalance(models.Model):
    """The mutable half of an account: locked FOR UPDATE and rewritten by every posting."""

    account = models.OneToOneField(
        Account, primary_key=True, on_delete=models.PROTECT, related_name="balance_row"
    )
    balance = models.BigIntegerField(default=0)
    last_entry_number = models.BigIntegerField(default=0)
    # Copied from the account so the database itself can refuse a negative customer balance.
    allow_negative = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(allow_negative=True) | Q(balance__gte=0), name="ledger_balance_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(balance__gte=-BALANCE_LIMIT) & Q(balance__lte=BALANCE_LIMIT),
                name="ledger_balance_within_limit",
            ),
            models.CheckConstraint(condition=Q(last_entry_number__gte=0), name="ledger_balance_entry_number"),
        ]

    def __str__(self) -> str:
        return f"{self.balance} (entry {self.last_entry_number})"


class Transaction(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.CharField(max_length=64, blank=True, default=SYSTEM_OWNER)
    reference = models.CharField(max_length=255)
    kind = models.CharField(max_length=32)
    description = models.CharField(max_length=500, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "reference"], name="ledger_transaction_reference_unique"),
            models.CheckConstraint(condition=~Q(reference=""), name="ledger_transaction_reference_required"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.reference}"


class Posting(models.Model):
    id = models.BigAutoField(primary_key=True)
    transaction = models.ForeignKey(Transaction, on_delete=models.PROTECT, related_name="postings")
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="postings")
    direction = models.CharField(max_length=6, choices=Direction.choices)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=12)
    entry_number = models.BigIntegerField()
    balance_after = models.BigIntegerField()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="ledger_posting_amount_positive"),
            models.CheckConstraint(
                condition=Q(direction__in=[Direction.DEBIT, Direction.CREDIT]), name="ledger_posting_direction_valid"
            ),
            models.CheckConstraint(condition=Q(entry_number__gte=1), name="ledger_posting_entry_number_positive"),
            # Statements page on (account, entry_number): this index serves them too.
            models.UniqueConstraint(fields=["account", "entry_number"], name="ledger_posting_entry_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.amount} {self.currency}"

    @property
    def signed_amount(self) -> int:
        """Debits positive, credits negative: a balanced transaction sums to zero."""
        return self.amount if self.direction == Direction.DEBIT else -self.amount


def balance_effect(*, debit_normal: bool, direction: str, amount: int) -> int:
    """Return how a posting moves a balance kept on the account's normal side."""
    return amount if (direction == Direction.DEBIT) == debit_normal else -amount



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

    def __str__(self) -> str:
        outcome = "clean" if self.ok else f"{self.drift_count} drift(s)"
        return f"reconciliation {self.started_at:%Y-%m-%d %H:%M:%S} {outcome}"
