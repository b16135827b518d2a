"""Every write to the ledger. Each service is atomic and keyword-only.

`transaction_post` is the one door money goes through; deposits, withdrawals and transfers are
built on it, and so are the wallets and payments apps. Every posting names its reference's
namespace: `client` for a value the client chose (an idempotency key, a wallet `reference_id`),
`system` for one our code derived (`payment:<id>`), so a client can never take a system reference.

Deposits, withdrawals and transfers are the generic account operations: they refuse an account
another app manages (a wallet's account), whose money moves only through that app.
"""

import functools
import random
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from uuid import UUID

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from . import locks, signals
from .currencies import currency_exponent
from .exceptions import (
    AccountNotFound,
    BalanceLimitExceeded,
    CurrencyMismatch,
    InsufficientFunds,
    InvalidAmount,
    InvalidTransaction,
    ManagedAccount,
    ReferenceConflict,
    SelfTransfer,
    UnbalancedTransaction,
)
from .models import (
    BALANCE_LIMIT,
    MAX_AMOUNT,
    SYSTEM_OWNER,
    Account,
    AccountKind,
    AccountManagedBy,
    BalanceBucket,
    Direction,
    Posting,
    ReferenceNamespace,
    Transaction,
    balance_effect,
)

# The platform's own accounts, one per currency in use, and the side they are kept on.
SYSTEM_ACCOUNT_KINDS: dict[str, AccountKind] = {
    "cash": AccountKind.ASSET,  # money held at banks and the payment provider
    "treasury": AccountKind.ASSET,  # money received for wallet top-ups
    "revenue": AccountKind.REVENUE,
    "seller_payable": AccountKind.LIABILITY,  # owed to sellers for their sales
    "bonus_expense": AccountKind.EXPENSE,  # marketing bonuses credited to wallets
    "equity": AccountKind.EQUITY,
}

# System accounts have ids derived from (name, currency), so any process can name one
# without a query; the rows themselves are created on first use.
_SYSTEM_NAMESPACE = uuid.UUID("6d1b7a8e-5c2f-4f0e-9a51-0b7c1e2d3f40")
_system_ids: dict[UUID, str] = {}  # id -> currency, for the ids this process has named


@dataclass(frozen=True)
class Leg:
    """One side of a transaction: this account, this direction, this many minor units."""

    account_id: UUID
    direction: str
    amount: int


def system_account_id(name: str, currency: str) -> UUID:
    """Return the id of a system account; the row is created when a posting first needs it."""
    if name not in SYSTEM_ACCOUNT_KINDS:
        raise ValueError(f"unknown system account {name!r}")
    currency_exponent(currency)
    account_id = uuid.uuid5(_SYSTEM_NAMESPACE, f"{name}:{currency}")
    _system_ids[account_id] = currency
    return account_id


def joins_transaction(service):
    """Make a service atomic without a savepoint inside a caller's transaction.

    For services that run every check before they write, so a refusal leaves nothing behind (or
    nothing that matters, like an opened empty wallet): inside a caller's transaction (an
    idempotent API request, which rolls back whole on any error) they join it, saving the two
    round trips of a savepoint on every request; called alone, they open their own transaction.
    """

    @functools.wraps(service)
    def atomic_service(*args, **kwargs):
        if transaction.get_connection().in_atomic_block:
            return service(*args, **kwargs)
        with transaction.atomic():
            return service(*args, **kwargs)

    return atomic_service


def system_bucket_count() -> int:
    """How many balance buckets each system account spreads its postings over."""
    return settings.MINTGUARD_SYSTEM_BALANCE_BUCKETS


