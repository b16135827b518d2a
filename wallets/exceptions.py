"""Wallet errors: `DomainError`s, so the one API exception handler maps them."""

from mintguard_site.errors import DomainError


class WalletNotFound(DomainError):
    """The user has no wallet for this API client (or only another client's user has)."""

    code = "wallet_not_found"
    title = "Wallet not found"
    category = "not_found"
