"""JSON rendering with orjson, byte for byte what DRF's JSONRenderer writes, and negotiation that
picks it without parsing the usual Accept headers.

DRF's renderer (compact separators, UTF-8 not escaped, U+2028/U+2029 escaped, its encoder for
dates, decimals and the like) stays the reference: indented output (the browsable API), and any
value orjson cannot write the same way (integers beyond 64 bits, unusual keys), go through it.
"""

import orjson
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

# Dates and times go through DRF's encoder (its "Z" suffix); str subclasses and dicts are written
# as plain values, like the standard library does.
_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS
_drf_default = JSONEncoder().default
# JavaScript line terminators, escaped by DRF so the output is a strict JavaScript subset.
_LINE_SEPARATOR, _PARAGRAPH_SEPARATOR = "\u2028".encode(), "\u2029".encode()


def json_bytes(data) -> bytes | None:
    """`data` as DRF's compact JSON, or None when only DRF's renderer can write it identically."""
    try:
        rendered = orjson.dumps(data, default=_drf_default, option=_OPTIONS)
    except orjson.JSONEncodeError:
        return None
    if _LINE_SEPARATOR in rendered or _PARAGRAPH_SEPARATOR in rendered:
        rendered = rendered.replace(_LINE_SEPARATOR, b"\\u2028").replace(_PARAGRAPH_SEPARATOR, b"\\u2029")
    return rendered


class OrjsonRenderer(JSONRenderer):
    """`application/json` (and problem+json bodies, which the error handler renders through it)."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is not None and self.get_indent(accepted_media_type, renderer_context or {}) is None:
            rendered = json_bytes(data)
            if rendered is not None:
                return rendered
        return super().render(data, accepted_media_type, renderer_context)


# What API clients send, and what DRF's negotiation answers with the JSON renderer first anyway.
_PLAIN_ACCEPTS = frozenset({"", "*/*", "application/json"})


class JsonFirstNegotiation(DefaultContentNegotiation):
    """DRF's content negotiation, answered at once for the usual API call: no `?format=`, and an
    Accept that is absent, `*/*` or `application/json` (the same choice DRF makes, without parsing
    the header). Anything else (the browsable API, CSV) is negotiated in full."""

    def select_renderer(self, request, renderers, format_suffix=None):
        first = renderers[0] if renderers else None
        if (isinstance(first, OrjsonRenderer) and not format_suffix
                and request.META.get("HTTP_ACCEPT", "") in _PLAIN_ACCEPTS
                and self.settings.URL_FORMAT_OVERRIDE not in request.query_params):
            return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)
