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
        request = (parser_context or {}).get("request")
        length = request.META.get("CONTENT_LENGTH") if request is not None else None
        if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
            raise PayloadTooLarge()
        return super().parse(stream, media_type, parser_context)
