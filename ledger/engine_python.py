"""The posting engine through the ORM: SQLite's, and PostgreSQL's with MINTGUARD_LEDGER_ENGINE=python.

It runs the checks of `ledger_post` (migrations 0006, 0007) in the same order, with the same figures:
accounts (not found, managed), missing system accounts, locks, balance per currency, the reference
rule, then overdraft and limit leg by leg. Every check runs before the first write, so a refusal
leaves nothing behind.
"""

import uuid
from collections import defaultdict
from uuid import UUID

from django.db import IntegrityError
from django.utils import timezone

from . import locks
from .models import BALANCE_LIMIT, DEBIT_NORMAL_KINDS, Account, BalanceBucket, Posting, Transaction, balance_effect
from .posting import (
    PostedLeg,
    PostingRequest,
    SystemAccountsMissing,
    concurrent_reference_conflict,
    refusal_error,
    system_account_id,
    transactions_from_legs,
)


def post(request: PostingRequest, *, db: str) -> list[tuple[Transaction, bool]]:
    """Post the request's transactions all-or-nothing; return each with whether it was posted before."""
    addressed = Account.objects.in_bulk({a for a in request.leg_accounts if a is not None})
    _refuse_accounts(request, addressed)
    accounts, buckets, system_currencies = _resolve(request, addressed)
    balances = locks.buckets_for_update(buckets)
    held = locks.active_held(balances)
    missing = {system_currencies[account_id] for account_id in buckets if account_id not in balances}
    if missing:
        raise SystemAccountsMissing(missing)
    _check_balanced(request, accounts, balances)
    posted_before = _posted_before(request, accounts, balances, held, db)
    if posted_before is not None:
        return posted_before

    # Read under the bucket locks: a later posting to the same bucket waits for our commit and
    # reads a later time, so `posted_at` follows entry numbers (model invariant 11).
    now = timezone.now()
    transaction_ids = [uuid.uuid4() for _ in request.entries]
    legs = _apply(request, accounts, balances, held, transaction_ids, now)
    posted = transactions_from_legs(request, legs, db=db)
    try:
        Transaction.objects.bulk_create([txn for txn, _ in posted])
    except IntegrityError as exc:
        # Only possible when a twin with the same reference but other accounts raced us.
        raise concurrent_reference_conflict() from exc
    Posting.objects.bulk_create([p for txn, _ in posted for p in txn.legs])
    BalanceBucket.objects.bulk_update(balances.values(), ["balance", "last_entry_number"], batch_size=500)
    return posted


def _refuse_accounts(request: PostingRequest, addressed: dict[UUID, Account]) -> None:
    """Refuse the first account named by id that is missing (or not the owner's), then the first managed one."""
    for account_id in request.leg_accounts:
        account = addressed.get(account_id)
        if account_id is not None and (account is None or not _visible(account, request.accounts_owner)):
            raise refusal_error("account_not_found", {"account_id": account_id}, request)
    if request.refuse_managed:
        for account_id in request.leg_accounts:
            if account_id is not None and addressed[account_id].managed_by:
                raise refusal_error("wallet_account", {"account_id": account_id}, request)


def _visible(account: Account, accounts_owner: str | None) -> bool:
    return accounts_owner is None or (account.owner == accounts_owner and not account.is_system)


def _resolve(request: PostingRequest, addressed: dict[UUID, Account]):
    """Return each leg's account id, one bucket per account, and the currency of each system account."""
    entry_currency: dict[int, str] = {}
    for entry, account_id in zip(request.leg_entries, request.leg_accounts, strict=True):
        if account_id is not None:
            entry_currency.setdefault(entry, addressed[account_id].currency)
    accounts, buckets, system_currencies = [], {}, {}
    for entry, account_id, system, currency, pick in zip(
        request.leg_entries, request.leg_accounts, request.leg_systems, request.leg_currencies,
        request.leg_buckets, strict=True,
    ):
        if account_id is None:
            currency = currency or entry_currency[entry]
            account_id = system_account_id(system, currency)
            system_currencies[account_id] = currency
        accounts.append(account_id)
        buckets.setdefault(account_id, pick if system else 0)  # the first leg's bucket
    return accounts, buckets, system_currencies


def _check_balanced(request: PostingRequest, accounts: list[UUID], balances: dict[UUID, BalanceBucket]) -> None:
    net: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for entry, account_id, direction, amount in zip(
        request.leg_entries, accounts, request.leg_directions, request.leg_amounts, strict=True
    ):
        net[entry][balances[account_id].account.currency] += amount if direction == "DEBIT" else -amount
    for entry in sorted(net):
        unbalanced = sorted(currency for currency, total in net[entry].items() if total)
        if unbalanced:
            leg_currencies = [balances[a].account.currency
                              for e, a in zip(request.leg_entries, accounts, strict=True) if e == entry]
            detail = {"entry": entry, "currencies": sorted(net[entry]), "unbalanced": unbalanced,
                      "leg_currencies": leg_currencies}
            raise refusal_error("unbalanced", detail, request)


