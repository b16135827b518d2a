"""Holds: money reserved on a customer account now, moved (captured) or released later.

A hold changes its bucket's `held` under the bucket's lock, as postings read it (model invariant
9); every service that ends a hold locks the hold first, then the bucket (`ledger.locks`). A HELD
hold past `expires_at` already reserves nothing (the engines and `Account.available` look at the
clock); `holds_expire` only records that and releases its `held`.

Each change records its event in its transaction: `hold.created`, `hold.captured` (with the event
of the transaction the capture posted: `transfer.created`, or the caller's), `hold.voided`,
`hold.expired`, for the hold's owner, `data` the hold as the API shows it.
"""

import functools
from datetime import datetime, timedelta
from uuid import UUID

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from audit.models import AuditAction
from audit.services import audit_record
from events.services import NewEvent, events_record

from .. import engine_sql, locks
from ..bodies import hold_body
from ..currencies import amount_check
from ..exceptions import (
    AccountNotFound,
    CaptureExceedsHold,
    CurrencyMismatch,
    HoldExpired,
    HoldNotActive,
    HoldNotFound,
    LedgerError,
    ManagedAccount,
    SelfTransfer,
)
from ..models import Account, BalanceBucket, Direction, Hold, HoldStatus, ReferenceNamespace, Transaction
from ..posting import insufficient_funds, refusal_error, system_account_named
from .postings import (
    EventOf,
    Leg,
    NewTransaction,
    _account_uuid,
    _engine,
    _post,
    announce,
    joins_transaction,
    system_accounts_create,
    system_bucket_pick,
    transfer_event,
)

HOLD_TTL_DEFAULT = 7 * 24 * 3600  # seconds: a week
HOLD_TTL_MAX = 30 * 24 * 3600


def hold_refusal(code: str, detail: dict) -> LedgerError:
    """The domain error for a refused hold, worded once for the ORM and the SQL functions alike."""
    if code == "account_not_found":
        return AccountNotFound(f"Account {detail['account_id']} does not exist.")
    if code == "wallet_account":
        return ManagedAccount(f"Account {detail['account_id']} is a wallet's account: hold it through the wallet "
                              "routes.", account_id=str(detail["account_id"]))
    if code == "currency_mismatch":
        return CurrencyMismatch(f"Source is in {detail['source']} and destination in {detail['destination']}; "
                                "a hold stays in one currency.")
    if code == "insufficient_funds":
        return insufficient_funds(detail["account_id"], detail["currency"], detail["available"], detail["requested"])
    if code == "balance_limit_exceeded":
        return refusal_error(code, detail, None)
    if code == "hold_not_found":
        return HoldNotFound(f"Hold {detail['hold_id']} does not exist.")
    hold = detail["hold"]
    if code == "wallet_hold":
        return ManagedAccount(f"Hold {hold['id']} is a wallet's hold: use the wallet routes.",
                              account_id=str(hold["source_account_id"]))
    if code == "hold_expired":
        return HoldExpired(f"Hold {hold['id']} expired at {_instant(hold['expires_at']).isoformat()}.")
    if code == "hold_not_active":
        return HoldNotActive(f"Hold {hold['id']} is {hold['status']}, not HELD.")
    if code == "capture_exceeds_hold":
        return CaptureExceedsHold(f"Hold {hold['id']} holds {hold['amount']} {hold['currency']}; "
                                  f"{detail['requested']} requested.")
    raise ValueError(f"unknown hold refusal {code!r}")


def hold_event(event_type: str, hold: Hold) -> NewEvent:
    """The event of a hold's change, for its owner: the hold as the API shows it now."""
    return NewEvent(type=event_type, owner=hold.owner, data=hold_body(hold))


def _instant(value) -> datetime:
    return value if isinstance(value, datetime) else parse_datetime(value)


def _sql_db() -> str | None:
    """The database whose SQL functions hold (PostgreSQL with the `auto` engine), else None: the ORM."""
    engine, db = _engine()
    return db if engine is engine_sql else None


@joins_transaction
def hold_create(
    *, source_id, destination_id, amount: int, owner: str, expires_in: int = HOLD_TTL_DEFAULT,
    description: str = "", accounts_owner: str | None = None, refuse_managed: bool = True,
) -> Hold:
    """Reserve `amount` of the source's available balance for a later transfer to the destination.

    As for transfers: `accounts_owner` given, only that owner's customer accounts exist, and
    `refuse_managed` refuses a wallet's account (the wallets app holds its own with it False).
    A system destination our code named (revenue, for a wallet hold) is created on first use.
    """
    amount_check(amount)
    if not 1 <= expires_in <= HOLD_TTL_MAX:
        raise ValueError(f"expires_in must be 1..{HOLD_TTL_MAX} seconds")
    source_id, destination_id = _account_uuid(source_id), _account_uuid(destination_id)
    if source_id == destination_id:
        raise SelfTransfer("Source and destination must be different accounts.")
    db = _sql_db()
    reserve = functools.partial(
        functools.partial(engine_sql.hold_create, db=db) if db else _hold_create_orm, owner=owner,
        accounts_owner=accounts_owner, refuse_managed=refuse_managed, source_id=source_id,
        destination_id=destination_id, amount=amount, expires_in=expires_in, description=description)
    refusal, detail, hold = reserve()
    named = system_account_named(destination_id)
    if refusal == "account_not_found" and detail["account_id"] == str(destination_id) and named and \
            accounts_owner is None:
        system_accounts_create(currencies=[named[1]])  # nothing was written or locked yet
        refusal, detail, hold = reserve()
    if refusal is not None:
        raise hold_refusal(refusal, detail)
    events_record([hold_event("hold.created", hold)])
    return hold


