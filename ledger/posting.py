"""What both posting engines share: the request they are given, the legs they return, the refusals.

`ledger.services` validates and flattens a posting into a `PostingRequest`; an engine
(`engine_sql`, one call to the PostgreSQL function `ledger_post`, or `engine_python`, the ORM)
posts it and answers with `PostedLeg`s, or refuses with a code and figures that `refusal_error`
turns into the domain error, so the two engines cannot word an error differently.
`transactions_from_legs` builds the `Transaction`s callers get: postings and accounts in memory,
nothing read back.
"""

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple
from uuid import UUID

from django.conf import settings
from django.utils import timezone

from .currencies import currency_exponent
from .exceptions import (
    AccountNotFound,
    BalanceLimitExceeded,
    CurrencyMismatch,
    InsufficientFunds,
    LedgerError,
    ManagedAccount,
    ReferenceConflict,
    UnbalancedTransaction,
)
from .models import BALANCE_LIMIT, Account, AccountKind, BalanceBucket, Posting, Transaction

# The platform's own accounts, one per currency in use, and the side they are kept on.
SYSTEM_ACCOUNT_KINDS: dict[str, AccountKind] = {
    "cash": AccountKind.ASSET,  # money held at banks and the payment provider
    "treasury": AccountKind.ASSET,  # money received for wallet top-ups
    "revenue": AccountKind.REVENUE,
    "seller_payable": AccountKind.LIABILITY,  # owed to sellers for their sales
    "bonus_expense": AccountKind.EXPENSE,  # marketing bonuses credited to wallets
    "provider_fees": AccountKind.EXPENSE,  # what the payment provider keeps of what it settles
    "equity": AccountKind.EQUITY,
}

# System accounts have ids derived from (name, currency), so any process can name one
# without a query; the rows themselves are created on first use.
_SYSTEM_NAMESPACE = uuid.UUID("6d1b7a8e-5c2f-4f0e-9a51-0b7c1e2d3f40")
_system_accounts: dict[UUID, tuple[str, str]] = {}  # id -> (name, currency), for the ids this process named


def system_account_id(name: str, currency: str) -> UUID:
    """Return the id of a system account; the row is created when a posting first needs it."""
    if name not in SYSTEM_ACCOUNT_KINDS:
        raise ValueError(f"unknown system account {name!r}")
    currency_exponent(currency)
    account_id = uuid.uuid5(_SYSTEM_NAMESPACE, f"{name}:{currency}")
    _system_accounts[account_id] = (name, currency)
    return account_id


def system_account_named(account_id: UUID) -> tuple[str, str] | None:
    """Return (name, currency) of a system account id this process named, else None."""
    return _system_accounts.get(account_id)


def system_bucket_count() -> int:
    """How many balance buckets each system account spreads its postings over."""
    return settings.MINTGUARD_SYSTEM_BALANCE_BUCKETS


def system_accounts_create(*, currencies: Iterable[str]) -> None:
    """Create every system account of these currencies and its buckets, if missing. Safe under races."""
    now = timezone.now()
    accounts = [
        Account(id=system_account_id(name, currency), name=name, currency=currency, kind=kind, is_system=True,
                allow_negative=True, created_at=now)
        for currency in sorted(set(currencies))
        for name, kind in SYSTEM_ACCOUNT_KINDS.items()
    ]
    # INSERT ... ON CONFLICT DO NOTHING: a concurrent creator simply wins.
    Account.objects.bulk_create(accounts, ignore_conflicts=True)
    BalanceBucket.objects.bulk_create(
        [BalanceBucket(account_id=a.id, bucket=bucket, allow_negative=True)
         for a in accounts for bucket in range(system_bucket_count())],
        ignore_conflicts=True,
    )


@dataclass(frozen=True)
class Leg:
    """One side of a transaction: this account, this direction, this many minor units.

    With `account_id` None, `system` names a system account (cash...) in the currency of the
    transaction's other accounts: a deposit knows its account by id alone, not its currency.
    """

    account_id: UUID | None
    direction: str
    amount: int
    system: str = ""


@dataclass(frozen=True)
class NewTransaction:
    """One transaction to post: its reference, kind and legs."""

    reference: str
    kind: str
    legs: Sequence[Leg]
    description: str = ""
    metadata: dict | None = None


@dataclass(frozen=True)
class PostingRequest:
    """A validated posting, its legs flattened in order (the shape `ledger_post` takes).

    A leg names its account by id (`leg_accounts`) or, for a system account, by name and currency
    (`leg_systems`, `leg_currencies`; a None currency is its transaction's accounts'), with the
    bucket it picked at random (`leg_buckets`). An account keeps one bucket for the whole call:
    that of its first leg, 0 for an account named by id.
    """

    owner: str
    namespace: str
    entries: Sequence[NewTransaction]
    accounts_owner: str | None  # accounts named by id must be this owner's customer accounts
    refuse_managed: bool
    leg_entries: list[int]
    leg_accounts: list[UUID | None]
    leg_systems: list[str | None]
    leg_currencies: list[str | None]
    leg_directions: list[str]
    leg_amounts: list[int]
    leg_buckets: list[int]


