"""GET /metrics: Prometheus text, behind a bearer token when MINTGUARD_METRICS_TOKEN is set."""

import hmac

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4

from mintguard_site.api.errors import PROBLEM_CONTENT_TYPE, problem


def _authorized(request) -> bool:
    token = settings.MINTGUARD_METRICS_TOKEN
    if not token:
        return True
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    # Constant time: the comparison must not tell a scraper how much of its guess was right.
    return scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(), token.encode())


@require_GET
def metrics_view(request):
    if not _authorized(request):
        body = problem(401, "authentication_failed", "Invalid credentials",
                       "Send 'Authorization: Bearer <metrics token>'.")
        response = JsonResponse(body, status=401, content_type=PROBLEM_CONTENT_TYPE)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    # Imported here, not with the URLconf: management commands load URLs for their checks and,
    # in multiprocess mode, importing the metrics creates this process's sample files.
    from .metrics import exposition

    # The classic text format every Prometheus version reads; every name here is plain ASCII.
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_PLAIN_0_0_4)
