"""Request parsing: JSON only, bounded in size and in nesting, decoded by orjson where it agrees.

orjson is several times faster than the standard library but reads some bodies differently:
integers beyond 64 bits become floats, lone surrogates and a BOM are refused. So a body it refuses,
or one that holds a float (no field of ours takes one), is parsed again exactly as before this parser
existed (DRF's strict parser), and reaches the same value or the same refusal. Idempotency
fingerprints, built from the parsed body, are therefore unchanged.
"""

import io

import orjson
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser

MAX_BODY_BYTES = 64 * 1024
# No request of ours nests deeper than 3 (a batch of transfers); 64 leaves room and stays far
# below Python's recursion limit, which deeper bodies would reach in the decoder or in any
# recursive walk over them (validation, error flattening, fingerprinting).
MAX_JSON_DEPTH = 64


class PayloadTooLarge(APIException):
    status_code = 413
    default_code = "payload_too_large"
    default_detail = f"Request bodies are limited to {MAX_BODY_BYTES} bytes."


def refuse_oversized_body(request, *, limit: int = MAX_BODY_BYTES) -> None:
    """Raise PayloadTooLarge when the request declares a body over `limit` bytes, before anything reads it."""
    length = request.META.get("CONTENT_LENGTH") or ""
    if length.isascii() and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(f"Request bodies on this route are limited to {limit} bytes.")


def nests_deeper_than(data, limit: int) -> bool:
    """True when the JSON value's arrays and objects nest more than `limit` levels (walked level by level)."""
    level = [data] if isinstance(data, dict | list) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        level = [value for container in level
                 for value in (container.values() if isinstance(container, dict) else container)
                 if isinstance(value, dict | list)]
    return False


def holds_a_float(data) -> bool:
    """True when a number anywhere in the JSON value is a float (orjson's reading may differ)."""
    pending = [data]
    while pending:
        value = pending.pop()
        if isinstance(value, float):
            return True
        if isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


def _utf8(parser_context: dict) -> bool:
    encoding = (parser_context.get("encoding") or "utf-8").lower().replace("_", "-")
    return encoding in ("utf-8", "utf8")


class BoundedJSONParser(JSONParser):
    """DRF's strict JSON parser (no NaN or Infinity) that refuses oversized bodies before reading them
    and bodies nested deeper than MAX_JSON_DEPTH (400 malformed_request, never a RecursionError)."""

    def parse(self, stream, media_type=None, parser_context=None):
        context = parser_context or {}
        request = context.get("request")
        if request is not None:
            # A view may allow more (the transfer batch carries up to 1,000 transfers).
            refuse_oversized_body(request, limit=getattr(context.get("view"), "max_body_bytes", MAX_BODY_BYTES))
        too_deep = ParseError(f"JSON parse error: arrays and objects nest at most {MAX_JSON_DEPTH} levels deep.")
        body = stream.read()
        data = _orjson_reading(body) if _utf8(context) else None
        if data is None:
            try:
                data = super().parse(io.BytesIO(body), media_type, parser_context)
            except RecursionError:  # the decoder gave up long before our limit's check could run
                raise too_deep from None
        if nests_deeper_than(data, MAX_JSON_DEPTH):
            raise too_deep
        return data


def _orjson_reading(body: bytes):
    """orjson's reading of the body, or None where the strict parser must decide."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return None if holds_a_float(data) else data
