"""Searching a list by what an operator types (a row's id, whole or its first characters), and
the sorting and date range every dashboard list shares.

The dashboard's lists show an id by its first 8 hex characters (the part before the first hyphen),
so that is what people copy; it reads the same in PostgreSQL's uuid text and SQLite's 32-hex
storage. Imports no app: every app's selectors use it.
"""

import re
import uuid
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import CharField, Q
from django.db.models.functions import Cast

_ID_PREFIX = re.compile(r"[0-9a-f]{4,8}")


def as_uuid(text: str) -> uuid.UUID | None:
    """Return `text` as a UUID, or None when it is not one."""
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def id_matches(queryset, q: str, field_name: str = "id") -> tuple:
    """Return (queryset, Q) matching `field_name` by full UUID or by its first 4-8 hex characters.

    Anything else matches no row. The queryset comes back with the text alias the Q needs.
    """
    full = as_uuid(q)
    if full is not None:
        return queryset, Q(**{field_name: full})
    if _ID_PREFIX.fullmatch(q.lower()):
        alias = f"{field_name.replace('__', '_')}_text"
        queryset = queryset.alias(**{alias: Cast(field_name, output_field=CharField())})
        return queryset, Q(**{f"{alias}__startswith": q.lower()})
    return queryset, Q(pk__in=[])


# --- the state every dashboard list shares: sorting and a date range ---------------------------

# What a list can be sorted by, as the URL says it ("-" first: descending).
SORTS = {
    "-created": "Newest first", "created": "Oldest first", "-amount": "Largest amount", "amount": "Smallest amount",
}


def ordering(sort: str, *, created: str = "created_at", amount: str = "amount") -> tuple[str, str]:
    """Return the order_by of a `SORTS` key, the id last so that pages never overlap."""
    descending = sort.startswith("-")
    field = amount if sort.lstrip("-") == "amount" else created
    return (f"-{field}", "-id") if descending else (field, "id")


def created_between(first: date | None, last: date | None, field: str = "created_at") -> Q:
    """Match rows created from the start of `first` to the end of `last`, both whole UTC days."""
    condition = Q()
    if first:
        condition &= Q(**{f"{field}__gte": datetime.combine(first, time.min, tzinfo=UTC)})
    if last and last < date.max:  # the last day ends where the next begins; date.max has no next
        condition &= Q(**{f"{field}__lt": datetime.combine(last + timedelta(days=1), time.min, tzinfo=UTC)})
    return condition
