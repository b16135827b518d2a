"""Money as people type it on the dashboard's forms: major units in, exact minor units out, and
the ledger's own dashboard forms (voiding a hold, reversing a transaction).

Every app's forms use the amount parsers; the services decide what the amount means.
"""

import re
from decimal import Decimal

from django import forms

from audit.services import NOTE_MAX

from .currencies import MAX_AMOUNT, amount_check, currency_exponent, format_amount
from .exceptions import InvalidAmount, UnknownCurrency

_MAJOR_UNITS = re.compile(r"(?P<whole>[0-9]+)(?:\.(?P<fraction>[0-9]+))?")
# An amount as written: an optional code or symbol before or after the number (ASCII digits only).
_WRITTEN_AMOUNT = re.compile(r"(?P<before>[^0-9]*?)\s*(?P<number>[0-9][0-9.,]*)\s*(?P<after>[^0-9]*)")
_THOUSANDS = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?")
# Symbols people write for a currency, and the currencies that write them: "$" is every dollar's.
CURRENCY_SYMBOLS = {
    "$": {"USD", "CAD", "AUD", "NZD", "SGD", "HKD", "MXN"}, "US$": {"USD"}, "€": {"EUR"}, "£": {"GBP"},
    "¥": {"JPY", "CNY"}, "₹": {"INR"}, "₩": {"KRW"}, "₽": {"RUB"}, "₺": {"TRY"}, "₪": {"ILS"}, "zł": {"PLN"},
}


def major_to_minor(text: str, currency: str) -> int:
    """Convert "12.50" in `currency` to minor units (1250 for USD) exactly, with Decimal.

    Refuse signs, exponents, separators and more decimals than the currency has: "12.505" USD or
    "3.5" JPY are errors, never rounded.
    """
    text = (text or "").strip()
    match = _MAJOR_UNITS.fullmatch(text)
    exponent = currency_exponent(currency)
    if match is None:
        raise _not_an_amount(currency)
    fraction = match["fraction"] or ""
    if len(fraction) > exponent:
        places = "no decimals" if exponent == 0 else f"at most {exponent} decimal{'s' if exponent > 1 else ''}"
        raise forms.ValidationError(f"{currency} amounts have {places}.", code="too_precise")
    minor = int(Decimal(text).scaleb(exponent))
    try:
        return amount_check(minor)
    except InvalidAmount:
        if minor > 0:  # past MAX_AMOUNT
            largest = format_amount(MAX_AMOUNT, currency)
            raise forms.ValidationError(f"Enter at most {largest}.", code="too_large") from None
        raise forms.ValidationError("Enter an amount greater than zero.", code="out_of_range") from None


def _not_an_amount(currency: str) -> forms.ValidationError:
    exponent = currency_exponent(currency)
    example = "12" if exponent == 0 else "12." + "5" * exponent
    return forms.ValidationError(f"Enter an amount in {currency} such as {example}.", code="invalid")


def minor_to_major(amount: int, currency: str) -> str:
    """Return minor units as the plain major-unit text an input shows: 1250 USD -> "12.50"."""
    exponent = currency_exponent(currency)
    return f"{Decimal(amount).scaleb(-exponent):.{exponent}f}"


def parse_major_amount(text: str, currency: str) -> int:
    """Convert an amount written as the dashboard prints it to minor units, exactly: "1,000.00 USD" -> 100000.

    Besides what `major_to_minor` takes, accept commas between thousands and the code or symbol of
    `currency` before or after the number ("$5", "5 USD", "USD 5", "¥1,800"). Refuse, with a message
    that says why, another currency's code or symbol and any other use of a comma ("1,00",
    "1.000,00"), rather than guess what was meant.
    """
    text = (text or "").replace("\u00a0", " ").replace("\u202f", " ").strip()
    match = _WRITTEN_AMOUNT.fullmatch(text)
    if match is None or (match["before"] and match["after"]):
        raise _not_an_amount(currency)
    _check_currency_mark((match["before"] or match["after"]).strip(), currency)
    number = match["number"]
    if "," in number:
        example = "1,000" if currency_exponent(currency) == 0 else "1,000." + "0" * currency_exponent(currency)
        if not _THOUSANDS.fullmatch(number):
            raise forms.ValidationError(
                f"Use a comma only between thousands, as in {example}; a point separates the decimals.",
                code="separator")
        if "." not in number and currency_exponent(currency) == 3:
            # 1,800 could mean 1800 or 1.800 in a currency of three decimals.
            raise forms.ValidationError(f"Ambiguous in {currency}: write it without commas.", code="ambiguous")
        number = number.replace(",", "")
    return major_to_minor(number, currency)


def _check_currency_mark(mark: str, currency: str) -> None:
    """Refuse a code or symbol that is not `currency`'s; anything unknown is not an amount."""
    if not mark or mark.upper() == currency.upper() or currency in CURRENCY_SYMBOLS.get(mark, ()):
        return
    if mark in CURRENCY_SYMBOLS:
        raise forms.ValidationError(f"This amount is in {currency}: {mark} is another currency's symbol.",
                                    code="other_currency")
    try:
        currency_exponent(mark.upper())
    except UnknownCurrency:
        raise _not_an_amount(currency) from None
    raise forms.ValidationError(f"This amount is in {currency}, not {mark.upper()}.", code="other_currency")


class HoldVoidForm(forms.Form):
    """The operator's reason for voiding a hold: required, it goes to the audit log."""

    note = forms.CharField(max_length=NOTE_MAX, error_messages={
        "required": "Say why the hold is voided: the note goes to the audit log."})


class TransactionReverseForm(forms.Form):
    """The operator's reason for reversing a transaction: required, it goes to the audit log."""

    note = forms.CharField(max_length=NOTE_MAX, error_messages={
        "required": "Say why the transaction is reversed: the note goes to the audit log."})
