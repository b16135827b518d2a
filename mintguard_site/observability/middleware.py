"""One middleware for every request: a request id, a structured log line and the HTTP metrics."""

import logging
import re
import time
import uuid

from django.conf import settings
from django.utils.functional import LazyObject, empty

from mintguard_site.api.models import ApiClient

from . import logs

logger = logging.getLogger("mintguard.request")

REQUEST_ID_HEADER = "X-Request-ID"
# A caller's id is kept only if it is short and plain: it goes into every log line.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def request_id_of(request) -> str:
    # From META, not request.headers: building that mapping walks every header of the request.
    incoming = request.META.get("HTTP_X_REQUEST_ID", "")
    return incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex


def route_of(request) -> str:
    """Return the URL pattern the request matched: a bounded label, ids never in it."""
    match = getattr(request, "resolver_match", None)
    if match is not None and match.route:
        return match.route
    if match is not None:
        return match.view_name or "unnamed"
    static_url = "/" + settings.STATIC_URL.lstrip("/")
    return "static" if request.path.startswith(static_url) else "unmatched"


def caller_of(request) -> dict:
    """Return who called, by id and name: an API client or an operator. Never the key itself.

    DRF sets the authenticated principal on the Django request too. A session user still behind
    Django's lazy wrapper was never needed by the view, so it is left unevaluated (no query).
    """
    user = request.__dict__.get("user")
    if isinstance(user, LazyObject):
        if user._wrapped is empty:
            return {}
        user = user._wrapped
    if isinstance(user, ApiClient):
        return {"client_id": str(user.pk), "client_name": user.name}
    if user is not None and getattr(user, "is_authenticated", False):
        return {"operator_id": user.pk}
    return {}


class RequestObservabilityMiddleware:
    def __init__(self, get_response):
        # Imported here: Django's checks import middleware classes in every command, and in
        # multiprocess mode importing the metrics creates sample files; only servers need them.
        from . import metrics

        self.get_response = get_response
        self.metrics = metrics
        metrics.preinitialize()

    def __call__(self, request):
        request_id = request_id_of(request)
        request.request_id = request_id
        token = logs.bind(request_id=request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            duration = time.perf_counter() - started
            response[REQUEST_ID_HEADER] = request_id
            route = route_of(request)
            self.metrics.observe_request(route=route, method=request.method, status=response.status_code,
                                    duration=duration)
            level = logging.ERROR if response.status_code >= 500 else logging.INFO
            if logger.isEnabledFor(level):  # LOG_LEVEL=WARNING: skip building the fields of a dropped line
                logger.log(
                    level,
                    "%s %s %s", request.method, route, response.status_code,
                    extra={
                        "method": request.method,
                        "route": route,
                        "path": request.path,
                        "status": response.status_code,
                        "duration_ms": round(duration * 1000, 2),
                        **caller_of(request),
                    },
                )
            return response
        finally:
            logs.reset(token)
