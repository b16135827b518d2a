"""Every write to wallets. Each money movement is ONE `transaction_post` on the ledger:

- top-up: DR treasury / CR wallet (money the platform received for the user),
- bonus:  DR bonus_expense / CR wallet (marketing pays),
- spend:  DR wallet / CR revenue.

The transaction's `reference` is the client's `reference_id`, in the client's namespace and unique
per API client in the database, so no code path posts one wallet operation twice. A wallet's
account is opened as managed by the wallets app: the generic account routes refuse to move it.
Locks are the ledger's alone (balance buckets, in order); this app takes none.
"""

import uuid

from django.db import connection
from django.utils import timezone

from ledger.currencies import amount_check, validate_currency
from ledger.exceptions import InsufficientFunds
from ledger.models import (
    AccountManagedBy,
    Direction,
    ReferenceNamespace,
)
from ledger.services import Leg, account_create, joins_transaction, system_account_id, transaction_post

from . import selectors
from .models import Wallet
from .selectors import WalletIds, WalletTransaction

ACCOUNT_NAME_MAX = 64

# ON CONFLICT on the wallet's unique (owner, user_id, currency): on PostgreSQL a concurrent first top-up
# of the same wallet waits for the first one's commit, then inserts nothing and raises nothing, so no
# savepoint is needed (SQLite's IMMEDIATE transactions never race here: writers queue at BEGIN).
WALLET_OPEN_SQL = (
    'INSERT INTO "wallets_wallet" (id, owner, user_id, currency, account_id, created_at) '
    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (owner, user_id, currency) DO NOTHING"
)


def wallet_account_name(user_id: str) -> str:
    """Name the wallet's ledger account for people reading the ledger; it fits the 64-char column."""
    name = f"wallet:{user_id}"
    return name if len(name) <= ACCOUNT_NAME_MAX else name[: ACCOUNT_NAME_MAX - 1] + "…"


def wallet_get_or_create(*, owner: str, user_id: str, currency: str) -> WalletIds:
    """Return the user's wallet in this currency, opening it (and its ledger account) if missing.

    An open wallet costs one indexed read; a first top-up adds three inserts. Safe when two first
    top-ups race: the loser inserts nothing, opens no account, and reads the winner's wallet.
    """
    wallet = selectors.wallet_find(owner=owner, user_id=user_id, currency=currency)
    if wallet is None:
        wallet = _wallet_open(owner=owner, user_id=user_id, currency=currency)
    if wallet is None:  # the winner has committed: READ COMMITTED sees its wallet in the next statement
        wallet = selectors.wallet_find(owner=owner, user_id=user_id, currency=currency)
    return wallet


def _wallet_open(*, owner: str, user_id: str, currency: str) -> WalletIds | None:
    """Open the wallet and its ledger account; None when a concurrent first top-up opened it first.

    The wallet row goes in first, so a lost race leaves no account behind; it names the account
    opened next, which its foreign key (DEFERRABLE INITIALLY DEFERRED) requires only at commit.
    The account is a customer account (a liability, never negative, one balance bucket) managed by
    the wallets app, so the generic account routes refuse to move it.
    """
    validate_currency(currency)  # before anything is written, as the ledger's account_create does
    wallet = WalletIds(id=uuid.uuid4(), account_id=uuid.uuid4())
    now = timezone.now()
    with connection.cursor() as cursor:
        uuid_field = Wallet._meta.pk  # writes either database's form of a UUID
        cursor.execute(WALLET_OPEN_SQL, [
            uuid_field.get_db_prep_value(wallet.id, connection), owner, user_id, currency,
            uuid_field.get_db_prep_value(wallet.account_id, connection),
            connection.ops.adapt_datetimefield_value(now),
        ])
        if cursor.rowcount == 0:
            return None
    account_create(owner=owner, name=wallet_account_name(user_id), currency=currency,
                   managed_by=AccountManagedBy.WALLET, account_id=wallet.account_id, created_at=now)
    return wallet


def _credit(
    *, kind: str, source: str, owner: str, user_id: str, amount: int, currency: str, reference: str, description: str
) -> WalletTransaction:
    source_id = system_account_id(source, currency)
    wallet = wallet_get_or_create(owner=owner, user_id=user_id, currency=currency)
    txn = transaction_post(
        namespace=ReferenceNamespace.CLIENT,
        owner=owner,
        reference=reference,
        kind=kind,
        description=description,
        metadata={"user_id": user_id, "wallet_id": str(wallet.id)},
        legs=[Leg(source_id, Direction.DEBIT, amount), Leg(wallet.account_id, Direction.CREDIT, amount)],
    )
    return selectors.wallet_transaction(user_id=user_id, wallet=wallet, txn=txn)


@joins_transaction
def wallet_topup(
    *, owner: str, user_id: str, amount: int, reference: str, currency: str = "USD", description: str = ""
) -> WalletTransaction:
    """Credit the user's wallet with money paid in: DR treasury / CR wallet (opened on first use)."""
    return _credit(
        kind="topup", source="treasury", owner=owner, user_id=user_id, amount=amount, currency=currency,
        reference=reference, description=description,
    )


@joins_transaction
def wallet_bonus(
    *, owner: str, user_id: str, amount: int, reference: str, currency: str = "USD", description: str = ""
) -> WalletTransaction:
    """Credit the user's wallet with a marketing bonus: DR bonus_expense / CR wallet (opened on first use)."""
    return _credit(
        kind="bonus", source="bonus_expense", owner=owner, user_id=user_id, amount=amount, currency=currency,
        reference=reference, description=description,
    )


@joins_transaction
def wallet_spend(
    *, owner: str, user_id: str, amount: int, reference: str, currency: str = "USD", description: str = ""
) -> WalletTransaction:
    """Debit the user's wallet for a purchase: DR wallet / CR revenue.

    A user without a wallet in this currency simply has no money in it: InsufficientFunds with
    0 available, and no wallet is opened.
    """
    revenue_id = system_account_id("revenue", currency)  # refuses an unknown currency first
    wallet = selectors.wallet_find(owner=owner, user_id=user_id, currency=currency)
    if wallet is None:
        amount_check(amount)
        raise InsufficientFunds(
            f"User {user_id!r} has no {currency} wallet: 0 {currency} available, {amount} requested.",
            available=0,
            requested=amount,
        )
    txn = transaction_post(
        namespace=ReferenceNamespace.CLIENT,
        owner=owner,
        reference=reference,
        kind="spend",
        description=description,
        metadata={"user_id": user_id, "wallet_id": str(wallet.id)},
        legs=[Leg(wallet.account_id, Direction.DEBIT, amount), Leg(revenue_id, Direction.CREDIT, amount)],
    )
    return selectors.wallet_transaction(user_id=user_id, wallet=wallet, txn=txn)
