"""Every write to the ledger. Each service is atomic and keyword-only.

`transaction_post` is the one door money goes through; deposits, withdrawals and transfers are
built on it, and so are the wallets and payments apps. Every posting names its reference's
namespace: `client` for a value the client chose (an idempotency key, a wallet `reference_id`),
`system` for one our code derived (`payment:<id>`), so a client can never take a system reference.

Deposits, withdrawals and transfers are the generic account operations: they take account ids
(the lookup happens inside the one posting call), see only `accounts_owner`'s accounts when given,
and refuse an account another app manages (a wallet's account), whose money moves only through that app.

Posting goes through an engine (`MINTGUARD_LEDGER_ENGINE`): on PostgreSQL the function `ledger_post`
(`engine_sql`, one round trip), else the ORM (`engine_python`). Both check the same things in the
same order and answer alike (`ledger.posting`); a differential test keeps them so.

Each posting a client cares about records its event in the posting's own transaction (`events`):
deposits, withdrawals and transfers here, one event per transfer of a batch in one INSERT; a caller
of `transaction_post` (the wallets) names its own. A reference posted before records nothing again.
"""

import functools
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, router, transaction
from django.utils import timezone

from events.services import NewEvent, events_record

from .. import engine_python, engine_sql, signals
from ..bodies import movement_body, movement_leg, transfer_body
from ..currencies import amount_check, currency_exponent
from ..exceptions import AccountNotFound, InvalidTransaction, SelfTransfer
from ..models import (
    SYSTEM_OWNER,
    Account,
    AccountKind,
    AccountManagedBy,
    BalanceBucket,
    Direction,
    ReferenceNamespace,
    Transaction,
)
from ..posting import (  # noqa: F401 - part of the services interface
    SYSTEM_ACCOUNT_KINDS,
    Leg,
    NewTransaction,
    PostingRequest,
    SystemAccountsMissing,
    system_account_id,
    system_account_named,
    system_accounts_create,
    system_bucket_count,
)

ENGINES = ("auto", "python")
# The event that records a transaction a posting newly posted (`event=` of the posting services).
EventOf = Callable[[Transaction], NewEvent]


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


@joins_transaction
def account_create(
    *, owner: str, name: str, currency: str = "USD", managed_by: str = AccountManagedBy.NONE,
    account_id: UUID | None = None, created_at: datetime | None = None,
) -> Account:
    """Open a customer account: a liability of the platform that never goes negative.

    `managed_by` names the app that alone will move it (the wallets app opens its accounts so, with
    the id its wallet row already names).
    """
    currency_exponent(currency)
    if managed_by not in AccountManagedBy.values:
        raise ValueError(f"unknown account manager {managed_by!r}")
    account = Account.objects.create(
        id=account_id or uuid.uuid4(), owner=owner, name=name, currency=currency, kind=AccountKind.LIABILITY,
        allow_negative=False, managed_by=managed_by, created_at=created_at or timezone.now(),
    )
    BalanceBucket.objects.create(account=account, bucket=0, allow_negative=False)
    return account


def _validate(entries: Sequence[NewTransaction]) -> None:
    """Refuse what no engine should see: missing or repeated references, malformed legs."""
    references = [entry.reference for entry in entries]
    if not all(references):
        raise InvalidTransaction("A transaction needs a reference.")
    if len(set(references)) != len(references):
        raise InvalidTransaction("Each transaction of a batch needs its own reference.")
    for entry in entries:
        if len(entry.legs) < 2:
            raise InvalidTransaction("A transaction needs at least two postings.")
        for leg in entry.legs:
            if leg.direction not in Direction.values:
                raise InvalidTransaction(f"Direction must be DEBIT or CREDIT, not {leg.direction!r}.")
            amount_check(leg.amount)
            if leg.account_id is None and (leg.system not in SYSTEM_ACCOUNT_KINDS
                                           or all(other.account_id is None for other in entry.legs)):
                raise ValueError(f"a leg without an account needs a system account name, not {leg.system!r}, "
                                 "and another leg naming an account by id")


