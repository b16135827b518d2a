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
"""

import time

from django.conf import settings
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

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
        if settings.SESSION_COOKIE_NAME in request.COOKIES and SESSION_KEY in request.session:
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
