"""The only place the ledger takes row locks.

Balance rows are locked FOR UPDATE in primary-key order, so two transactions touching the same
accounts always queue instead of deadlocking. Only `AccountBalance` rows are locked: postings
reference `Account` rows by foreign key, and locking those would collide with the key-share locks
every posting insert takes. (SQLite ignores FOR UPDATE: its IMMEDIATE transactions serialize
writers for the whole database.)
"""

from collections.abc import Iterable
from uuid import UUID

from .models import AccountBalance


def balances_for_update(account_ids: Iterable[UUID]) -> dict[UUID, AccountBalance]:
    """Lock the balance rows of these accounts, in pk order, with their accounts loaded."""
    rows = (
        AccountBalance.objects.select_related("account")
        .filter(account_id__in=set(account_ids))
        .order_by("account_id")
        .select_for_update(of=("self",))
    )
    return {row.account_id: row for row in rows}