def _request(
    *, owner: str, namespace: str, entries: Sequence[NewTransaction], accounts_owner: str | None, refuse_managed: bool
) -> PostingRequest:
    """Flatten the entries' legs for an engine, each system account's leg with a bucket picked at random.

    Any bucket will do for a system account, which may go negative and so needs no overdraft check
    across buckets; picking at random lets concurrent transactions on it proceed side by side.
    """
    spread = system_bucket_count()
    request = PostingRequest(
        owner=owner, namespace=namespace, entries=entries, accounts_owner=accounts_owner,
        refuse_managed=refuse_managed, leg_entries=[], leg_accounts=[], leg_systems=[], leg_currencies=[],
        leg_directions=[], leg_amounts=[], leg_buckets=[],
    )
    for number, entry in enumerate(entries):
        for leg in entry.legs:
            # An id our code named with `system_account_id` becomes a system leg (created on first
            # use); an id a client named on a generic route stays an id, so a client who names cash
            # finds no account rather than moving it.
            named = None if refuse_managed else system_account_named(leg.account_id)
            system, currency = (leg.system, None) if leg.account_id is None else (named or (None, None))
            request.leg_entries.append(number)
            request.leg_accounts.append(None if system else leg.account_id)
            request.leg_systems.append(system)
            request.leg_currencies.append(currency)
            request.leg_directions.append(leg.direction)
            request.leg_amounts.append(leg.amount)
            request.leg_buckets.append(system_bucket_pick(spread) if system else 0)
    return request


def system_bucket_pick(spread: int | None = None) -> int:
    """A system account's bucket for one transaction, at random (see `_request`)."""
    # Not for security: any spread of buckets is correct, an even one is merely faster.
    return random.randrange(spread or system_bucket_count())  # noqa: S311  # nosec B311


def _engine():
    """The posting engine: the SQL function on PostgreSQL unless MINTGUARD_LEDGER_ENGINE says "python"."""
    choice = settings.MINTGUARD_LEDGER_ENGINE
    if choice not in ENGINES:
        raise ImproperlyConfigured(f"MINTGUARD_LEDGER_ENGINE must be one of {', '.join(ENGINES)}, not {choice!r}.")
    db = router.db_for_write(Transaction)
    if choice == "auto" and connections[db].vendor == "postgresql":
        return engine_sql, db
    return engine_python, db


def transaction_post(
    *,
    namespace: str,
    reference: str,
    kind: str,
    legs: Sequence[Leg],
    owner: str = SYSTEM_OWNER,
    description: str = "",
    metadata: dict | None = None,
    event: EventOf | None = None,
) -> Transaction:
    """Post a balanced transaction, once per (owner, namespace, reference).

    `namespace` says whose reference it is: `ReferenceNamespace.CLIENT` for a value the client
    chose, `SYSTEM` for one our code derived. Posting the same reference again with the same legs
    returns the original transaction; with other legs it raises ReferenceConflict. `event` gives
    the event that records the transaction, written with it, unless the reference was posted before.
    """
    new = NewTransaction(reference=reference, kind=kind, legs=legs, description=description, metadata=metadata)
    return _post(owner=owner, namespace=namespace, entries=[new], event=event)[0]


def transaction_batch_post(
    *, namespace: str, owner: str = SYSTEM_OWNER, transactions: Sequence[NewTransaction]
) -> list[Transaction]:
    """Post several balanced transactions all-or-nothing, under one set of locks.

    Every check runs before the first write, so a refusal leaves nothing behind. A batch whose
    references were all posted before (in this owner's `namespace`) with the same legs returns the
    originals; any other reuse of a reference raises ReferenceConflict.
    """
    return _post(owner=owner, namespace=namespace, entries=transactions)


@joins_transaction
def _post(
    *, owner: str, namespace: str, entries: Sequence[NewTransaction], accounts_owner: str | None = None,
    refuse_managed: bool = False, event: EventOf | None = None,
) -> list[Transaction]:
    if namespace not in ReferenceNamespace.values:
        raise ValueError(f"unknown reference namespace {namespace!r}")
    _validate(entries)
    request = _request(owner=owner, namespace=namespace, entries=entries, accounts_owner=accounts_owner,
                       refuse_managed=refuse_managed)
    engine, db = _engine()
    try:
        posted = engine.post(request, db=db)
    except SystemAccountsMissing as missing:
        # First use of a currency, or of a raised bucket count: nothing was written or locked yet.
        system_accounts_create(currencies=missing.currencies)
        posted = engine.post(request, db=db)
    announce(posted, db=db)
    if event is not None:  # a batch is all new or all posted before: its events are all or none
        events_record(event(txn) for txn, posted_before in posted if not posted_before)
    return [txn for txn, _ in posted]


def announce(posted: Sequence[tuple[Transaction, bool]], *, db: str) -> None:
    """Send `transaction_posted` for each newly posted transaction, after commit: an outer
    transaction (an idempotent API request) may still roll it back."""
    for txn, posted_before in posted:
        if not posted_before:
            transaction.on_commit(
                lambda txn=txn: signals.transaction_posted.send_robust(sender=Transaction, transaction=txn),
                using=db, robust=True,
            )


