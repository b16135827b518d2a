"""Every write to the ledger: postings (`postings`) and holds (`holds`). Import services from here."""

from .holds import (
    HOLD_TTL_DEFAULT,
    HOLD_TTL_MAX,
    hold_capture,
    hold_create,
    hold_void,
    holds_expire,
    operator_hold_void,
)
from .postings import (
    ENGINES,
    SYSTEM_ACCOUNT_KINDS,
    Leg,
    NewTransaction,
    NewTransfer,
    PostingRequest,
    SystemAccountsMissing,
    account_create,
    deposit,
    joins_transaction,
    system_account_id,
    system_account_named,
    system_accounts_create,
    system_bucket_count,
    transaction_batch_post,
    transaction_post,
    transfer_create,
    transfers_create,
    withdraw,
)

__all__ = [
    "ENGINES", "HOLD_TTL_DEFAULT", "HOLD_TTL_MAX", "SYSTEM_ACCOUNT_KINDS", "Leg", "NewTransaction", "NewTransfer",
    "PostingRequest", "SystemAccountsMissing", "account_create", "deposit", "hold_capture", "hold_create",
    "hold_void", "holds_expire", "joins_transaction", "operator_hold_void", "system_account_id", "system_account_named",
    "system_accounts_create", "system_bucket_count", "transaction_batch_post", "transaction_post",
    "transfer_create", "transfers_create", "withdraw",
]
