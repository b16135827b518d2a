"""Rate limits on Django's cache: per API key on the API (sign-in attempts are django-axes' job).

Fixed windows counted with the cache's atomic `incr`: O(1) per request, shared by every worker
when the cache is Redis (CACHE_URL), per worker process with the default local-memory cache. A
window lets through at most twice its rate across a boundary; that is the price of one counter.
If the cache itself fails, requests pass (fail open): a broken Redis must not stop payments.
"""

import functools
import hashlib
import logging
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from mintguard_site import observability
from mintguard_site.api.models import ApiClient
from mintguard_site.conf import parse_rate

logger = logging.getLogger(__name__)


def _now() -> float:
    return time.time()


@functools.lru_cache(maxsize=16)
def _rate(name: str, spec: str) -> tuple[int, int]:
    """`parse_rate`, once per value: the limit is read on every request, and changes only in tests."""
    return parse_rate(name, spec)


def window_hit(key: str, *, limit: int, period: int) -> tuple[bool, int]:
    """Count one hit on `key` in the current window; return (over the limit?, seconds to wait)."""
    now = _now()
    window = int(now // period)
    retry_after = max(1, int((window + 1) * period - now + 0.999))
    cache_key = f"rl:{key}:{window}"
    try:
        # incr() is atomic in LocMem and Redis. It comes first, so a request whose window has
        # already started costs one cache operation, not an add() that does nothing plus the incr().
        try:
            count = cache.incr(cache_key)
        except ValueError:  # the window's first hit: start its counter
            count = 1 if cache.add(cache_key, 1, timeout=period + 1) else cache.incr(cache_key)
    except Exception:  # the cache is down: do not turn a cache outage into an API outage
        logger.warning("rate limit cache unavailable; letting %s through", key.split(":", 1)[0], exc_info=True)
        return False, 0
    return count > limit, retry_after


def webhook_failure_hit(request) -> tuple[bool, int]:
    """Count one failed webhook signature from the caller's IP; return (over the limit?, seconds to wait).

    Call it only once a signature has failed: MINTGUARD_WEBHOOK_FAILURE_RATE budgets failures, so a
    provider's valid deliveries are never counted, nor refused, whatever else its address sent.
    """
    limit, period = _rate("MINTGUARD_WEBHOOK_FAILURE_RATE", settings.MINTGUARD_WEBHOOK_FAILURE_RATE)
    ip = hashlib.sha256(client_ip(request).encode()).hexdigest()[:32]  # a short, plain cache key
    over, retry_after = window_hit(f"webhook:failures:{ip}", limit=limit, period=period)
    if over:
        observability.record_rate_limited("webhook")
    return over, retry_after


class ApiClientRateThrottle(BaseThrottle):
    """Allow MINTGUARD_API_RATE requests per API key (operators: per user) per window."""

    def __init__(self):
        self.retry_after: int | None = None

    def allow_request(self, request, view) -> bool:
        user = request.user
        if isinstance(user, ApiClient):
            ident = f"client:{user.pk}"
        elif user is not None and user.is_authenticated:
            ident = f"user:{user.pk}"
        else:
            return True  # anonymous callers are refused by authentication, not counted
        limit, period = _rate("MINTGUARD_API_RATE", settings.MINTGUARD_API_RATE)
        over, self.retry_after = window_hit(f"api:{ident}", limit=limit, period=period)
        if over:
            observability.record_rate_limited("api")
        return not over

    def wait(self) -> float | None:
        return self.retry_after


def client_ip(request) -> str:
    """Return the caller's IP: REMOTE_ADDR, or what the outermost trusted proxy saw.

    With MINTGUARD_PROXY_HOPS = N proxies in front, each appends the address it received from to
    X-Forwarded-For, so the Nth entry from the right is the one a client cannot forge.
    """
    hops = settings.MINTGUARD_PROXY_HOPS
    if hops:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.META.get("REMOTE_ADDR", "") or "unknown"