def _hold_create_orm(
    *, owner, accounts_owner, refuse_managed, source_id, destination_id, amount, expires_in, description,
) -> tuple[str | None, dict | None, Hold | None]:
    """What `ledger_hold_create` does, through the ORM, with the same refusals in the same order."""
    found = Account.objects.in_bulk([source_id, destination_id])
    source, destination = found.get(source_id), found.get(destination_id)
    if source is None or source.is_system or (accounts_owner is not None and source.owner != accounts_owner):
        return "account_not_found", {"account_id": str(source_id)}, None
    if destination is None or (accounts_owner is not None and (destination.owner != accounts_owner
                                                               or destination.is_system)):
        return "account_not_found", {"account_id": str(destination_id)}, None
    if refuse_managed and (source.managed_by or destination.managed_by):
        return "wallet_account", {"account_id": str(source.id if source.managed_by else destination.id)}, None
    if source.currency != destination.currency:
        return "currency_mismatch", {"source": source.currency, "destination": destination.currency}, None
    bucket = locks.buckets_for_update({source.id: 0})[source.id]
    available = bucket.balance - locks.active_held({source.id: bucket})[source.id]
    if amount > available:
        return "insufficient_funds", {"account_id": str(source.id), "currency": source.currency,
                                      "available": available, "requested": amount}, None
    now = timezone.now()
    hold = Hold.objects.create(
        owner=owner, source_account=source, destination_account=destination, amount=amount,
        currency=source.currency, description=description, expires_at=now + timedelta(seconds=expires_in),
        created_at=now,
    )
    BalanceBucket.objects.filter(pk=bucket.pk).update(held=F("held") + amount)
    return None, None, hold


def _hold_uuid(hold_id) -> UUID:
    try:
        return hold_id if isinstance(hold_id, UUID) else UUID(str(hold_id))
    except ValueError:  # an id that cannot exist does not, as for accounts (not a 422 on the pk lookup)
        raise HoldNotFound(f"Hold {hold_id} does not exist.") from None


def _active_hold(hold_id: UUID, owner: str | None, refuse_managed: bool, requested: int | None = None) -> Hold:
    """Lock the hold and return it if it still reserves money (and covers `requested`), or refuse."""
    hold = locks.hold_for_update(hold_id)
    if hold is None or (owner is not None and hold.owner != owner):
        raise hold_refusal("hold_not_found", {"hold_id": hold_id})
    detail = {"hold": {"id": hold.id, "source_account_id": hold.source_account_id, "status": hold.status,
                       "expires_at": hold.expires_at, "amount": hold.amount, "currency": hold.currency},
              "requested": requested}
    # The balance rows before the clock (as migration 0013): a debit that took them first decided
    # with the clock before us, so an expiry is seen the same way on both sides.
    buckets = {hold.source_account_id: 0}
    if not hold.destination_account.is_system:  # a system leg's bucket is picked by the posting
        buckets[hold.destination_account_id] = 0
    locks.buckets_for_update(buckets)
    status = hold.current_status
    if refuse_managed and hold.source_account.managed_by:
        raise hold_refusal("wallet_hold", detail)
    if status == HoldStatus.EXPIRED:
        raise hold_refusal("hold_expired", detail)
    if status != HoldStatus.HELD:
        raise hold_refusal("hold_not_active", detail)
    if requested is not None and requested > hold.amount:
        raise hold_refusal("capture_exceeds_hold", detail)
    return hold


def _release(hold: Hold, status: str, *, captured_amount: int = 0) -> None:
    """End the hold (locked by the caller): from now on it reserves nothing."""
    hold.status, hold.captured_amount, hold.finished_at = status, captured_amount, timezone.now()
    hold.save(update_fields=["status", "captured_amount", "finished_at"])


def _give_back(hold: Hold) -> None:
    """Take an ended hold off its bucket's `held`. After any posting: that keeps the buckets' lock order."""
    BalanceBucket.objects.filter(account_id=hold.source_account_id, bucket=0).update(held=F("held") - hold.amount)


