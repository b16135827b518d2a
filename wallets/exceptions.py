"""Wallet errors: `LedgerError` subclasses, so the one API exception handler maps them."""

from ledger.exceptions import LedgerError


class WalletNotFound(LedgerError):
    """The user has no wallet for this API client (or only another client's user has)."""

    code = "wallet_not_found"
    title = "Wallet not found"
    category = "not_found"
