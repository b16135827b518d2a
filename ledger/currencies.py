"""Currencies and custom assets, with their minor-unit exponents.

ISO 4217 data comes from the `iso4217` package; custom assets (e.g. `GOLD:0`) from the
`MINTGUARD_ASSETS` setting. Amounts are always integers in the minor unit.
"""

from decimal import Decimal
from functools import cache

from django.conf import settings
from iso4217 import Currency

from .exceptions import InvalidAmount, UnknownCurrency

# The largest amount of one posting, in minor units (10^15 cents: ten trillion dollars). Bigger
# ones are typos or attacks, and sums of many stay far inside a bigint.
MAX_AMOUNT = 10**15


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


def amount_check(amount, *, field: str | None = None) -> int:
    """Return `amount` if it is a whole number of minor units from 1 to MAX_AMOUNT; else InvalidAmount.

    The one home of the rule: the API's serializers, every service and the dashboard's forms ask it.
    """
    if type(amount) is not int or not 0 < amount <= MAX_AMOUNT:
        context = {"field": field} if field else {}
        raise InvalidAmount(f"Amount must be a whole number of minor units from 1 to {MAX_AMOUNT}, not {amount!r}.",
                            **context)
    return amount


def format_amount(amount: int, currency: str) -> str:
    """Format minor units for humans: 1200 USD -> '12.00 USD', 35 GOLD -> '35 GOLD'."""
    exponent = currency_exponent(currency)
    major = Decimal(amount).scaleb(-exponent)
    return f"{major:,.{exponent}f} {currency}"
