"""Searching a list by what an operator types: a row's id, whole or its first characters.

The dashboard's lists show an id by its first 8 hex characters (the part before the first hyphen),
so that is what people copy; it reads the same in PostgreSQL's uuid text and SQLite's 32-hex
storage. Imports no app: every app's selectors use it.
"""

import re
import uuid

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