class PostedLeg(NamedTuple):
    """One posted leg as an engine returns it (the columns of PostgreSQL's `ledger_posted_leg`)."""

    entry: int
    transaction_id: UUID
    created_at: datetime
    posted_before: bool
    kind: str
    description: str
    metadata: dict | str  # str: jsonb text from PostgreSQL
    posting_id: int | None
    account_id: UUID
    direction: str
    amount: int
    currency: str
    bucket: int
    entry_number: int
    balance_after: int
    account_owner: str
    account_name: str
    account_kind: str
    account_is_system: bool
    account_allow_negative: bool
    account_managed_by: str
    account_created_at: datetime
    account_balance: int | None  # a customer account's balance after the call
    account_available: int | None  # and what its active holds leave of it


class SystemAccountsMissing(Exception):  # noqa: N818 - a signal to the caller, not an error
    """An engine needs system accounts or buckets that do not exist yet: create them, post again."""

    def __init__(self, currencies: Iterable[str]):
        super().__init__(currencies)
        self.currencies = sorted(currencies)


def refusal_error(code: str, detail: dict, request: PostingRequest) -> LedgerError:
    """Return the domain error for an engine's refusal, worded as the ledger always worded it."""
    if code == "account_not_found":
        return AccountNotFound(f"Account {detail['account_id']} does not exist.")
    if code == "wallet_account":
        account_id = detail["account_id"]
        return ManagedAccount(
            f"Account {account_id} is a wallet's account: move its money through the wallet routes "
            "(/api/v1/wallets/), not the account routes.",
            account_id=str(account_id),
        )
    if code == "unbalanced":
        entry = request.entries[detail["entry"]]
        if len(detail["currencies"]) == 1:
            return UnbalancedTransaction(f"Debits and credits differ in {', '.join(detail['unbalanced'])}.")
        if entry.kind == "transfer":  # a transfer is one currency by definition: say which side is which
            source, destination = detail["leg_currencies"]
            return CurrencyMismatch(
                f"Source is in {source} and destination in {destination}; a transfer stays in one currency."
            )
        return CurrencyMismatch(f"Postings mix currencies ({', '.join(detail['currencies'])}) and do not balance.")
    if code == "reference_conflict":
        return ReferenceConflict(f"Reference {detail['reference']!r} was already used for a different transaction.")
    if code == "insufficient_funds":
        return insufficient_funds(detail["account_id"], detail["currency"], detail["available"], detail["requested"])
    if code == "balance_limit_exceeded":
        return BalanceLimitExceeded(f"Account {detail['account_id']} would pass the balance limit of {BALANCE_LIMIT}.")
    raise ValueError(f"unknown refusal {code!r}")


def insufficient_funds(account_id, currency: str, available: int, requested: int) -> InsufficientFunds:
    """The refusal of a debit or a hold beyond the account's available balance."""
    return InsufficientFunds(f"Account {account_id} has {available} {currency} available, {requested} requested.",
                             account_id=str(account_id), available=available, requested=requested)


def concurrent_reference_conflict() -> ReferenceConflict:
    """A twin with the same reference but other legs committed between our check and our insert."""
    return ReferenceConflict("A reference is being used by another transaction at this moment.")


def transactions_from_legs(
    request: PostingRequest, legs: Iterable[PostedLeg], *, db: str
) -> list[tuple[Transaction, bool]]:
    """Build each posted transaction, with whether it was posted before, from an engine's legs.

    `txn.legs` holds the postings, and each posting's `account` is an in-memory account (a
    customer's with `balance` set), so callers render the result without a query.
    """
    accounts: dict[UUID, Account] = {}
    posted: dict[int, tuple[Transaction, bool, list[Posting]]] = {}
    for leg in legs:
        if leg.entry not in posted:
            # On PostgreSQL, metadata arrives as jsonb text (Django has psycopg load it so).
            metadata = json.loads(leg.metadata) if isinstance(leg.metadata, str) else leg.metadata
            txn = Transaction(id=leg.transaction_id, owner=request.owner, namespace=request.namespace,
                              reference=request.entries[leg.entry].reference, kind=leg.kind,
                              description=leg.description, metadata=metadata, created_at=leg.created_at)
            _saved(txn, db)
            posted[leg.entry] = (txn, leg.posted_before, [])
        txn, _, postings = posted[leg.entry]
        account = accounts.get(leg.account_id)
        if account is None:
            account = accounts[leg.account_id] = _account_of(leg, db)
        posting = Posting(id=leg.posting_id, transaction_id=txn.id, account_id=leg.account_id,
                          direction=leg.direction, amount=leg.amount, currency=leg.currency, bucket=leg.bucket,
                          entry_number=leg.entry_number, balance_after=leg.balance_after,
                          posted_at=leg.created_at)  # both engines write the transaction's time
        posting._state.fields_cache.update(transaction=txn, account=account)
        _saved(posting, db)
        postings.append(posting)
    result = []
    for txn, posted_before, postings in posted.values():
        txn.__dict__["legs"] = postings  # the cached_property's slot: what was posted, no query
        result.append((txn, posted_before))
    return result


def _account_of(leg: PostedLeg, db: str) -> Account:
    account = Account(id=leg.account_id, owner=leg.account_owner, name=leg.account_name, currency=leg.currency,
                      kind=leg.account_kind, is_system=leg.account_is_system,
                      allow_negative=leg.account_allow_negative, managed_by=leg.account_managed_by,
                      created_at=leg.account_created_at)
    if leg.account_balance is not None:
        account.__dict__["balance"] = leg.account_balance  # the cached_property's slot
        account.__dict__["available"] = leg.account_available
    _saved(account, db)
    return account


def _saved(instance, db: str) -> None:
    """Mark a model instance built from posted rows as loaded from the database."""
    instance._state.adding = False
    instance._state.db = db

