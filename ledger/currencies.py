"""Currencies and custom assets, with their minor-unit exponents.

ISO 4217 data comes from the `iso4217` package; custom assets (e.g. `GOLD:0`) from the
`MINTGUARD_ASSETS` setting. Amounts are always integers in the minor unit.
"""

from decimal import Decimal
from functools import cache

from django.conf import settings
from iso4217 import Currency

from .exceptions import UnknownCurrency


@cache
def _iso_exponents() -> dict[str, int]:
    # Funds and metals without a minor unit (XAU, XDR...) have no exponent: not money here.
    return {c.code: c.exponent for c in Currency if c.exponent is not None}


def currency_exponent(code: str) -> int:
    """Return the minor-unit exponent of an ISO 4217 currency or configured asset."""
    if not isinstance(code, str):
        raise UnknownCurrency("Currency must be a code such as USD.")
    custom = settings.MINTGUARD_ASSETS
    if code in custom:
        return custom[code]
    exponent = _iso_exponents().get(code)
    if exponent is None:
        raise UnknownCurrency(f"Unknown currency {code[:16]!r}: not ISO 4217 nor a configured asset.")
    return exponent


def validate_currency(code: str) -> str:
    currency_exponent(code)
    return code


def format_amount(amount: int, currency: str) -> str:
    """Format minor units for humans: 1200 USD -> '12.00 USD', 35 GOLD -> '35 GOLD'."""
    exponent = currency_exponent(currency)
    major = Decimal(amount).scaleb(-exponent)
    return f"{major:,.{exponent}f} {currency}"
