"""Request parsing: JSON only, bounded in size."""

from rest_framework.exceptions import APIException
from rest_framework.parsers import JSONParser

MAX_BODY_BYTES = 64 * 1024


class PayloadTooLarge(APIException):
    status_code = 413
    default_code = "payload_too_large"
    default_detail = f"Request bodies are limited to {MAX_BODY_BYTES} bytes."


class BoundedJSONParser(JSONParser):
    """DRF's strict JSON parser (no NaN or Infinity) that refuses oversized bodies before reading them."""

    def parse(self, stream, media_type=None, parser_context=None):
        context = parser_context or {}
        request = context.get("request")
        # A view may allow more (the transfer batch carries up to 1,000 transfers).
        limit = getattr(context.get("view"), "max_body_bytes", MAX_BODY_BYTES)
        length = request.META.get("CONTENT_LENGTH") if request is not None else None
        if length and length.isdigit() and int(length) > limit:
            raise PayloadTooLarge(f"Request bodies on this route are limited to {limit} bytes.")
        return super().parse(stream, media_type, parser_context)
