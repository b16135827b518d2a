"""Searching by amount, as the dashboard prints it, and the ledger's dashboard lists: customer
accounts and holds.

Every app's dashboard list searches amounts the same way: what an operator types ("489.00", "489",
"1,000.00", "$5", "5 USD") is read, as the refund form reads it, in each currency its rows use, so
"489" finds 489.00 USD and 489 JPY alike, and "$5" finds 5.00 USD but not 5 EUR.
"""

import re
from collections.abc import Iterable

from django import forms
from django.db.models import Case, F, Q, QuerySet, When
from django.utils import timezone

from mintguard_site.search import SORTS, created_between, id_matches, ordering

from .exceptions import UnknownCurrency
from .forms import parse_major_amount
from .models import Account, Hold, HoldStatus
from .selectors import holds_with_status

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


# The holds list opens on what needs attention: the active holds that lapse soonest.
HOLD_SORTS = {"expiring": "Expiring soon first", **SORTS}


def holds_search(
    *, q: str = "", status: str = "", account: str = "", created_from=None, created_to=None, sort: str = "expiring",
) -> QuerySet:
    """Return holds with both their accounts, in `sort` order.

    "expiring" lists the active holds first, the soonest expiry first, then every other hold
    newest first. `status` is the status as of now (`holds_with_status`: HELD means active, and
    EXPIRED includes a HELD hold past its expiry that the expiry job has not visited yet).
    `account` is an account's id, full or its first 4-8 characters, on either side of the hold.
    `q` matches the hold's id (full or its first 4-8 characters), part of its description, its
    owner, or its amount in major units.
    """
    holds = Hold.objects.select_related("source_account", "destination_account")
    if q:
        currencies = Hold.objects.values_list("currency", flat=True).distinct().order_by()
        holds, by_id = id_matches(holds, q)
        holds = holds.filter(by_id | Q(description__icontains=q) | Q(owner=q) | amount_matches(q, currencies))
    if status:
        holds = holds_with_status(holds, status)
    if account:
        holds, by_source = id_matches(holds, account, "source_account_id")
        holds, by_destination = id_matches(holds, account, "destination_account_id")
        holds = holds.filter(by_source | by_destination)
    holds = holds.filter(created_between(created_from, created_to))
    if sort != "expiring":
        return holds.order_by(*ordering(sort))
    # NULL for every hold that is not active, so those follow the active ones, newest first.
    active_expiry = Case(When(status=HoldStatus.HELD, expires_at__gt=timezone.now(), then=F("expires_at")))
    return holds.order_by(active_expiry.asc(nulls_last=True), "-created_at", "-id")
