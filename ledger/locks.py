"""The only place the ledger takes row locks.

Balance buckets are locked FOR UPDATE in (account, bucket) order, so two transactions touching
the same buckets always queue instead of deadlocking. Only `BalanceBucket` rows are locked:
postings reference `Account` rows by foreign key, and locking those would collide with the
key-share locks every posting insert takes. (SQLite ignores FOR UPDATE: its IMMEDIATE
transactions serialize writers for the whole database.)

A hold is locked before its account's bucket, by every hold service: capture, void and expiry lock
the hold, then (through the posting, or alone) the buckets; creating one locks only the bucket.

This is the only place Python takes ledger row locks. On PostgreSQL the posting function
`ledger_post` (migrations 0006, 0007) takes the same locks in the same order inside the database: one
bucket per account, `ORDER BY account_id, bucket ... FOR UPDATE`, before it reads a balance.
"""

from collections.abc import Mapping
from uuid import UUID

from django.db.models import Q, Sum

from .models import BalanceBucket, Hold


def buckets_for_update(buckets: Mapping[UUID, int]) -> dict[UUID, BalanceBucket]:
    """Lock one bucket per account ({account id: bucket}), in order, with their accounts loaded."""
    in_bucket_zero = [account_id for account_id, bucket in buckets.items() if bucket == 0]
    wanted = Q(account_id__in=in_bucket_zero, bucket=0) if in_bucket_zero else Q(pk__in=[])
    for account_id, bucket in buckets.items():
        if bucket:
            wanted |= Q(account_id=account_id, bucket=bucket)
    rows = (
        BalanceBucket.objects.select_related("account")
        .filter(wanted)
        .order_by("account_id", "bucket")
        .select_for_update(of=("self",))
    )
    return {row.account_id: row for row in rows}


def active_held(balances: Mapping[UUID, BalanceBucket]) -> dict[UUID, int]:
    """What the active holds reserve on each locked bucket's account, read under its lock.

    A bucket whose `held` is 0 has no HELD hold, so most postings look at no hold at all.
    """
    reserving = [account_id for account_id, row in balances.items() if row.held]
    held = dict.fromkeys(balances, 0)
    if reserving:
        rows = (Hold.objects.active().filter(source_account_id__in=reserving).order_by()
                .values("source_account_id").annotate(total=Sum("amount")))
        held.update({row["source_account_id"]: row["total"] for row in rows})
    return held


def hold_for_update(hold_id) -> Hold | None:
    """Lock a hold before its bucket (the order every hold service keeps), or None if it does not exist."""
    holds = Hold.objects.select_related("source_account", "destination_account").select_for_update(of=("self",))
    return holds.filter(pk=hold_id).first()
