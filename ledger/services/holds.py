"""Holds: money reserved on a customer account now, moved (captured) or released later.

A hold changes its bucket's `held` under the bucket's lock, as postings read it (model invariant
9); every service that ends a hold locks the hold first, then the bucket (`ledger.locks`). A HELD
hold past `expires_at` already reserves nothing (the engines and `Account.available` look at the
clock); `holds_expire` only records that and releases its `held`.
"""

from datetime import timedelta
from uuid import UUID

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from audit.services import audit_record

from .. import locks
from ..currencies import amount_check
from ..exceptions import (
    AccountNotFound,
    CaptureExceedsHold,
    CurrencyMismatch,
    HoldExpired,
    HoldNotActive,
    HoldNotFound,
    ManagedAccount,
    SelfTransfer,
)
from ..models import Account, BalanceBucket, Direction, Hold, HoldStatus, ReferenceNamespace, Transaction
from ..posting import insufficient_funds, system_account_named
from .postings import Leg, NewTransaction, _account_uuid, _post, joins_transaction, system_accounts_create

HOLD_TTL_DEFAULT = 7 * 24 * 3600  # seconds: a week
HOLD_TTL_MAX = 30 * 24 * 3600


@joins_transaction
def hold_create(
    *, source_id, destination_id, amount: int, owner: str, expires_in: int = HOLD_TTL_DEFAULT,
    description: str = "", accounts_owner: str | None = None, refuse_managed: bool = True,
) -> Hold:
    """Reserve `amount` of the source's available balance for a later transfer to the destination.

    As for transfers: `accounts_owner` given, only that owner's customer accounts exist, and
    `refuse_managed` refuses a wallet's account (the wallets app holds its own with it False).
    """
    amount_check(amount)
    if not 1 <= expires_in <= HOLD_TTL_MAX:
        raise ValueError(f"expires_in must be 1..{HOLD_TTL_MAX} seconds")
    source_id, destination_id = _account_uuid(source_id), _account_uuid(destination_id)
    if source_id == destination_id:
        raise SelfTransfer("Source and destination must be different accounts.")
    source, destination = _accounts(source_id, destination_id, accounts_owner)
    if refuse_managed:
        for account in (source, destination):
            if account.managed_by:
                raise ManagedAccount(f"Account {account.id} is a wallet's account: hold it through the wallet routes.",
                                     account_id=str(account.id))
    if source.currency != destination.currency:
        raise CurrencyMismatch(f"Source is in {source.currency} and destination in {destination.currency}; "
                               "a hold stays in one currency.")
    bucket = locks.buckets_for_update({source.id: 0})[source.id]
    available = bucket.balance - locks.active_held({source.id: bucket})[source.id]
    if amount > available:
        raise insufficient_funds(source.id, source.currency, available, amount)
    now = timezone.now()
    hold = Hold.objects.create(
        owner=owner, source_account=source, destination_account=destination, amount=amount,
        currency=source.currency, description=description, expires_at=now + timedelta(seconds=expires_in),
        created_at=now,
    )
    BalanceBucket.objects.filter(pk=bucket.pk).update(held=F("held") + amount)
    return hold


def _accounts(source_id, destination_id, accounts_owner: str | None) -> tuple[Account, Account]:
    """The source (a customer account) and the destination, as `accounts_owner` may see them.

    A system destination our code named (revenue, for a wallet hold) is created on first use.
    """
    found = Account.objects.in_bulk([source_id, destination_id])
    named = system_account_named(destination_id)
    if destination_id not in found and named and accounts_owner is None:
        system_accounts_create(currencies=[named[1]])
        found = Account.objects.in_bulk([source_id, destination_id])
    for account_id in (source_id, destination_id):
        account = found.get(account_id)
        visible = account is not None and (
            accounts_owner is None or (account.owner == accounts_owner and not account.is_system))
        if not visible or (account_id == source_id and account.is_system):
            raise AccountNotFound(f"Account {account_id} does not exist.")
    return found[source_id], found[destination_id]


def _active_hold(hold_id, owner: str | None, refuse_managed: bool) -> Hold:
    """Lock the hold and return it if it still reserves money, or refuse."""
    try:
        hold_id = hold_id if isinstance(hold_id, UUID) else UUID(str(hold_id))
    except ValueError:  # an id that cannot exist does not, as for accounts (not a 422 on the pk lookup)
        raise HoldNotFound(f"Hold {hold_id} does not exist.") from None
    hold = locks.hold_for_update(hold_id)
    if hold is None or (owner is not None and hold.owner != owner):
        raise HoldNotFound(f"Hold {hold_id} does not exist.")
    if refuse_managed and hold.source_account.managed_by:
        raise ManagedAccount(f"Hold {hold.id} is a wallet's hold: use the wallet routes.",
                             account_id=str(hold.source_account_id))
    status = hold.current_status
    if status == HoldStatus.EXPIRED:
        raise HoldExpired(f"Hold {hold.id} expired at {hold.expires_at.isoformat()}.")
    if status != HoldStatus.HELD:
        raise HoldNotActive(f"Hold {hold.id} is {status}, not HELD.")
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
    kind: str = "transfer", metadata: dict | None = None,
) -> tuple[Hold, Transaction]:
    """Move `amount` (default: all) of a HELD hold to its destination in one transaction; release the rest.

    `owner` given, another owner's hold does not exist. The transfer's reference is the hold's
    (`Hold.capture_reference`), so a hold is captured once whatever the callers do.
    """
    hold = _active_hold(hold_id, owner, refuse_managed)
    amount = hold.amount if amount is None else amount
    amount_check(amount)
    if amount > hold.amount:
        raise CaptureExceedsHold(f"Hold {hold.id} holds {hold.amount} {hold.currency}; {amount} requested.")
    # Ended before the posting, so the posting's own check no longer counts it as reserved.
    _release(hold, HoldStatus.CAPTURED, captured_amount=amount)
    destination = hold.destination_account
    credit = (Leg(None, Direction.CREDIT, amount, system=destination.name) if destination.is_system
              else Leg(destination.id, Direction.CREDIT, amount))
    entry = NewTransaction(reference=hold.capture_reference, kind=kind, description=hold.description,
                           metadata=metadata, legs=[Leg(hold.source_account_id, Direction.DEBIT, amount), credit])
    txn = _post(owner=hold.owner, namespace=ReferenceNamespace.SYSTEM, entries=[entry])[0]
    _give_back(hold)
    return hold, txn


@joins_transaction
def hold_void(*, hold_id, owner: str | None = None, refuse_managed: bool = True) -> Hold:
    """Release a HELD hold whole: nothing moves."""
    hold = _active_hold(hold_id, owner, refuse_managed)
    _release(hold, HoldStatus.VOIDED)
    _give_back(hold)
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
    # "hold.voided" is not yet an `AuditAction` member (that needs an audit migration); the log shows it as is.
    audit_record(actor=user, action="hold.voided", target_type="hold", target_id=hold.pk,
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
            expired.append(hold)
    return expired