def system_accounts_create(*, currencies: Iterable[str]) -> None:
    """Create every system account of these currencies and its buckets, if missing. Safe under races."""
    now = timezone.now()
    accounts = [
        Account(
            id=system_account_id(name, currency),
            name=name,
            currency=currency,
            kind=kind,
            is_system=True,
            allow_negative=True,
            created_at=now,
        )
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


@joins_transaction
def account_create(
    *, owner: str, name: str, currency: str = "USD", managed_by: str = AccountManagedBy.NONE
) -> Account:
    """Open a customer account: a liability of the platform that never goes negative.

    `managed_by` names the app that alone will move it (the wallets app opens its accounts so).
    """
    currency_exponent(currency)
    if managed_by not in AccountManagedBy.values:
        raise ValueError(f"unknown account manager {managed_by!r}")
    account = Account.objects.create(
        owner=owner, name=name, currency=currency, kind=AccountKind.LIABILITY, allow_negative=False,
        managed_by=managed_by,
    )
    BalanceBucket.objects.create(account=account, bucket=0, allow_negative=False)
    return account


def _validate_legs(legs: Sequence[Leg]) -> None:
    if len(legs) < 2:
        raise InvalidTransaction("A transaction needs at least two postings.")
    for leg in legs:
        if leg.direction not in Direction.values:
            raise InvalidTransaction(f"Direction must be DEBIT or CREDIT, not {leg.direction!r}.")
        if not isinstance(leg.amount, int) or isinstance(leg.amount, bool):
            raise InvalidAmount("Amounts are integers in the currency's minor unit.")
        if not 0 < leg.amount <= MAX_AMOUNT:
            raise InvalidAmount(f"Amount must be between 1 and {MAX_AMOUNT}, not {leg.amount}.")


def _lock_balances(account_ids: set[UUID]) -> dict[UUID, BalanceBucket]:
    """Lock one balance bucket per account: bucket 0 of a customer account, a random one of a system account.

    Any bucket will do for a system account, which may go negative and so needs no overdraft
    check across buckets; picking at random lets concurrent transactions on it proceed side by
    side. Only accounts this process named with `system_account_id` are known to be system
    accounts; any other is locked in bucket 0, which every account has.
    """
    spread = system_bucket_count()
    # Not for security: any spread of buckets is correct, an even one is merely faster.
    buckets = {account_id: random.randrange(spread) if account_id in _system_ids else 0  # noqa: S311  # nosec B311
               for account_id in account_ids}
    balances = locks.buckets_for_update(buckets)
    missing = account_ids - balances.keys()
    if not missing:
        return balances
    unknown = [account_id for account_id in missing if account_id not in _system_ids]
    if unknown:
        raise AccountNotFound(f"Account {unknown[0]} does not exist.")
    system_accounts_create(currencies={_system_ids[account_id] for account_id in missing})
    return locks.buckets_for_update(buckets)


def _check_balanced(legs: Sequence[Leg], balances: dict[UUID, BalanceBucket]) -> None:
    net: dict[str, int] = defaultdict(int)
    for leg in legs:
        currency = balances[leg.account_id].account.currency
        net[currency] += leg.amount if leg.direction == Direction.DEBIT else -leg.amount
    unbalanced = {currency: total for currency, total in net.items() if total}
    if unbalanced:
        currencies = ", ".join(sorted(unbalanced))
        if len(net) > 1:
            raise CurrencyMismatch(f"Postings mix currencies ({', '.join(sorted(net))}) and do not balance.")
        raise UnbalancedTransaction(f"Debits and credits differ in {currencies}.")


def _same_legs(existing: Transaction, legs: Sequence[Leg]) -> bool:
    stored = sorted((p.account_id, p.direction, p.amount) for p in existing.postings.all())
    return stored == sorted((leg.account_id, leg.direction, leg.amount) for leg in legs)


@dataclass(frozen=True)
class Entry:
    """One transaction to post: its reference, kind and legs."""

    reference: str
    kind: str
    legs: Sequence[Leg]
    description: str = ""
    metadata: dict | None = None


def transaction_post(
    *,
    namespace: str,
    reference: str,
    kind: str,
    legs: Sequence[Leg],
    owner: str = SYSTEM_OWNER,
    description: str = "",
    metadata: dict | None = None,
) -> Transaction:
    """Post a balanced transaction, once per (owner, namespace, reference).

    `namespace` says whose reference it is: `ReferenceNamespace.CLIENT` for a value the client
    chose, `SYSTEM` for one our code derived. Posting the same reference again with the same legs
    returns the original transaction; with other legs it raises ReferenceConflict.
    """
    entry = Entry(reference=reference, kind=kind, legs=legs, description=description, metadata=metadata)
    return transactions_post(namespace=namespace, owner=owner, entries=[entry])[0]


@joins_transaction
def transactions_post(*, namespace: str, owner: str = SYSTEM_OWNER, entries: Sequence[Entry]) -> list[Transaction]:
    """Post several balanced transactions all-or-nothing, under one set of locks.

    Every check runs before the first write, so a refusal leaves nothing behind. A batch whose
    references were all posted before (in this owner's `namespace`) with the same legs returns the
    originals; any other reuse of a reference raises ReferenceConflict.
    """
    if namespace not in ReferenceNamespace.values:
        raise ValueError(f"unknown reference namespace {namespace!r}")
    return _post(owner=owner, namespace=namespace, entries=entries)


def _existing(owner: str, namespace: str, entries: Sequence[Entry]) -> list[Transaction] | None:
    """The transactions already posted under these references, or None if none was."""
    references = [entry.reference for entry in entries]
    if len(set(references)) != len(references):
        raise InvalidTransaction("Each transaction of a batch needs its own reference.")
    posted = Transaction.objects.filter(owner=owner, namespace=namespace, reference__in=references)
    found = {t.reference: t for t in posted}
    if not found:
        return None
    for entry in entries:
        if entry.reference not in found or not _same_legs(found[entry.reference], entry.legs):
            raise ReferenceConflict(f"Reference {entry.reference!r} was already used for a different transaction.")
    return [found[reference] for reference in references]


def _post(*, owner: str, namespace: str, entries: Sequence[Entry]) -> list[Transaction]:
    for entry in entries:
        if not entry.reference:
            raise InvalidTransaction("A transaction needs a reference.")
        _validate_legs(entry.legs)
    balances = _lock_balances({leg.account_id for entry in entries for leg in entry.legs})
    for entry in entries:
        _check_balanced(entry.legs, balances)

    # Checked under the balance locks: a concurrent twin on the same accounts has committed.
    existing = _existing(owner, namespace, entries)
    if existing is not None:
        return existing

    opening = {account_id: row.balance for account_id, row in balances.items()}
    requested: dict[UUID, int] = defaultdict(int)
    now = timezone.now()
    transactions, postings = [], []
    for entry in entries:
        txn = Transaction(owner=owner, namespace=namespace, reference=entry.reference, kind=entry.kind,
                          description=entry.description, metadata=entry.metadata or {}, created_at=now)
        txn_postings = [_apply(txn, leg, balances, opening, requested) for leg in entry.legs]
        # Callers read txn.postings.all() to render the result: serve it from what is written here.
        txn._prefetched_objects_cache = {"postings": _PostedLegs.of(txn, txn_postings)}
        transactions.append(txn)
        postings.extend(txn_postings)

    try:
        Transaction.objects.bulk_create(transactions)
    except IntegrityError as exc:
        # Only possible when a twin with the same reference but other accounts raced us.
        raise ReferenceConflict("A reference is being used by another transaction at this moment.") from exc
    Posting.objects.bulk_create(postings)
    BalanceBucket.objects.bulk_update(balances.values(), ["balance", "last_entry_number"], batch_size=500)
    # After commit: an outer transaction (an idempotent API request) may still roll this back.
    for txn in transactions:
        transaction.on_commit(
            lambda txn=txn: signals.transaction_posted.send_robust(sender=Transaction, transaction=txn), robust=True
        )
    return transactions


class _PostedLegs(QuerySet):
    """A transaction's postings as `_post` just wrote them, for `txn.postings.all()`.

    Filtering by transaction up front costs ~45 us, more than posting a leg, and a batch posts
    a thousand transactions; so the filter is built only when something is chained on the
    postings (select_related, filter...), which drops the cache and must query that
    transaction's postings, never the whole table.
    """

    @classmethod
    def of(cls, txn: Transaction, postings: list[Posting]) -> "_PostedLegs":
        legs = cls(model=Posting)
        legs._result_cache, legs._prefetch_done, legs._transaction_id = postings, True, txn.pk
        return legs

    def _clone(self):
        return Posting.objects.filter(transaction_id=self._transaction_id)._clone()


def _apply(txn: Transaction, leg: Leg, balances: dict[UUID, BalanceBucket], opening: dict, requested: dict) -> Posting:
    """Move one balance by one leg, refusing an overdraft or a balance past the limit."""
    row = balances[leg.account_id]
    account = row.account
    change = balance_effect(debit_normal=account.debit_normal, direction=leg.direction, amount=leg.amount)
    if change < 0:
        requested[account.id] -= change
    row.balance += change
    row.last_entry_number += 1
    if row.balance < 0 and not row.allow_negative:
        raise InsufficientFunds(
            f"Account {account.id} has {opening[account.id]} {account.currency} available, "
            f"{requested[account.id]} requested.",
            account_id=str(account.id),
            available=opening[account.id],
            requested=requested[account.id],
        )
    if abs(row.balance) > BALANCE_LIMIT:
        raise BalanceLimitExceeded(f"Account {account.id} would pass the balance limit of {BALANCE_LIMIT}.")
    return Posting(
        transaction=txn,
        account_id=account.id,
        direction=leg.direction,
        amount=leg.amount,
        currency=account.currency,
        bucket=row.bucket,
        entry_number=row.last_entry_number,
        balance_after=row.balance,
    )


def _refuse_managed(*accounts: Account) -> None:
    """Refuse an account another app manages: only that app moves its money.

    The one place the rule lives: the deposit, withdrawal and transfer services (every generic
    account route, and the dashboard should it ever move money) call it; the managing app posts
    through `transaction_post`. "wallet" is the only manager, so the refusal names its routes.
    """
    for account in accounts:
        if account.managed_by:
            raise ManagedAccount(
                f"Account {account.id} is a wallet's account: move its money through the wallet routes "
                "(/api/v1/wallets/), not the account routes.",
                account_id=str(account.id),
            )


def deposit(
    *, account: Account, amount: int, reference: str, owner: str = SYSTEM_OWNER, description: str = ""
) -> Transaction:
    """Credit a customer account with money received in cash: DR cash / CR account. `reference` is the client's."""
    _refuse_managed(account)
    return transaction_post(
        namespace=ReferenceNamespace.CLIENT,
        owner=owner,
        reference=reference,
        kind="deposit",
        description=description,
        legs=[
            Leg(system_account_id("cash", account.currency), Direction.DEBIT, amount),
            Leg(account.id, Direction.CREDIT, amount),
        ],
    )


def withdraw(
    *, account: Account, amount: int, reference: str, owner: str = SYSTEM_OWNER, description: str = ""
) -> Transaction:
    """Pay money out of a customer account: DR account / CR cash. `reference` is the client's."""
    _refuse_managed(account)
    return transaction_post(
        namespace=ReferenceNamespace.CLIENT,
        owner=owner,
        reference=reference,
        kind="withdrawal",
        description=description,
        legs=[
            Leg(account.id, Direction.DEBIT, amount),
            Leg(system_account_id("cash", account.currency), Direction.CREDIT, amount),
        ],
    )


def _transfer_legs(source: Account, destination: Account, amount: int) -> list[Leg]:
    _refuse_managed(source, destination)
    if source.id == destination.id:
        raise SelfTransfer("Source and destination must be different accounts.")
    if source.currency != destination.currency:
        raise CurrencyMismatch(
            f"Source is in {source.currency} and destination in {destination.currency}; "
            "a transfer stays in one currency."
        )
    return [Leg(source.id, Direction.DEBIT, amount), Leg(destination.id, Direction.CREDIT, amount)]


def transfer_create(
    *,
    source: Account,
    destination: Account,
    amount: int,
    reference: str,
    owner: str = SYSTEM_OWNER,
    description: str = "",
) -> Transaction:
    """Move money between two accounts of one currency: DR source / CR destination. `reference` is the client's."""
    return transaction_post(
        namespace=ReferenceNamespace.CLIENT, owner=owner, reference=reference, kind="transfer", description=description,
        legs=_transfer_legs(source, destination, amount),
    )


@dataclass(frozen=True)
class TransferOrder:
    source: Account
    destination: Account
    amount: int
    description: str = ""


def transfers_create(
    *, transfers: Sequence[TransferOrder], reference: str, owner: str = SYSTEM_OWNER
) -> list[Transaction]:
    """Post a batch of transfers all-or-nothing, locks taken once in pk order.

    Transfer i of the batch has reference `{reference}:{i}`, in the client's namespace like any other.
    """
    entries = [
        Entry(reference=f"{reference}:{number}", kind="transfer", description=order.description,
              legs=_transfer_legs(order.source, order.destination, order.amount))
        for number, order in enumerate(transfers)
    ]
    return transactions_post(namespace=ReferenceNamespace.CLIENT, owner=owner, entries=entries)