@joins_transaction
def hold_capture(
    *, hold_id, amount: int | None = None, owner: str | None = None, refuse_managed: bool = True,
    kind: str = "transfer", metadata: dict | None = None, event: EventOf = transfer_event,
) -> tuple[Hold, Transaction]:
    """Move `amount` (default: all) of a HELD hold to its destination in one transaction; release the rest.

    `owner` given, another owner's hold does not exist. The transfer's reference is the hold's
    (`Hold.capture_reference`), so a hold is captured once whatever the callers do. Records
    `hold.captured` and `event` of the posted transaction (a wallet's: its spend), in one INSERT.
    """
    hold_id = _hold_uuid(hold_id)
    if amount is not None:
        amount_check(amount)
    db = _sql_db()
    if db is None:
        hold, txn = _hold_capture_orm(hold_id, amount, owner, refuse_managed, kind, metadata)
    else:
        hold, txn = _hold_capture_sql(hold_id, amount, owner, refuse_managed, kind, metadata, db)
    events_record([hold_event("hold.captured", hold), event(txn)])
    return hold, txn


def _hold_capture_sql(hold_id, amount, owner, refuse_managed, kind, metadata, db) -> tuple[Hold, Transaction]:
    """One call of `ledger_hold_capture` (again, if a system bucket was missing)."""
    capture = functools.partial(engine_sql.hold_capture, hold_id=hold_id, owner=owner, refuse_managed=refuse_managed,
                                amount=amount, kind=kind, metadata=metadata, db=db)
    refusal, detail, hold, txn = capture(bucket=system_bucket_pick())
    if refusal == "system_accounts_missing":  # a bucket the setting added since: nothing was written yet
        system_accounts_create(currencies=detail["currencies"])
        refusal, detail, hold, txn = capture(bucket=system_bucket_pick())
    if refusal is not None:
        raise hold_refusal(refusal, detail)
    announce([(txn, False)], db=db)
    return hold, txn


def _hold_capture_orm(hold_id, amount, owner, refuse_managed, kind, metadata) -> tuple[Hold, Transaction]:
    """What `ledger_hold_capture` does, through the ORM."""
    hold = _active_hold(hold_id, owner, refuse_managed, requested=amount)
    amount = hold.amount if amount is None else amount
    # Ended before the posting, so the posting's own check no longer counts it as reserved.
    _release(hold, HoldStatus.CAPTURED, captured_amount=amount)
    destination = hold.destination_account
    credit = (Leg(None, Direction.CREDIT, amount, system=destination.name) if destination.is_system
              else Leg(destination.id, Direction.CREDIT, amount))
    entry = NewTransaction(reference=hold.capture_reference, kind=kind, description=hold.description,
                           metadata=metadata, legs=[Leg(hold.source_account_id, Direction.DEBIT, amount), credit])
    try:
        txn = _post(owner=hold.owner, namespace=ReferenceNamespace.SYSTEM, entries=[entry])[0]
    except LedgerError:  # the destination would pass the balance limit: the hold stays as it was
        hold.status, hold.captured_amount, hold.finished_at = HoldStatus.HELD, 0, None
        hold.save(update_fields=["status", "captured_amount", "finished_at"])
        raise
    _give_back(hold)
    return hold, txn


@joins_transaction
def hold_void(*, hold_id, owner: str | None = None, refuse_managed: bool = True) -> Hold:
    """Release a HELD hold whole: nothing moves."""
    hold = _active_hold(_hold_uuid(hold_id), owner, refuse_managed)
    _release(hold, HoldStatus.VOIDED)
    _give_back(hold)
    events_record([hold_event("hold.voided", hold)])
    return hold


@transaction.atomic
def operator_hold_void(*, hold_id, user, note: str) -> Hold:
    """Void a HELD hold as an operator, a wallet's too, and record it in the audit log with the note.

    The note is required: an operator releasing money a client reserved must say why. The audit
    entry commits with the void, or neither does.
    """
    note = (note or "").strip()
    if not note:
        raise ValueError("An operator's void needs a note for the audit log.")
    hold = hold_void(hold_id=hold_id, refuse_managed=False)
    after = {"status": hold.status, "amount": hold.amount, "currency": hold.currency,
             "source_account_id": str(hold.source_account_id)}
    audit_record(actor=user, action=AuditAction.HOLD_VOIDED, target_type="hold", target_id=hold.pk,
                 before={**after, "status": HoldStatus.HELD}, after=after, note=note)  # hold_void voids only HELD
    return hold


def holds_expire(*, now=None, limit: int = 1000) -> list[Hold]:
    """Record as EXPIRED the HELD holds past `expires_at` (oldest first, up to `limit`); return them.

    They reserved nothing since they expired; this gives back their `held`. One short transaction
    per hold, so a capture racing it waits at most for one; whichever locks the hold first wins.
    """
    now = now or timezone.now()
    due = list(Hold.objects.filter(status=HoldStatus.HELD, expires_at__lte=now)
               .order_by("expires_at").values_list("pk", flat=True)[:limit])
    expired = []
    for hold_id in due:
        with transaction.atomic():
            hold = locks.hold_for_update(hold_id)
            if hold is None or hold.status != HoldStatus.HELD or hold.expires_at > now:
                continue
            _release(hold, HoldStatus.EXPIRED)
            _give_back(hold)
            events_record([hold_event("hold.expired", hold)])
            expired.append(hold)
    return expired
