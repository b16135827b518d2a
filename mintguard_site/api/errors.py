"""RFC 9457 problem details: one exception hierarchy, one handler, no 500 for bad input.

Every error body is `{"type", "title", "status", "detail", "code"}` (+ `errors` for validation),
served as `application/problem+json`. `code` is stable snake_case: clients branch on it.
"""

import logging

from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions as drf
from rest_framework.response import Response

from mintguard_site.errors import DomainError

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"

# How a domain error's category maps to HTTP (the ledger and apps know nothing of HTTP).
CATEGORY_STATUS = {"invalid": 400, "unauthenticated": 401, "not_found": 404, "conflict": 409, "validation": 422}


class ApiError(Exception):
    """An error raised by the HTTP layer itself, with its status and stable code."""

    status = 400
    code = "bad_request"
    title = "Bad request"

    def __init__(self, detail: str = "", *, status: int | None = None, code: str | None = None,
                 title: str | None = None, headers: dict | None = None, errors: dict | None = None):
        super().__init__(detail)
        self.detail = detail or title or self.title
        self.status = status or self.status
        self.code = code or self.code
        self.title = title or self.title
        self.headers = headers or {}
        self.errors = errors


class InvalidParameter(ApiError):
    code, title = "invalid_parameter", "Invalid query parameter"


class InvalidCursor(ApiError, BadRequest):
    """Also Django's BadRequest, so a dashboard page answers 400 for it like the API does."""

    code, title = "invalid_cursor", "Invalid cursor"


def problem(status: int, code: str, title: str, detail: str = "", *, errors: dict | None = None) -> dict:
    body = {
        "type": f"/problems/{code.replace('_', '-')}",
        "title": title,
        "status": status,
        "detail": detail or title,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    return body


def problem_response(status: int, code: str, title: str, detail: str = "", *, errors: dict | None = None,
                     headers: dict | None = None) -> Response:
    return Response(
        problem(status, code, title, detail, errors=errors),
        status=status,
        headers=headers,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def _flatten(detail) -> dict:
    """DRF's nested error detail -> {"field": ["message", ...]}."""
    if isinstance(detail, dict):
        flat = {}
        for field, value in detail.items():
            if isinstance(value, dict):
                for sub, messages in _flatten(value).items():
                    flat[f"{field}.{sub}"] = messages
            else:
                flat[str(field)] = [str(m) for m in (value if isinstance(value, list) else [value])]
        return flat
    messages = detail if isinstance(detail, list) else [detail]
    return {"non_field_errors": [str(m) for m in messages]}


# DRF exception class -> (code, title); the status comes from the exception.
_DRF_CODES = {
    drf.ParseError: ("malformed_request", "Malformed request body"),
    drf.UnsupportedMediaType: ("unsupported_media_type", "Unsupported media type"),
    drf.NotAuthenticated: ("not_authenticated", "Authentication required"),
    drf.AuthenticationFailed: ("authentication_failed", "Invalid credentials"),
    drf.PermissionDenied: ("permission_denied", "Not allowed"),
    drf.NotFound: ("not_found", "Not found"),
    drf.MethodNotAllowed: ("method_not_allowed", "Method not allowed"),
    drf.NotAcceptable: ("not_acceptable", "Not acceptable"),
    drf.Throttled: ("rate_limited", "Too many requests"),
}


def problem_exception_handler(exc, context) -> Response | None:
    """DRF's EXCEPTION_HANDLER: turn every known exception into problem+json."""
    if isinstance(exc, ApiError):
        return problem_response(exc.status, exc.code, exc.title, exc.detail, errors=exc.errors, headers=exc.headers)
    if isinstance(exc, DomainError):
        status = CATEGORY_STATUS.get(exc.category, 400)
        errors = {exc.context["field"]: [exc.detail]} if "field" in exc.context else None
        if status == 422 and errors is None:
            errors = {"non_field_errors": [exc.detail]}
        return problem_response(status, exc.code, exc.title, exc.detail, errors=errors)
    if isinstance(exc, drf.ValidationError):
        errors = _flatten(exc.detail)
        summary = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in errors.items())
        return problem_response(422, "validation_error", "Invalid request", summary[:500], errors=errors)
    if isinstance(exc, DjangoValidationError):
        errors = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return problem_response(422, "validation_error", "Invalid request", "; ".join(exc.messages)[:500],
                                errors=errors)
    if isinstance(exc, Http404):
        return problem_response(404, "not_found", "Not found", "The resource does not exist.")
    if isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    if isinstance(exc, RequestDataTooBig):
        return problem_response(413, "payload_too_large", "Request body too large")
    if isinstance(exc, SuspiciousOperation):
        return problem_response(400, "bad_request", "Bad request", str(exc)[:200])
    if isinstance(exc, OperationalError | InterfaceError):
        # The database went away (restart, failover, network): not a bug in this request. The
        # transaction rolled back and the idempotency key is released, so a retry runs afresh.
        logger.warning("database unavailable: %s", exc)
        return problem_response(503, "database_unavailable", "Service unavailable",
                                "The database is unavailable; retry shortly with the same Idempotency-Key.",
                                headers={"Retry-After": "1"})
    if isinstance(exc, IntegrityError):
        # A constraint caught what a concurrent request slipped past the checks: a conflict.
        logger.warning("integrity conflict: %s", exc)
        return problem_response(409, "conflict", "Conflict", "The request conflicts with a concurrent change; retry.")
    if isinstance(exc, drf.APIException):
        code, title = next(
            (value for cls, value in _DRF_CODES.items() if isinstance(exc, cls)),
            (str(exc.default_code), str(exc.default_detail)),
        )
        headers = {}
        if isinstance(exc, drf.Throttled) and exc.wait is not None:
            headers["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
        if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
            headers["WWW-Authenticate"] = 'Bearer realm="api"'
        detail = exc.detail if isinstance(exc.detail, str) else title
        return problem_response(exc.status_code, code, title, str(detail), headers=headers)
    return None


def json_problem(status: int, code: str, title: str, detail: str = "") -> JsonResponse:
    """A problem+json response outside DRF (middleware, URL handlers)."""
    return JsonResponse(problem(status, code, title, detail), status=status, content_type=PROBLEM_CONTENT_TYPE)


@csrf_exempt  # an unknown route has nothing to protect: answer 404, not a CSRF page
def api_not_found(request, *args, **kwargs):
    return json_problem(404, "not_found", "Not found", "No such API route.")


def handler404(request, exception=None):
    """Unknown URLs: problem+json under /api/, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return json_problem(404, "not_found", "Not found", "No such resource.")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request):
    if request.path.startswith("/api/"):
        return json_problem(500, "internal_error", "Internal server error", "An unexpected error occurred.")
    from django.views.defaults import server_error

    return server_error(request)


def handler400(request, exception=None):
    if request.path.startswith("/api/"):
        return json_problem(400, "bad_request", "Bad request")
    from django.views.defaults import bad_request

    return bad_request(request, exception)
