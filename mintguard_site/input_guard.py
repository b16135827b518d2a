"""One check at the door: control characters in a path or a query parameter are a 400, everywhere.

PostgreSQL refuses NUL in text, so a NUL that reaches a query raises instead of matching nothing,
and no id, filter, search or cursor of ours has any use for a control character. Rather than every
view defending itself, this middleware refuses a C0 control character or DEL in the decoded path
or in any decoded query key or value, before any view runs: API routes answer problem+json
`invalid_parameter`, the dashboard and the admin Django's 400 page. It runs on every request, so it
is two regex searches over strings the request already holds, and nothing is decoded to check.

Bodies are checked where they are parsed: DRF's and Django's form CharFields refuse NUL, and
`BoundedJSONParser` bounds JSON nesting.
"""

import re

from django.core.exceptions import BadRequest

from mintguard_site.api.errors import json_problem

# The path is already percent-decoded (by the server, then Django).
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")
# The raw query string: a control character arrives either as a byte or as the escape that decodes
# to it. Decoding (QueryDict: UTF-8, invalid bytes replaced) yields one from nothing else.
_CONTROL_IN_QUERY = re.compile(r"[\x00-\x1f\x7f]|%(?:[01][0-9A-Fa-f]|7[Ff])")

REFUSAL = "Path and query parameters must not contain control characters (U+0000-U+001F, U+007F)."


def has_control_characters(path: str, query_string: str) -> bool:
    """True when the decoded path or the decoded query string would contain a control character."""
    return bool(_CONTROL_CHARACTER.search(path) or (query_string and _CONTROL_IN_QUERY.search(query_string)))


class InputGuardMiddleware:
    """Refuse control characters in the path and the query string with a 400, before any view."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if has_control_characters(request.path, request.META.get("QUERY_STRING", "")):
            if request.path.startswith("/api/"):
                return json_problem(400, "invalid_parameter", "Invalid parameter", REFUSAL)
            raise BadRequest(REFUSAL)  # Django's 400 page, through handler400
        return self.get_response(request)
