"""Cursor pagination: signed, opaque cursors and the `limit` rule every list shares.

A cursor is the position after the last item of a page, signed with SECRET_KEY so a client
cannot forge or edit one (400 invalid_cursor). The API and the dashboard page the same way.
"""

from collections.abc import Callable, Sequence
from datetime import datetime

from django.core import signing
from django.db.models import Q

from .errors import InvalidCursor, InvalidParameter

DEFAULT_LIMIT, MAX_LIMIT = 50, 200
_SALT = "mintguard.api.cursor"


def parse_limit(request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise InvalidParameter(f"limit must be an integer from 1 to {MAX_LIMIT}.")
    return int(raw)


def encode_cursor(scope: str, position: list) -> str:
    """Sign a page position for one list (`scope`), e.g. an account's statement."""
    return signing.dumps({"s": scope, "p": position}, salt=_SALT, compress=False)


def decode_cursor(request, scope: str, *, size: int | None = None) -> list | None:
    """Return the position in `?cursor=` (of `size` items, if given), None without one, or raise InvalidCursor."""
    raw = request.GET.get("cursor")
    if raw is None or raw == "":
        return None
    try:
        value = signing.loads(raw, salt=_SALT)
    except (signing.BadSignature, ValueError, TypeError, UnicodeError):
        raise InvalidCursor("The cursor is malformed or was not issued for this list.") from None
    position = value.get("p") if isinstance(value, dict) and value.get("s") == scope else None
    if not isinstance(position, list) or (size is not None and len(position) != size):
        raise InvalidCursor("The cursor was issued for another list.")
    return position


def newest_first(row) -> list:
    """The position of a row in a list ordered by (created_at, id) descending."""
    return [row.created_at.isoformat(), str(row.pk)]


def keyset_after(position: Sequence | None, *, field: str = "created_at", descending: bool = True) -> Q:
    """The condition for the rows after `position` ([moment, id], as `newest_first` writes it).

    The list is ordered by (`field`, id), newest first unless `descending` is False; without a
    position it matches every row.
    """
    if not position:
        return Q()
    moment, row_id = position
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    op = "lt" if descending else "gt"
    return Q(**{f"{field}__{op}": moment}) | Q(**{field: moment, f"id__{op}": row_id})


def page_of(rows: Sequence, *, scope: str, limit: int, position: Callable[[object], list]) -> tuple[list, str | None]:
    """Split `limit + 1` fetched rows into the page and the cursor of the next one (None: last page)."""
    page = list(rows[:limit])
    return page, encode_cursor(scope, position(page[-1])) if len(rows) > limit else None
