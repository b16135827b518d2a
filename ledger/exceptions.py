"""Ledger errors: `DomainError`s, each with a stable `code` and a category (mintguard_site.errors)."""

from mintguard_site.errors import DomainError


class LedgerError(DomainError):
    code = "ledger_error"
    title = "Ledger error"


class InvalidTransaction(LedgerError):
    code = "invalid_transaction"
    title = "Invalid transaction"


class UnbalancedTransaction(InvalidTransaction):
    code = "unbalanced_transaction"
    title = "Unbalanced transaction"


class InvalidAmount(LedgerError):
    code = "invalid_amount"
    title = "Invalid amount"
    category = "validation"


class UnknownCurrency(LedgerError):
    code = "unknown_currency"
    title = "Unknown currency"
    category = "validation"


class CurrencyMismatch(LedgerError):
    code = "currency_mismatch"
    title = "Currency mismatch"


class SelfTransfer(LedgerError):
    code = "self_transfer"
    title = "Source and destination are the same account"


class AccountNotFound(LedgerError):
    code = "account_not_found"
    title = "Account not found"
    category = "not_found"


class TransferNotFound(LedgerError):
    code = "transfer_not_found"
    title = "Transfer not found"
    category = "not_found"


class InvalidStatementPosition(LedgerError):
    """A statement cursor of another shape: the account's buckets changed since it was issued."""

    code = "invalid_cursor"
    title = "Invalid cursor"


class InsufficientFunds(LedgerError):
    code = "insufficient_funds"
    title = "Insufficient funds"
    category = "conflict"


class BalanceLimitExceeded(LedgerError):
    code = "balance_limit_exceeded"
    title = "Balance limit exceeded"
    category = "conflict"


class ReferenceConflict(LedgerError):
    """The reference was already used for a different transaction."""

    code = "reference_conflict"
    title = "Reference already used for a different transaction"
    category = "conflict"


class ManagedAccount(LedgerError):
    """The account belongs to another app (a wallet's account): only that app moves its money."""

    code = "wallet_account"
    title = "Account managed by its wallet"
    category = "conflict"


class HoldNotFound(LedgerError):
    code = "hold_not_found"
    title = "Hold not found"
    category = "not_found"


class HoldNotActive(LedgerError):
    """Captured or voided already: a hold ends once."""

    code = "hold_not_active"
    title = "Hold is not active"
    category = "conflict"


class HoldExpired(HoldNotActive):
    code = "hold_expired"
    title = "Hold expired"


class CaptureExceedsHold(LedgerError):
    code = "capture_exceeds_hold"
    title = "Capture exceeds the held amount"
    category = "conflict"


class TransactionNotFound(LedgerError):
    code = "transaction_not_found"
    title = "Transaction not found"
    category = "not_found"


class NotReversible(LedgerError):
    """Only a client's own deposit, withdrawal or transfer is reversed this way (a payment is refunded)."""

    code = "not_reversible"
    title = "Transaction is not reversible"
    category = "conflict"


class AlreadyReversed(LedgerError):
    code = "already_reversed"
    title = "Transaction already reversed"
    category = "conflict"
