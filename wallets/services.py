"""Every write to wallets. Each money movement is ONE `transaction_post` on the ledger:

- top-up: DR treasury / CR wallet (money the platform received for the user),
- bonus:  DR bonus_expense / CR wallet (marketing pays),
- spend:  DR wallet / CR revenue.

The transaction's `reference` is the client's `reference_id`, in the client's namespace and unique
per API client in the database, so no code path posts one wallet operation twice. A wallet's
account is opened as managed by the wallets app: the generic account routes refuse to move it.
Locks are the ledger's alone (balance buckets, in order); this app takes none.

A hold reserves part of the wallet for a later spend: a ledger hold from the wallet's account to
revenue, tied to the wallet and its `reference_id` by a `WalletHold` row (unique per API client).
Its capture is that spend: one transaction of kind "spend" with a spend's metadata, whose
reference the ledger fixes (`hold:<id>`, system namespace), so a hold is captured once.

Each movement records its event in its transaction, for the wallet's owner (`wallet.topup`,
`wallet.bonus`, `wallet.spend`, a capture's spend too), `data` the wallet transaction as the API
shows it; a reference_id posted before records nothing again. The ledger records the holds' events.
"""

import uuid
from collections.abc import Callable
from uuid import UUID

from django.db import connection
from django.utils import timezone

from events.services import NewEvent
from ledger.currencies import amount_check, validate_currency
from ledger.exceptions import InsufficientFunds, ReferenceConflict
from ledger.models import (
    AccountManagedBy,
    Direction,
    Hold,
    ReferenceNamespace,
    Transaction,
)
from ledger.services import (
    HOLD_TTL_DEFAULT,
    Leg,
    account_create,
    hold_capture,
    hold_create,
    hold_void,
    joins_transaction,
    system_account_id,
    transaction_post,
)

from . import selectors
from .bodies import wallet_transaction_body
from .models import Wallet, WalletHold
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


def _metadata(*, user_id: str, wallet_id: UUID) -> dict:
    """What every wallet transaction says of its wallet, so the wallet's history finds it."""
    return {"user_id": user_id, "wallet_id": str(wallet_id)}


def _wallet_event(*, owner: str, user_id: str, wallet: WalletIds) -> Callable[[Transaction], NewEvent]:
    """The event of a transaction on the wallet, named by its kind, for the wallet's owner."""

    def event(txn: Transaction) -> NewEvent:
        movement = selectors.wallet_transaction(user_id=user_id, wallet=wallet, txn=txn)
        return NewEvent(type=f"wallet.{movement.type}", owner=owner, data=wallet_transaction_body(movement))

    return event


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
        metadata=_metadata(user_id=user_id, wallet_id=wallet.id),
        legs=[Leg(source_id, Direction.DEBIT, amount), Leg(wallet.account_id, Direction.CREDIT, amount)],
        event=_wallet_event(owner=owner, user_id=user_id, wallet=wallet),
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


def _debited_wallet(*, owner: str, user_id: str, amount: int, currency: str) -> tuple[WalletIds, UUID]:
    """Return the wallet a spend or hold debits and the revenue account it credits.

    A user without a wallet in this currency simply has no money in it: InsufficientFunds with
    0 available, and no wallet is opened. An unknown currency is refused first.
    """
    revenue_id = system_account_id("revenue", currency)
    wallet = selectors.wallet_find(owner=owner, user_id=user_id, currency=currency)
    if wallet is None:
        amount_check(amount)
        raise InsufficientFunds(
            f"User {user_id!r} has no {currency} wallet: 0 {currency} available, {amount} requested.",
            available=0,
            requested=amount,
        )
    return wallet, revenue_id


@joins_transaction
def wallet_spend(
    *, owner: str, user_id: str, amount: int, reference: str, currency: str = "USD", description: str = ""
) -> WalletTransaction:
    """Debit the user's wallet for a purchase: DR wallet / CR revenue, within what is available."""
    wallet, revenue_id = _debited_wallet(owner=owner, user_id=user_id, amount=amount, currency=currency)
    txn = transaction_post(
        namespace=ReferenceNamespace.CLIENT,
        owner=owner,
        reference=reference,
        kind="spend",
        description=description,
        metadata=_metadata(user_id=user_id, wallet_id=wallet.id),
        legs=[Leg(wallet.account_id, Direction.DEBIT, amount), Leg(revenue_id, Direction.CREDIT, amount)],
        event=_wallet_event(owner=owner, user_id=user_id, wallet=wallet),
    )
    return selectors.wallet_transaction(user_id=user_id, wallet=wallet, txn=txn)


@joins_transaction
def wallet_hold_create(
    *, owner: str, user_id: str, amount: int, reference: str, currency: str = "USD",
    expires_in: int = HOLD_TTL_DEFAULT, description: str = "",
) -> Hold:
    """Reserve `amount` of the user's available wallet balance for a later spend to revenue.

    Refused as a spend is (no wallet: 0 available). The reference_id names one hold per API client:
    reused for this wallet and amount it returns that hold, as a top-up's returns its transaction;
    reused for another, ReferenceConflict. Two first uses racing: the loser's insert is refused by
    the unique constraint (409 `conflict`, retry) and its hold rolls back with it.
    """
    wallet, revenue_id = _debited_wallet(owner=owner, user_id=user_id, amount=amount, currency=currency)
    placed = selectors.wallet_hold_find(owner=owner, reference_id=reference)
    if placed is not None:
        if placed.wallet_id == wallet.id and placed.hold.amount == amount:
            return placed.hold
        raise ReferenceConflict(f"reference_id {reference!r} already names another hold.")
    # The wallets app moves its own managed account, toward a system account it names itself.
    hold = hold_create(source_id=wallet.account_id, destination_id=revenue_id, amount=amount, owner=owner,
                       expires_in=expires_in, description=description, refuse_managed=False)
    WalletHold.objects.create(hold=hold, wallet_id=wallet.id, owner=owner, reference_id=reference)
    return hold


@joins_transaction
def wallet_hold_capture(*, hold_id, owner: str | None, amount: int | None = None) -> tuple[Hold, WalletTransaction]:
    """Spend what a wallet hold reserved (`amount`, default all; the rest is released): DR wallet / CR revenue.

    `owner` None (an operator) reaches every client's holds. The transaction is a spend to the
    wallet's history (its kind and metadata), carrying the hold's reference_id and id.
    """
    placed = selectors.wallet_hold_get(hold_id=hold_id, owner=owner)
    wallet = placed.wallet
    metadata = {**_metadata(user_id=wallet.user_id, wallet_id=wallet.id), "reference_id": placed.reference_id,
                "hold_id": str(placed.pk)}
    ids = WalletIds(id=wallet.id, account_id=wallet.account_id)
    # The ledger records hold.captured and, for the posted spend, this wallet.spend, together.
    hold, txn = hold_capture(hold_id=placed.pk, amount=amount, owner=owner, refuse_managed=False, kind="spend",
                             metadata=metadata, event=_wallet_event(owner=placed.owner, user_id=wallet.user_id,
                                                                    wallet=ids))
    return hold, selectors.wallet_transaction(user_id=wallet.user_id, wallet=ids, txn=txn)


@joins_transaction
def wallet_hold_void(*, hold_id, owner: str | None) -> Hold:
    """Release a wallet hold whole: nothing moves."""
    placed = selectors.wallet_hold_get(hold_id=hold_id, owner=owner)
    return hold_void(hold_id=placed.pk, owner=owner, refuse_managed=False)
