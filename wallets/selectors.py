"""Reads of wallets: balances per user, wallet holds, the wallet's view of a ledger transaction, the dashboard."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import QuerySet

from ledger.exceptions import HoldNotFound
from ledger.models import Posting, Transaction, active_held_sum, bucket_sum
from mintguard_site.search import created_between, ordering

from .exceptions import WalletNotFound
from .models import Wallet, WalletHold


@dataclass(frozen=True)
class WalletIds:
    """What a top-up or spend needs of a wallet: its id (for the transaction's metadata) and its account."""

    id: UUID
    account_id: UUID


@dataclass(frozen=True)
class WalletTransaction:
    """A top-up, bonus or spend (a captured hold too) as the wallet sees it: the ledger transaction and its
    wallet posting."""

    id: UUID
    reference_id: str
    type: str
    user_id: str
    amount: int
    currency: str
    balance_after: int
    created_at: datetime


@dataclass(frozen=True)
class WalletAccount:
    id: UUID
    name: str
    currency: str
    balance: int
    available: int  # the balance less what the wallet's active holds reserve


@dataclass(frozen=True)
class WalletBalances:
    user_id: str
    accounts: list[WalletAccount] = field(default_factory=list)

    def _per_currency(self, amount: str) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for account in self.accounts:
            totals[account.currency] += getattr(account, amount)
        return dict(sorted(totals.items()))

    @property
    def totals(self) -> dict[str, int]:
        return self._per_currency("balance")

    @property
    def available_totals(self) -> dict[str, int]:
        return self._per_currency("available")

    @property
    def total_balance(self) -> int | None:
        """The balance when the user holds exactly one currency; amounts of two currencies never add up."""
        totals = self.totals
        return next(iter(totals.values())) if len(totals) == 1 else None


# Every top-up and spend starts here: raw SQL, as compiling the ORM query cost more than the index
# lookup (the unique index on (owner, user_id, currency)). The table is quoted as Django quotes it, so
# query logs and tests/perf name it the same way.
WALLET_FIND_SQL = 'SELECT id, account_id FROM "wallets_wallet" WHERE owner = %s AND user_id = %s AND currency = %s'


def wallet_find(*, owner: str, user_id: str, currency: str) -> WalletIds | None:
    """Return the user's wallet in this currency under this API client, or None: one indexed read."""
    with connection.cursor() as cursor:
        cursor.execute(WALLET_FIND_SQL, [owner, user_id, currency])
        row = cursor.fetchone()
    # The uuid field reads either database's form (a UUID on PostgreSQL, 32 hex digits on SQLite).
    as_uuid = Wallet._meta.pk.to_python
    return None if row is None else WalletIds(id=as_uuid(row[0]), account_id=as_uuid(row[1]))


def wallet_balances(*, user_id: str, owner: str | None) -> WalletBalances:
    """Return the user's wallets with their balances, or raise WalletNotFound.

    `owner` None (an operator) sees the user's wallets under every API client.
    """
    wallets = Wallet.objects.filter(user_id=user_id).select_related("account").annotate(
        balance=bucket_sum("account_id"), held=active_held_sum("account_id"))
    if owner is not None:
        wallets = wallets.filter(owner=owner)
    wallets = list(wallets.order_by("currency", "owner"))
    if not wallets:
        raise WalletNotFound(f"User {user_id[:64]!r} has no wallet.")
    return WalletBalances(
        user_id=user_id,
        accounts=[
            WalletAccount(
                id=wallet.account.id,
                name=wallet.account.name,
                currency=wallet.currency,
                balance=wallet.balance,
                available=wallet.balance - wallet.held,
            )
            for wallet in wallets
        ],
    )


def wallet_transaction(*, user_id: str, wallet: WalletIds, txn: Transaction) -> WalletTransaction:
    """Describe a ledger transaction from the side of the wallet it moved money in or out of.

    Nothing is read back: the wallet's posting is in memory when the transaction was just posted,
    and its `balance_after` is the wallet's balance, as a wallet's account (a customer account)
    keeps its whole balance in one bucket. The client's reference_id is the transaction's
    reference, but for a captured hold's spend, whose reference is the ledger's (`hold:<id>`):
    that one carries the hold's reference_id in its metadata.
    """
    posting = next(p for p in txn.legs if p.account_id == wallet.account_id)
    return WalletTransaction(
        id=txn.id,
        reference_id=txn.metadata.get("reference_id", txn.reference),
        type=txn.kind,
        user_id=user_id,
        amount=posting.amount,
        currency=posting.currency,
        balance_after=posting.balance_after,
        created_at=txn.created_at,
    )


def wallet_hold_get(*, hold_id, owner: str | None) -> WalletHold:
    """Return a wallet's hold with its wallet, or raise HoldNotFound (also for another owner's, or a hold
    no wallet placed). `owner` None (an operator) sees every client's."""
    holds = WalletHold.objects.select_related("wallet")
    if owner is not None:
        holds = holds.filter(owner=owner)
    try:
        return holds.get(pk=hold_id)
    except (WalletHold.DoesNotExist, ValueError, TypeError, ValidationError):
        raise HoldNotFound(f"Hold {str(hold_id)[:64]} does not exist.") from None


def wallet_hold_find(*, owner: str, reference_id: str) -> WalletHold | None:
    """Return the client's wallet hold of this reference_id, with its ledger hold, or None."""
    return WalletHold.objects.select_related("hold").filter(owner=owner, reference_id=reference_id).first()


# --- the dashboard's page ------------------------------------------------------------------


def wallet_movements(*, account_ids, limit: int = 25) -> list[Posting]:
    """Return the latest postings on these wallet accounts, newest first, with their transactions."""
    return list(
        Posting.objects.filter(account_id__in=list(account_ids))
        .select_related("transaction", "account")
        .order_by("-transaction__created_at", "-id")[:limit]
    )


def wallets_search(
    *, q: str = "", currency: str = "", created_from=None, created_to=None, sort: str = "-created",
) -> QuerySet:
    """Return every wallet with its account and balance, in `sort` order (the dashboard pages it);
    `q` matches part of the user id."""
    wallets = Wallet.objects.select_related("account").annotate(balance=bucket_sum("account_id"))
    if q:
        wallets = wallets.filter(user_id__icontains=q)
    if currency:
        wallets = wallets.filter(currency=currency)
    return wallets.filter(created_between(created_from, created_to)).order_by(*ordering(sort, amount="balance"))


def wallet_currencies() -> list[str]:
    return list(Wallet.objects.values_list("currency", flat=True).distinct().order_by("currency"))
