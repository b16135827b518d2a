"""The environment reader that settings.py uses, and the parsers of MintGuard's own formats.

settings.py reads every variable once, with its type and default, through `Env` (django-environ).
The formats that are MintGuard's own (rates like `100/min`, per-currency caps, `CODE:exponent`
assets, Standard Webhooks secrets, the cache URL) are parsed here from the strings it read, each
refusing a bad value with ImproperlyConfigured naming the variable. Kept apart from settings.py so
application code can import them (importing a settings module from app code would re-read the
environment) and tests can exercise each parser alone.
"""

import base64
import binascii
import re
from collections.abc import Mapping

import environ
from django.core.exceptions import ImproperlyConfigured

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*$", re.IGNORECASE)
_PERIOD_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_CURRENCY_CODE = re.compile(r"^[A-Z0-9]{1,12}$")
_AMOUNT = re.compile(r"[0-9]+\Z")  # ASCII digits only: str.isdigit() also takes "²", which int() refuses


class Env(environ.Env):
    """django-environ's reader, held to MintGuard's rules.

    - A value that does not parse stops startup with ImproperlyConfigured naming the variable and
      the value (django-environ raises a bare ValueError).
    - A switch is 1/0, true/false, yes/no or on/off; any other word is refused, not read as false.
    - A blank number or switch takes its default, as an unset one does (compose passes `VAR=`).
    - A value is taken as written: no `$OTHER` indirection, which would misread a secret that
      starts with `$`.
    - A list is comma-separated; items are stripped and empty ones dropped.
    - A number may be bounded (`minimum`, `maximum`), a string limited to `choices`.
    """

    TRUE_WORDS = ("1", "true", "yes", "on")
    FALSE_WORDS = ("0", "false", "no", "off")
    KINDS = {bool: "true or false (1/0, yes/no, on/off)", int: "an integer", float: "a number"}

    def get_value(self, var, cast=None, default=environ.Env.NOTSET, parse_default=False):
        # Not django-environ's own: that one follows `$OTHER` and casts a blank value.
        raw = self.ENVIRON.get(var)
        if raw is None or (cast in self.KINDS and not raw.strip()):
            if default is self.NOTSET:
                raise ImproperlyConfigured(f"Set the {var} environment variable.")
            return default
        try:
            return self.parse_value(raw, cast)
        except ValueError:
            raise ImproperlyConfigured(f"{var} must be {self.KINDS.get(cast, 'valid')}, not {raw!r}.") from None

    @classmethod
    def parse_value(cls, value, cast):
        if cast is bool:
            word = value.strip().lower()
            if word not in cls.TRUE_WORDS + cls.FALSE_WORDS:
                raise ValueError(word)
            return word in cls.TRUE_WORDS
        if cast is float:
            return float(value)  # django-environ's own drops every character that is not a digit
        if cast is list:
            return [item.strip() for item in value.split(",") if item.strip()]
        return super().parse_value(value, cast)

    def int(self, var, default=environ.Env.NOTSET, *, minimum=None, maximum=None):
        return _within(var, super().int(var, default), minimum, maximum)

    def float(self, var, default=environ.Env.NOTSET, *, minimum=None, maximum=None):
        return _within(var, super().float(var, default), minimum, maximum)

    def str(self, var, default=environ.Env.NOTSET, *, choices=None):
        value = super().str(var, default)
        if choices is not None and value not in choices:
            raise ImproperlyConfigured(f"{var} must be one of {', '.join(choices)}, not {value!r}.")
        return value


def _within(name: str, value, minimum, maximum):
    if minimum is not None and maximum is not None and not minimum <= value <= maximum:
        raise ImproperlyConfigured(f"{name} must be from {minimum} to {maximum}, not {value}.")
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}.")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, not {value}.")
    return value


def parse_rate(name: str, spec: str) -> tuple[int, int]:
    """Parse `6000/min` into (6000 requests, 60 seconds); refuse anything else at startup."""
    match = _RATE.match(spec or "")
    if not match or int(match.group(1)) < 1:
        raise ImproperlyConfigured(f"{name} must look like 6000/min (per s, min, hour or day), not {spec!r}.")
    return int(match.group(1)), _PERIOD_SECONDS[match.group(2)[0].lower()]


def parse_assets(name: str, spec: str) -> dict[str, int]:
    """Parse `CODE:exponent,...` into {code: exponent}; an empty spec means no custom asset."""
    assets: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        code, _, exponent = item.partition(":")
        if not (code.isascii() and code.isalnum()) or not (exponent.isascii() and exponent.isdigit()) \
                or int(exponent) > 18:
            raise ImproperlyConfigured(f"{name}: bad entry {item!r}, expected CODE:exponent (0 to 18)")
        assets[code.upper()] = int(exponent)
    return assets


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
    # Only the scheme: the rest of the URL may hold a password.
    scheme = url.partition("://")[0]
    raise ImproperlyConfigured(f"CACHE_URL must be redis://host:port/db, rediss://..., unix://... or locmem://, "
                               f"not {scheme}://...")


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