def _legs_by_entry(request: PostingRequest, accounts: list[UUID]) -> dict[int, list[tuple]]:
    legs = defaultdict(list)
    for entry, account_id, direction, amount in zip(
        request.leg_entries, accounts, request.leg_directions, request.leg_amounts, strict=True
    ):
        legs[entry].append((account_id, direction, amount))
    return legs


def _posted_before(request, accounts, balances, held, db) -> list[tuple[Transaction, bool]] | None:
    """The transactions already posted under these references, or None if none was.

    Checked under the balance locks: a concurrent twin on the same accounts has committed.
    """
    references = [entry.reference for entry in request.entries]
    found = {t.reference: t for t in Transaction.objects.filter(
        owner=request.owner, namespace=request.namespace, reference__in=references)}
    if not found:
        return None
    stored = defaultdict(list)
    for posting in Posting.objects.filter(transaction__in=found.values()).select_related("account").order_by("id"):
        stored[posting.transaction_id].append(posting)
    wanted = _legs_by_entry(request, accounts)
    for number, reference in enumerate(references):
        txn = found.get(reference)
        if txn is None or sorted((p.account_id, p.direction, p.amount) for p in stored[txn.id]) != sorted(
            wanted[number]
        ):
            raise refusal_error("reference_conflict", {"reference": reference}, request)
    legs = [_replayed_leg(number, found[reference], posting, balances, held)
            for number, reference in enumerate(references) for posting in stored[found[reference].id]]
    return transactions_from_legs(request, legs, db=db)


def _apply(request, accounts, balances, held, transaction_ids, now) -> list[PostedLeg]:
    """Move each balance leg by leg, in order, refusing an overdraft or a balance past the limit.

    An overdraft is a customer balance below what its active holds reserve (`held`).
    """
    opening = {account_id: row.balance for account_id, row in balances.items()}
    requested: dict[UUID, int] = defaultdict(int)
    moves = []
    for entry, account_id, direction, amount in zip(
        request.leg_entries, accounts, request.leg_directions, request.leg_amounts, strict=True
    ):
        row = balances[account_id]
        account = row.account
        change = balance_effect(debit_normal=account.kind in DEBIT_NORMAL_KINDS, direction=direction, amount=amount)
        requested[account_id] += max(-change, 0)
        row.balance += change
        row.last_entry_number += 1
        if row.balance - held[account_id] < 0 and not row.allow_negative:
            detail = {"account_id": account_id, "currency": account.currency,
                      "available": opening[account_id] - held[account_id],
                      "requested": requested[account_id]}
            raise refusal_error("insufficient_funds", detail, request)
        if abs(row.balance) > BALANCE_LIMIT:
            raise refusal_error("balance_limit_exceeded", {"account_id": account_id}, request)
        moves.append((entry, account, direction, amount, row.bucket, row.last_entry_number, row.balance))
    entries = request.entries
    return [
        PostedLeg(entry, transaction_ids[entry], now, False, entries[entry].kind, entries[entry].description,
                  entries[entry].metadata or {}, None, account.id, direction, amount, account.currency, bucket,
                  entry_number, balance_after, account.owner, account.name, account.kind, account.is_system,
                  account.allow_negative, account.managed_by, account.created_at,
                  *_balance_and_available(account, balances, held))
        for entry, account, direction, amount, bucket, entry_number, balance_after in moves
    ]


def _balance_and_available(account: Account, balances: dict[UUID, BalanceBucket], held: dict[UUID, int]):
    """A customer account's balance now and what its active holds leave of it; None for a system account."""
    if account.is_system:
        return None, None
    balance = balances[account.id].balance
    return balance, balance - held[account.id]


def _replayed_leg(entry: int, txn: Transaction, posting: Posting, balances: dict[UUID, BalanceBucket],
                  held: dict[UUID, int]) -> PostedLeg:
    """A leg of a transaction posted before, its customer account's balance as it stands now."""
    account = posting.account
    return PostedLeg(
        entry, txn.id, txn.created_at, True, txn.kind, txn.description, txn.metadata, posting.pk,
        account.id, posting.direction, posting.amount, posting.currency, posting.bucket, posting.entry_number,
        posting.balance_after, account.owner, account.name, account.kind, account.is_system,
        account.allow_negative, account.managed_by, account.created_at,
        *_balance_and_available(account, balances, held),
    )
