"""Searching by amount, as the dashboard prints it, and the ledger page's list of customer accounts.

Every app's dashboard list searches amounts the same way: what an operator types ("489.00", "489",
"1,000.00", "$5", "5 USD") is read, as the refund form reads it, in each currency its rows use, so
"489" finds 489.00 USD and 489 JPY alike, and "$5" finds 5.00 USD but not 5 EUR.
"""

import re
from collections.abc import Iterable

from django import forms
from django.db.models import Q, QuerySet

from mintguard_site.search import created_between, id_matches, ordering

from .exceptions import UnknownCurrency
from .forms import parse_major_amount
from .models import Account

# A number with at most a short code or symbol around it: "buyer-1" is not worth reading as money.
_LOOKS_LIKE_AMOUNT = re.compile(r"(?:[^\s0-9]{1,3}\s?)?[0-9][0-9.,]*(?:\s?[^\s0-9]{1,3})?")


def amount_in(text: str, currency: str) -> int | None:
    """Return `text` as minor units of `currency`, or None when it is not an amount of it."""
    try:
        return parse_major_amount(text, currency)
    except (forms.ValidationError, UnknownCurrency):
        return None


def amount_matches(text: str, currencies: Iterable[str], *, amount: str = "amount", currency: str = "currency") -> Q:
    """Match rows whose `amount` is `text` read in their own `currency`, one of `currencies`.

    `currencies` (a lazy queryset, say) is read only when `text` looks like an amount at all.
    """
    matches = Q(pk__in=[])
    if not _LOOKS_LIKE_AMOUNT.fullmatch(text):
        return matches
    for code in currencies:
        minor = amount_in(text, code)
        if minor is not None:
            matches |= Q(**{currency: code, amount: minor})
    return matches


def accounts_search(
    *, q: str = "", currency: str = "", created_from=None, created_to=None, sort: str = "-created",
) -> QuerySet:
    """Return the customer accounts the ledger page lists, with their balances, in `sort` order.

    `q` matches the id (full, or its first 4-8 characters), part of the name, the owner, or the
    balance in major units.
    """
    accounts = Account.objects.filter(is_system=False).with_balance()
    if q:
        currencies = Account.objects.filter(is_system=False).values_list("currency", flat=True).distinct().order_by()
        accounts, by_id = id_matches(accounts, q)
        accounts = accounts.filter(
            by_id | Q(name__icontains=q) | Q(owner=q) | amount_matches(q, currencies, amount="balance")
        )
    if currency:
        accounts = accounts.filter(currency=currency)
    return accounts.filter(created_between(created_from, created_to)).order_by(*ordering(sort, amount="balance"))
