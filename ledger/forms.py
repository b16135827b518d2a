"""Money as people type it on the dashboard's forms: major units in, exact minor units out.

Every app's forms use these; the services decide what the amount means.
"""

import re
from decimal import Decimal

from django import forms

from .currencies import amount_check, currency_exponent
from .exceptions import InvalidAmount

_MAJOR_UNITS = re.compile(r"(?P<whole>[0-9]+)(?:\.(?P<fraction>[0-9]+))?")


def major_to_minor(text: str, currency: str) -> int:
    """Convert "12.50" in `currency` to minor units (1250 for USD) exactly, with Decimal.

    Refuse signs, exponents, separators and more decimals than the currency has: "12.505" USD or
    "3.5" JPY are errors, never rounded.
    """
    text = (text or "").strip()
    match = _MAJOR_UNITS.fullmatch(text)
    exponent = currency_exponent(currency)
    if match is None:
        example = "12" if exponent == 0 else "12." + "5" * exponent
        raise forms.ValidationError(f"Enter an amount in {currency} such as {example}.", code="invalid")
    fraction = match["fraction"] or ""
    if len(fraction) > exponent:
        places = "no decimals" if exponent == 0 else f"at most {exponent} decimal{'s' if exponent > 1 else ''}"
        raise forms.ValidationError(f"{currency} amounts have {places}.", code="too_precise")
    minor = int(Decimal(text).scaleb(exponent))
    try:
        return amount_check(minor)
    except InvalidAmount:
        raise forms.ValidationError("Enter an amount greater than zero.", code="out_of_range") from None


def minor_to_major(amount: int, currency: str) -> str:
    """Return minor units as the plain major-unit text an input shows: 1250 USD -> "12.50"."""
    exponent = currency_exponent(currency)
    return f"{Decimal(amount).scaleb(-exponent):.{exponent}f}"
