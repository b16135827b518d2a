"""Every write to the ledger: postings (`postings`), holds (`holds`) and reversals (`reversals`). Import services
from here."""

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
from .reversals import (
    REVERSAL_KIND,
    REVERSIBLE_KINDS,
    is_reversible,
    operator_transaction_reverse,
    reversal_refusal,
    transaction_reverse,
)

__all__ = [
    "ENGINES", "HOLD_TTL_DEFAULT", "HOLD_TTL_MAX", "REVERSAL_KIND", "REVERSIBLE_KINDS", "SYSTEM_ACCOUNT_KINDS", "Leg",
    "NewTransaction", "NewTransfer", "PostingRequest", "SystemAccountsMissing", "account_create", "deposit",
    "hold_capture", "hold_create", "hold_void", "holds_expire", "is_reversible", "joins_transaction",
    "operator_hold_void", "operator_transaction_reverse", "reversal_refusal", "system_account_id",
    "system_account_named", "system_accounts_create", "system_bucket_count", "transaction_batch_post",
    "transaction_post", "transaction_reverse", "transfer_create", "transfers_create", "withdraw",
]
