"""Parsers for the environment variables that settings.py reads, and helpers over their values.

Kept apart from settings.py so application code can import them (importing a settings module
from app code would re-read the environment) and tests can exercise each parser alone.
"""

import base64
import binascii
import os
import re
from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*$", re.IGNORECASE)
_PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_CURRENCY_CODE = re.compile(r"^[A-Z0-9]{1,12}$")
_AMOUNT = re.compile(r"[0-9]+\Z")  # ASCII digits only: str.isdigit() also takes "²", which int() refuses


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {raw!r}.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}.")
    return value


def parse_rate(name: str, spec: str) -> tuple[int, int]:
    """Parse `6000/min` into (6000 requests, 60 seconds); refuse anything else at startup."""
    match = _RATE.match(spec or "")
    if not match or int(match.group(1)) < 1:
        raise ImproperlyConfigured(f"{name} must look like 6000/min (per s, min, hour or day), not {spec!r}.")
    return int(match.group(1)), _PERIOD_SECONDS[match.group(2)[0].lower()]


class CurrencyCaps(dict):
    """{currency: cap in minor units} that answers `default` for a currency it does not name."""

    def __init__(self, default: int, caps: Mapping[str, int] | None = None):
        super().__init__(caps or {})
        self.default = default

    def __missing__(self, currency: str) -> int:
        return self.default

    def __repr__(self) -> str:
        return f"CurrencyCaps(default={self.default}, caps={dict(self)!r})"


def parse_currency_caps(name: str, spec: str, *, default: int) -> CurrencyCaps:
    """Parse `20000` (every currency) or `USD:20000,EUR:15000` (others get `default`)."""
    spec = (spec or "").strip()
    if not spec:
        return CurrencyCaps(default)
    if _AMOUNT.match(spec):
        return CurrencyCaps(int(spec))
    caps: dict[str, int] = {}
    fallback = default
    for item in filter(None, (part.strip() for part in spec.split(","))):
        code, sep, amount = item.partition(":")
        code = code.strip().upper()
        amount = amount.strip()
        if not sep and _AMOUNT.match(code):
            fallback = int(code)  # a bare number among the pairs is the default for the rest
            continue
        if not sep or not _CURRENCY_CODE.match(code) or not _AMOUNT.match(amount):
            raise ImproperlyConfigured(f"{name}: bad entry {item!r}, expected CODE:amount or an amount.")
        caps[code] = int(amount)
    return CurrencyCaps(fallback, caps)


def cache_from_url(url: str) -> dict:
    """Return a CACHES['default'] entry: LocMem when empty or `locmem://`, Redis for `redis[s]://`."""
    url = (url or "").strip()
    if not url or url.startswith("locmem://"):
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "mintguard"}
    if url.startswith(("redis://", "rediss://", "unix://")):
        return {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "mintguard",
            # A dead Redis must not hang requests: fail fast (rate limits then fail open).
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    raise ImproperlyConfigured("CACHE_URL must be redis://host:port/db, rediss://..., unix://... or locmem://.")


def outage_pending_cap(currency: str) -> int:
    """Return the outage-mode pending cap for `currency`, in its minor units.

    Reads settings.MINTGUARD_OUTAGE_PENDING_CAP at call time, so override_settings works with a
    CurrencyCaps, a plain int, a mapping or the raw environment string.
    """
    from django.conf import settings

    caps = settings.MINTGUARD_OUTAGE_PENDING_CAP
    if isinstance(caps, CurrencyCaps):
        return caps[currency]
    if isinstance(caps, int):
        return caps
    if isinstance(caps, str):
        return parse_currency_caps("MINTGUARD_OUTAGE_PENDING_CAP", caps, default=DEFAULT_OUTAGE_PENDING_CAP)[currency]
    if isinstance(caps, Mapping):
        return int(caps.get(currency, caps.get("default", DEFAULT_OUTAGE_PENDING_CAP)))
    raise ImproperlyConfigured(f"MINTGUARD_OUTAGE_PENDING_CAP has an unusable value {caps!r}.")


DEFAULT_OUTAGE_PENDING_CAP = 20_000


# The Standard Webhooks format's prefix, not a secret.
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105  # nosec B105
MIN_WEBHOOK_KEY_BYTES = 24


def webhook_secret_key(secret: str) -> bytes:
    """Return the HMAC key of a webhook secret: its base64-decoded part, or its UTF-8 bytes if it is not base64.

    A secret is `whsec_<base64>`; one pasted without its prefix is base64-decoded too, as the
    Standard Webhooks libraries do. Raise ValueError for a `whsec_` secret whose base64 does not
    decode, or an empty key. Here, not in payments, so settings can refuse a weak key at startup.
    """
    encoded = secret.removeprefix(WEBHOOK_SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        if secret.startswith(WEBHOOK_SECRET_PREFIX):
            raise ValueError("a whsec_ secret must be followed by base64") from None
        return secret.encode()
    if not key:
        raise ValueError("a webhook secret must not be empty")
    return key


def webhook_secret_problems(raw: str) -> list[str]:
    """Say which of the comma-separated webhook secrets in `raw` have an HMAC key under 24 bytes.

    A secret that does not decode at all is left to the payments.E001 system check.
    """
    problems = []
    secrets = [secret.strip() for secret in (raw or "").split(",") if secret.strip()]
    for index, secret in enumerate(secrets):
        try:
            key = webhook_secret_key(secret)
        except ValueError:
            continue
        if len(key) < MIN_WEBHOOK_KEY_BYTES:
            problems.append(f"secret #{index + 1} has a {len(key)}-byte key; at least {MIN_WEBHOOK_KEY_BYTES} "
                            "are needed (e.g. `whsec_` + base64 of 32 random bytes).")
    return problems