def _account_uuid(account_id) -> UUID:
    """An account id as given (a UUID or its text), or AccountNotFound: an id that cannot exist does not."""
    if isinstance(account_id, UUID):
        return account_id
    try:
        return UUID(str(account_id))
    except ValueError:
        raise AccountNotFound(f"Account {account_id} does not exist.") from None


def _account_movement(
    *, kind: str, account_id, amount: int, reference: str, owner: str, description: str,
    accounts_owner: str | None, debit_account: bool,
) -> Transaction:
    account = Leg(_account_uuid(account_id), Direction.DEBIT if debit_account else Direction.CREDIT, amount)
    cash = Leg(None, Direction.CREDIT if debit_account else Direction.DEBIT, amount, system="cash")
    entry = NewTransaction(reference=reference, kind=kind, description=description,
                  legs=[account, cash] if debit_account else [cash, account])
    return _post(owner=owner, namespace=ReferenceNamespace.CLIENT, entries=[entry], accounts_owner=accounts_owner,
                 refuse_managed=True, event=movement_event)[0]


def movement_event(txn: Transaction) -> NewEvent:
    """`account.deposit` or `account.withdrawal`, for the account's owner (whoever moved its money)."""
    return NewEvent(type=f"account.{txn.kind}", owner=movement_leg(txn).account.owner, data=movement_body(txn))


def transfer_event(txn: Transaction) -> NewEvent:
    """`transfer.created`, for the transfer's owner (who reads it at /api/v1/transfers/{id})."""
    return NewEvent(type="transfer.created", owner=txn.owner, data=transfer_body(txn))


def deposit(
    *, account_id, amount: int, reference: str, owner: str, description: str = "", accounts_owner: str | None = None
) -> Transaction:
    """Credit a customer account with money received in cash: DR cash / CR account. `reference` is the client's.

    `accounts_owner`: when given, an account of any other owner (or a system account) does not exist.
    Refuses an account another app manages (a wallet's): only that app moves its money.
    """
    return _account_movement(kind="deposit", account_id=account_id, amount=amount, reference=reference, owner=owner,
                             description=description, accounts_owner=accounts_owner, debit_account=False)


def withdraw(
    *, account_id, amount: int, reference: str, owner: str, description: str = "", accounts_owner: str | None = None
) -> Transaction:
    """Pay money out of a customer account: DR account / CR cash. As `deposit` otherwise."""
    return _account_movement(kind="withdrawal", account_id=account_id, amount=amount, reference=reference, owner=owner,
                             description=description, accounts_owner=accounts_owner, debit_account=True)


@dataclass(frozen=True)
class NewTransfer:
    """One transfer of a batch (`transfers_create`): from `source_id` to `destination_id`."""

    source_id: UUID | str
    destination_id: UUID | str
    amount: int
    description: str = ""


def _transfer_transaction(transfer: NewTransfer, reference: str) -> NewTransaction:
    source, destination = _account_uuid(transfer.source_id), _account_uuid(transfer.destination_id)
    if source == destination:
        raise SelfTransfer("Source and destination must be different accounts.")
    # A transfer stays in one currency: an engine refuses one between currencies with the
    # transfer's own message (`posting.refusal_error`), as it knows the currencies.
    amount = transfer.amount
    return NewTransaction(reference=reference, kind="transfer", description=transfer.description,
                          legs=[Leg(source, Direction.DEBIT, amount), Leg(destination, Direction.CREDIT, amount)])


def transfer_create(
    *,
    source_id,
    destination_id,
    amount: int,
    reference: str,
    owner: str,
    description: str = "",
    accounts_owner: str | None = None,
) -> Transaction:
    """Move money between two accounts of one currency: DR source / CR destination. `reference` is the client's.

    `accounts_owner` and managed accounts as for `deposit`.
    """
    transfer = NewTransfer(source_id, destination_id, amount, description)
    return _post(owner=owner, namespace=ReferenceNamespace.CLIENT, entries=[_transfer_transaction(transfer, reference)],
                 accounts_owner=accounts_owner, refuse_managed=True, event=transfer_event)[0]


def transfers_create(
    *, transfers: Sequence[NewTransfer], reference: str, owner: str, accounts_owner: str | None = None
) -> list[Transaction]:
    """Post a batch of transfers all-or-nothing, locks taken once in (account, bucket) order.

    Transfer i of the batch has reference `{reference}:{i}`, in the client's namespace like any other.
    Each records its `transfer.created`, all in one INSERT with one dispatch task.
    """
    entries = [_transfer_transaction(transfer, f"{reference}:{number}") for number, transfer in enumerate(transfers)]
    return _post(owner=owner, namespace=ReferenceNamespace.CLIENT, entries=entries, accounts_owner=accounts_owner,
                 refuse_managed=True, event=transfer_event)
