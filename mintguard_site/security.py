"""Middleware that keeps what a browser holds short-lived: no cached pages, bounded sessions.

- `NoStoreMiddleware`: every answer that says nothing about caching is `Cache-Control: no-store`.
  Dashboard pages, API answers and one-time secrets (a new API key, a webhook secret) hold
  money and credentials that must not stay in a browser's or a proxy's cache. Static files are
  served by WhiteNoise before this runs and keep their long cache.
- `SessionLifetimeMiddleware`: a signed-in session ends MINTGUARD_SESSION_IDLE_TIMEOUT seconds
  after its last request, and MINTGUARD_SESSION_MAX_AGE seconds after sign-in however active.
  The last request's time is written at most once a minute, not once per request, so a session
  may end up to a minute before the idle timeout. A request without a session cookie, such as a
  Bearer API call, costs nothing: no session is loaded.
- The stateless rule, `is_stateless(request)`: a Bearer-authenticated API call and the probes
  (/healthz, /readyz, /metrics) hold no session and no CSRF token, are no sign-in and render no
  page. The session, CSRF, authentication, messages, htmx and axes middlewares are listed in
  MIDDLEWARE as the subclasses below, which let such a request pass untouched. Every middleware
  that shapes a response (security headers, CSP, no-store, the input guard, X-Frame-Options)
  still runs for every request.
- `CachedPolicyCSPMiddleware`: django-csp's, with the policy header built once per process.
"""

import time

from axes.middleware import AxesMiddleware
from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.auth.signals import user_logged_in
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.core import checks
from django.dispatch import receiver
from django.middleware.csrf import CsrfViewMiddleware
from django_htmx.middleware import HtmxMiddleware

SIGNED_IN_AT = "mintguard_signed_in_at"
LAST_SEEN = "mintguard_last_seen"
LAST_SEEN_EVERY = 60


@receiver(user_logged_in, dispatch_uid="mintguard_session_stamp")
def stamp_sign_in(sender, request, user, **kwargs):
    """Start both clocks at every sign-in, whichever view did it (dashboard, admin, browsable API)."""
    if request is not None and hasattr(request, "session"):
        now = time.time()
        request.session[SIGNED_IN_AT] = now
        request.session[LAST_SEEN] = now


PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def is_stateless(request) -> bool:
    """True for a request no session can concern: a probe, or an API call with a Bearer key.

    The API authenticates a Bearer header by its key alone (a wrong key is a 401, never a fall
    back to the session), so such a request has no use for a session, a CSRF check or a sign-in.
    """
    path = request.path_info
    if path in PROBE_PATHS:
        return True
    scheme = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")[0]
    return path.startswith("/api/") and scheme.lower() == "bearer"


class _PassesStatelessRequests:
    """Mixed into a middleware that only serves sessions and pages: stateless requests skip it."""

    def __call__(self, request):
        if is_stateless(request):
            return self.get_response(request)
        return super().__call__(request)


@checks.register(checks.Tags.security, deploy=True)
def check_stateful_middleware(app_configs, **kwargs) -> list:
    """Django's and axes' checks look for their middlewares by dotted name, so they cannot see the
    subclasses below (security.W003 and axes.W002 are silenced in settings): check by class."""
    from django.utils.module_loading import import_string

    listed = [import_string(path) for path in settings.MIDDLEWARE]
    return [
        checks.Error(f"MIDDLEWARE lacks {required.__name__} (or a subclass of it).", id=f"mintguard_site.E00{number}")
        for number, required in enumerate((SessionMiddleware, CsrfViewMiddleware, AxesMiddleware), 1)
        if not any(issubclass(middleware, required) for middleware in listed)
    ]


class StatefulSessionMiddleware(_PassesStatelessRequests, SessionMiddleware):
    pass


class StatefulCsrfViewMiddleware(_PassesStatelessRequests, CsrfViewMiddleware):
    def process_view(self, request, callback, callback_args, callback_kwargs):
        # The handler calls process_view apart from __call__: skip it for the same requests.
        if is_stateless(request):
            return None
        return super().process_view(request, callback, callback_args, callback_kwargs)


class StatefulAuthenticationMiddleware(_PassesStatelessRequests, AuthenticationMiddleware):
    pass


class StatefulMessageMiddleware(_PassesStatelessRequests, MessageMiddleware):
    pass


class StatefulHtmxMiddleware(_PassesStatelessRequests, HtmxMiddleware):
    pass


class StatefulAxesMiddleware(_PassesStatelessRequests, AxesMiddleware):
    pass


# What a view sets to have a policy of its own (django-csp's decorators; unused today).
_VIEW_POLICY = ("_csp_config", "_csp_update", "_csp_replace", "_csp_config_ro", "_csp_update_ro", "_csp_replace_ro")


class CachedPolicyCSPMiddleware(CSPMiddleware):
    """django-csp's middleware with the policy built once, not for every response.

    Without a nonce, a view's own policy or excluded prefixes, every response gets the same header
    strings, kept until the settings change; any other response goes through django-csp unchanged.
    """

    _built: tuple = (None, None)  # (the settings they were built from, (policy, report-only policy) or None)

    def _policies(self) -> tuple[str, str] | None:
        enforced = getattr(settings, "CONTENT_SECURITY_POLICY", None)
        report_only = getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None)
        source = (id(enforced), id(report_only), settings.DEBUG)  # the same objects until the settings change
        if self._built[0] != source:
            plain = not settings.DEBUG and not any(
                (policy or {}).get("EXCLUDE_URL_PREFIXES") for policy in (enforced, report_only))
            self._built = (source, (build_policy(), build_policy(report_only=True)) if plain else None)
        return self._built[1]

    def process_response(self, request, response):
        policies = self._policies()
        if policies is None or getattr(request, "_csp_nonce", None) is not None or \
                any(hasattr(response, name) for name in _VIEW_POLICY):
            return super().process_response(request, response)
        policy, policy_report_only = policies
        if policy and HEADER not in response and not getattr(response, "_csp_exempt", False):
            response[HEADER] = policy
        if policy_report_only and HEADER_REPORT_ONLY not in response and \
                not getattr(response, "_csp_exempt_ro", False):
            response[HEADER_REPORT_ONLY] = policy_report_only
        # As django-csp does: a nonce asked for after the header is written is an error, not a silent gap.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response


class NoStoreMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            response["Cache-Control"] = "no-store"
        return response


class SessionLifetimeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.SESSION_COOKIE_NAME in request.COOKIES and hasattr(request, "session") \
                and SESSION_KEY in request.session:
            self._enforce(request)
        return self.get_response(request)

    @staticmethod
    def _enforce(request) -> None:
        session, now = request.session, time.time()
        signed_in_at, last_seen = session.get(SIGNED_IN_AT), session.get(LAST_SEEN)
        if signed_in_at is None or last_seen is None:
            # A session older than these limits: they start now.
            session[SIGNED_IN_AT] = session[LAST_SEEN] = now
        elif now - last_seen > settings.MINTGUARD_SESSION_IDLE_TIMEOUT or \
                now - signed_in_at > settings.MINTGUARD_SESSION_MAX_AGE:
            # Before the view runs: it sees an anonymous user and sends it to the login page.
            logout(request)
        elif now - last_seen > LAST_SEEN_EVERY:
            session[LAST_SEEN] = now
