"""Cursor pagination: signed, opaque cursors and the `limit` rule every list shares.

A cursor is the position after the last item of a page, signed with SECRET_KEY so a client
cannot forge or edit one (400 invalid_cursor).
"""

from django.core import signing

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


def decode_cursor(request, scope: str) -> list | None:
    """Return the position in `?cursor=`, None without one, or raise InvalidCursor."""
    raw = request.query_params.get("cursor")
    if raw is None or raw == "":
        return None
    try:
        value = signing.loads(raw, salt=_SALT)
    except (signing.BadSignature, ValueError, TypeError, UnicodeError):
        raise InvalidCursor("The cursor is malformed or was not issued for this list.") from None
    if not isinstance(value, dict) or value.get("s") != scope or not isinstance(value.get("p"), list):
        raise InvalidCursor("The cursor was issued for another list.")
    return value["p"]
