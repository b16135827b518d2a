"""MintGuard settings, read from the environment.

One module serves development and production: `DEBUG` decides which defaults are safe.
Production (DEBUG off) refuses to start without `SECRET_KEY`, `MINTGUARD_PROVIDER_WEBHOOK_SECRET`,
`MINTGUARD_METRICS_TOKEN`, `MINTGUARD_PAYMENT_PROVIDER` and `MINTGUARD_ENCRYPTION_KEYS`, and turns on
HTTPS protections unless `MINTGUARD_HTTPS=false`. Each variable is read once, here, with its type
and default (`env`: django-environ held to the rules in mintguard_site/conf.py); a bad value stops
startup naming it, and app code reads `settings.X` without a default of its own.
docs/operations.md lists them all.
"""

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from mintguard_site import conf, secrets_at_rest

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = conf.Env()

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "django-insecure-dev-only-key-never-use-in-production"  # noqa: S105  # nosec B105
# Rotation: the new key in SECRET_KEY, the old one here (comma-separated) until the sessions,
# signed cursors and password-reset links it signed have expired (docs/security.md).
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    "csp",
    "mintguard_site",
    "mintguard_site.api",
    "mintguard_site.dashboard",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    # Django's tasks framework (django.tasks is Django 6 only) and its database backend.
    "django_tasks",
    "django_tasks_db",
    "audit",
    "events",
    "ledger",
    "wallets",
    "payments",
    "operators",
]

MIDDLEWARE = [
    # Outermost: a request id, a log line and metrics for every response, redirects included.
    "mintguard_site.observability.middleware.RequestObservabilityMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "mintguard_site.security.CachedPolicyCSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Past WhiteNoise: static files keep their long cache; every other answer defaults to no-store.
    "mintguard_site.security.NoStoreMiddleware",
    # Control characters in a path or query: a 400 before anything reads them (its answer still gets
    # the security headers above).
    "mintguard_site.input_guard.InputGuardMiddleware",
    # The Stateful* middlewares are Django's, django-htmx's and axes' own, skipped by stateless
    # requests (Bearer API calls and probes: mintguard_site.security.is_stateless).
    "mintguard_site.security.StatefulSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "mintguard_site.security.StatefulCsrfViewMiddleware",
    "mintguard_site.security.StatefulAuthenticationMiddleware",
    "mintguard_site.security.SessionLifetimeMiddleware",
    "mintguard_site.security.StatefulMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "mintguard_site.security.StatefulHtmxMiddleware",
    # Last, as axes requires: it turns a locked-out login, on any view, into its lockout answer.
    "mintguard_site.security.StatefulAxesMiddleware",
]

ROOT_URLCONF = "mintguard_site.urls"
WSGI_APPLICATION = "mintguard_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


# Database: SQLite file by default, PostgreSQL by DATABASE_URL, with no code change.
# dj-database-url rather than django-environ's env.db(): it refuses an unknown scheme and decodes a
# percent-encoded socket directory (postgresql://%2Fvar%2Frun%2Fpostgresql/db), which env.db() does not.
def database_from_env() -> dict:
    url = env.str("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'mintguard.sqlite3'}")
    try:
        # Persistent connections are mandatory for throughput (measured: 154 vs 2,000 req/s).
        config = dj_database_url.parse(url, conn_max_age=600, conn_health_checks=True)
    except ValueError as exc:  # its message names the scheme, never the password
        raise ImproperlyConfigured(f"DATABASE_URL: {exc}") from None
    if config["ENGINE"] == "django.db.backends.postgresql":
        # Django's backend, whose health check reads the socket instead of sending SELECT 1.
        config["ENGINE"] = "mintguard_site.db.postgresql"
    if config["ENGINE"] == "django.db.backends.sqlite3":
        Path(config["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        config["OPTIONS"] = {
            # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue on the
            # busy timeout instead of failing with "database is locked" on lock upgrade.
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    return config


DATABASES = {"default": database_from_env()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

LOGIN_URL = "/login/"

# --- Sign-in and sessions ----------------------------------------------------------------
# django-axes guards every way in (dashboard, admin, browsable API): its backend comes first and
# refuses a locked-out caller before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Failed sign-ins are counted per username (across addresses) and per client IP (across names);
# MINTGUARD_LOGIN_FAILURE_LIMIT of either locks it out for MINTGUARD_LOGIN_COOLOFF seconds after
# the failure that reached the limit.
MINTGUARD_LOGIN_FAILURE_LIMIT = env.int("MINTGUARD_LOGIN_FAILURE_LIMIT", default=5, minimum=1)
MINTGUARD_LOGIN_COOLOFF = env.int("MINTGUARD_LOGIN_COOLOFF", default=900, minimum=1)
AXES_FAILURE_LIMIT = MINTGUARD_LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=MINTGUARD_LOGIN_COOLOFF)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
# A success forgets that caller's failures; attempts made while locked out are refused without
# being recorded, so hammering writes nothing and the lockout ends when Retry-After says.
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# The same client IP as the API throttle and the logs (MINTGUARD_PROXY_HOPS), not ipware's guess.
AXES_CLIENT_IP_CALLABLE = "operators.lockout.lockout_client_ip"
AXES_LOCKOUT_CALLABLE = "operators.views.login_locked_out"
# The usual way to read failures and lockouts is the admin; successes are in the request log.
AXES_DISABLE_ACCESS_LOG = True
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "password"]

# A dashboard session ends after MINTGUARD_SESSION_IDLE_TIMEOUT seconds without a request, and
# MINTGUARD_SESSION_MAX_AGE seconds after sign-in however active (mintguard_site/security.py).
# Requests without a session cookie (Bearer API calls) load no session at all.
MINTGUARD_SESSION_IDLE_TIMEOUT = env.int("MINTGUARD_SESSION_IDLE_TIMEOUT", default=1800, minimum=60)
MINTGUARD_SESSION_MAX_AGE = env.int("MINTGUARD_SESSION_MAX_AGE", default=12 * 3600, minimum=60)
# The cookie and the stored session die at the absolute age at the latest.
SESSION_COOKIE_AGE = MINTGUARD_SESSION_MAX_AGE

# --- Security ----------------------------------------------------------------------------
# MINTGUARD_HTTPS (default: on when DEBUG is off) turns on the SSL redirect, HSTS and secure
# cookies. `false` is for plain HTTP on a trusted network (compose without TLS in front).
MINTGUARD_HTTPS = env.bool("MINTGUARD_HTTPS", default=not DEBUG)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The TLS-terminating proxy says the original scheme in this header (e.g. X-Forwarded-Proto);
# it must overwrite a client's own. Unset (the default): not behind such a proxy, and no header
# a client sends makes a plain-HTTP request look secure.
_proxy_ssl_header = env.str("MINTGUARD_PROXY_SSL_HEADER", default="").strip()
if _proxy_ssl_header:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")
# How many proxies append to X-Forwarded-For in front of us: the client IP used by the login
# lockout and the logs is the address the outermost trusted proxy saw. 0: REMOTE_ADDR.
MINTGUARD_PROXY_HOPS = env.int("MINTGUARD_PROXY_HOPS", default=0, minimum=0)
SESSION_COOKIE_HTTPONLY = True
# Django and axes find their CSRF and axes middlewares by dotted name only, not our subclasses in
# MIDDLEWARE; mintguard_site.security.check_stateful_middleware checks them by class instead.
SILENCED_SYSTEM_CHECKS = ["security.W003", "axes.W002"]
if MINTGUARD_HTTPS:
    SECURE_SSL_REDIRECT = True
    # Probes and scrapers talk plain HTTP to the container, past the proxy.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("MINTGUARD_HSTS_SECONDS", default=31_536_000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("MINTGUARD_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("MINTGUARD_HSTS_PRELOAD", default=True)
elif not DEBUG:
    # The operator chose plain HTTP explicitly: the deploy checks about HTTPS do not apply.
    SILENCED_SYSTEM_CHECKS += ["security.W004", "security.W008", "security.W010", "security.W012", "security.W016"]

# Content-Security-Policy: scripts, styles, fonts and images come from us only; no inline script
# runs anywhere (the API docs use their split, file-only variants). Styles allow inline because
# the docs' UIs (Redoc, Swagger UI) and htmx inject <style> elements at run time; style cannot run
# code. Redoc builds its search worker from a blob: URL.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "worker-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# --- Cache (rate limits) -----------------------------------------------------------------
# Local memory by default: limits then count per worker process. CACHE_URL=redis://... shares
# them across workers and machines.
CACHES = {"default": conf.cache_from_url(env.str("CACHE_URL", default=""))}

# --- Logs --------------------------------------------------------------------------------
# One JSON object per line on stderr, like gunicorn's own log, so command output on stdout
# (`reconcile --json`) stays clean. MINTGUARD_LOG_FORMAT=text for humans at a terminal.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
MINTGUARD_LOG_FORMAT = env.str("MINTGUARD_LOG_FORMAT", default="json", choices=("json", "text"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_context": {"()": "mintguard_site.observability.logs.RequestContextFilter"}},
    "formatters": {
        "json": {"()": "mintguard_site.observability.logs.JsonFormatter"},
        "text": {"()": "mintguard_site.observability.logs.TextFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "filters": ["request_context"],
            "formatter": MINTGUARD_LOG_FORMAT,
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Our request log line replaces Django's own 4xx/5xx lines (the 5xx traceback stays).
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
        "django.db.backends": {"level": "INFO"},
        # Failures and lockouts (warnings) stay; axes' start-up banner does not.
        "axes": {"level": "WARNING"},
    },
}

# --- MintGuard business settings -------------------------------------------------------

# Custom assets beside ISO 4217, `CODE:exponent,...`; empty: none.
MINTGUARD_ASSETS = conf.parse_assets("MINTGUARD_ASSETS", env.str("MINTGUARD_ASSETS", default="GOLD:0"))
# Each system account (cash, treasury, revenue...) keeps its balance in this many rows, and each
# transaction updates one at random, so concurrent payments do not all queue on one row lock.
# Raising it later is safe (missing buckets are created on first use); lowering it leaves the
# extra buckets in place, still counted in the balance.
MINTGUARD_SYSTEM_BALANCE_BUCKETS = env.int("MINTGUARD_SYSTEM_BALANCE_BUCKETS", default=16, minimum=1, maximum=1000)
# "auto": post through the PostgreSQL function `ledger_post` (one round trip), the ORM on SQLite; "python": the ORM.
MINTGUARD_LEDGER_ENGINE = env.str("MINTGUARD_LEDGER_ENGINE", default="auto", choices=("auto", "python"))
MINTGUARD_IDEMPOTENCY_TTL = env.int("MINTGUARD_IDEMPOTENCY_TTL", default=86400)
MINTGUARD_PLATFORM_FEE_BPS = env.int("MINTGUARD_PLATFORM_FEE_BPS", default=0, minimum=0, maximum=10_000)
MINTGUARD_PROVIDER_TIMEOUT = env.float("MINTGUARD_PROVIDER_TIMEOUT", default=0.5)
# Seconds an authorization lives uncaptured before it expires (payments: authorize now, capture later).
MINTGUARD_AUTHORIZATION_TTL = env.int("MINTGUARD_AUTHORIZATION_TTL", default=604_800, minimum=1)

# The simulated provider (the default provider): outcomes of charges no X-Provider-Simulate header
# forced, drawn from a hash of the seed and the charge's key (the same attempt, the same outcome, in
# every process); success takes what the rates leave. MINTGUARD_SIMULATOR_OUTAGE=true: it is down.
MINTGUARD_SIMULATOR_SEED = env.str("MINTGUARD_SIMULATOR_SEED", default="mintguard")
MINTGUARD_SIMULATOR_OUTAGE = env.bool("MINTGUARD_SIMULATOR_OUTAGE", default=False)
MINTGUARD_SIMULATOR_OUTAGE_RATE = env.float("MINTGUARD_SIMULATOR_OUTAGE_RATE", default=0.0, minimum=0, maximum=1)
MINTGUARD_SIMULATOR_TIMEOUT_RATE = env.float("MINTGUARD_SIMULATOR_TIMEOUT_RATE", default=0.0, minimum=0, maximum=1)
MINTGUARD_SIMULATOR_DECLINE_RATE = env.float("MINTGUARD_SIMULATOR_DECLINE_RATE", default=0.0, minimum=0, maximum=1)
if MINTGUARD_SIMULATOR_OUTAGE_RATE + MINTGUARD_SIMULATOR_TIMEOUT_RATE + MINTGUARD_SIMULATOR_DECLINE_RATE > 1:
    raise ImproperlyConfigured("The MINTGUARD_SIMULATOR_*_RATE settings must add up to at most 1.")
# The simulated provider's fee on what it takes (a charge, a capture): floor(amount * bps / 10000)
# plus a fixed fee in the currency's minor units, never more than the amount. A refund costs
# nothing and returns no fee. Its settlement reports carry the fee of each line.
MINTGUARD_SIMULATOR_FEE_BPS = env.int("MINTGUARD_SIMULATOR_FEE_BPS", default=290, minimum=0, maximum=10_000)
MINTGUARD_SIMULATOR_FEE_FIXED = env.int("MINTGUARD_SIMULATOR_FEE_FIXED", default=30, minimum=0, maximum=10**15)
# Provider webhook signing secret(s), comma-separated for rotation (the first signs, all verify).
MINTGUARD_PROVIDER_WEBHOOK_SECRET = env.str("MINTGUARD_PROVIDER_WEBHOOK_SECRET", default="").strip()
if not MINTGUARD_PROVIDER_WEBHOOK_SECRET:
    if not DEBUG:
        raise ImproperlyConfigured("MINTGUARD_PROVIDER_WEBHOOK_SECRET must be set when DEBUG is off.")
    MINTGUARD_PROVIDER_WEBHOOK_SECRET = "dev-only-webhook-secret-for-debug"  # noqa: S105  # nosec B105
# A short HMAC key can be guessed offline from one signed delivery: refuse one at startup. (A
# secret that does not decode at all is payments.E001, a system check.)
for _problem in conf.webhook_secret_problems(MINTGUARD_PROVIDER_WEBHOOK_SECRET):
    raise ImproperlyConfigured(f"MINTGUARD_PROVIDER_WEBHOOK_SECRET: {_problem}")
# The payment provider: `simulator` or a dotted class path. A production process must name it, so
# none runs the simulator by accident.
MINTGUARD_PAYMENT_PROVIDER = env.str("MINTGUARD_PAYMENT_PROVIDER", default="").strip()
if not MINTGUARD_PAYMENT_PROVIDER:
    if not DEBUG:
        raise ImproperlyConfigured("MINTGUARD_PAYMENT_PROVIDER must be set when DEBUG is off.")
    MINTGUARD_PAYMENT_PROVIDER = "simulator"
# Outage mode: the most a trusted buyer may leave pending, in minor units; `20000` for every
# currency or `USD:20000,EUR:15000` (others get 20000). Read it with conf.outage_pending_cap().
MINTGUARD_OUTAGE_PENDING_CAP = conf.parse_currency_caps(
    "MINTGUARD_OUTAGE_PENDING_CAP", env.str("MINTGUARD_OUTAGE_PENDING_CAP", default=""),
    default=conf.DEFAULT_OUTAGE_PENDING_CAP,
)
# /metrics wants `Authorization: Bearer <token>` when this is set; unset (DEBUG on only), it is open.
MINTGUARD_METRICS_TOKEN = env.str("MINTGUARD_METRICS_TOKEN", default="").strip()
if not MINTGUARD_METRICS_TOKEN and not DEBUG:
    raise ImproperlyConfigured("MINTGUARD_METRICS_TOKEN must be set when DEBUG is off.")
# Requests per API key (operators: per user) in a fixed window; 429 with Retry-After beyond.
MINTGUARD_API_RATE = env.str("MINTGUARD_API_RATE", default="6000/min").strip()
conf.parse_rate("MINTGUARD_API_RATE", MINTGUARD_API_RATE)
# Failed provider-webhook signatures per client IP; beyond it 429, nothing stored (valid ones always pass).
MINTGUARD_WEBHOOK_FAILURE_RATE = env.str("MINTGUARD_WEBHOOK_FAILURE_RATE", default="30/min").strip()
conf.parse_rate("MINTGUARD_WEBHOOK_FAILURE_RATE", MINTGUARD_WEBHOOK_FAILURE_RATE)
# Drift records kept on a stored reconciliation run (all are counted).
MINTGUARD_RECONCILIATION_MAX_DRIFTS = env.int("MINTGUARD_RECONCILIATION_MAX_DRIFTS", default=1000, minimum=1)
# Not an environment variable: tests inside one database transaction run reconciliation inline.
MINTGUARD_RECONCILIATION_IN_BACKGROUND = True

# --- Background tasks, outbound webhooks, secrets at rest ---------------------------------

# Django's tasks framework with its database backend: `manage.py db_worker` runs the tasks (any
# number of workers, on any machine sharing the database). django-tasks 0.12 has no
# ENQUEUE_ON_COMMIT option (Django 6 dropped it too): the database backend's enqueue is a plain
# INSERT of the task row on the caller's connection. We rely on exactly that: an event and the task
# that dispatches it commit or roll back together with the change they record (the outbox), where
# an on_commit enqueue would lose the task if the process died between COMMIT and the callback.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
# Keys for secrets stored at rest (webhook endpoints' signing secrets): comma-separated Fernet
# keys, the first encrypts, all decrypt (mintguard_site/secrets_at_rest.py; rotate with
# `manage.py rotate_encryption_keys`). Required when DEBUG is off; under DEBUG (and in the tests'
# settings) the default is one key derived from SECRET_KEY, so development needs no setup.
MINTGUARD_ENCRYPTION_KEYS = secrets_at_rest.parse_encryption_keys(
    "MINTGUARD_ENCRYPTION_KEYS", env.list("MINTGUARD_ENCRYPTION_KEYS", default=[]),
)
if not MINTGUARD_ENCRYPTION_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured("MINTGUARD_ENCRYPTION_KEYS must be set when DEBUG is off.")
    MINTGUARD_ENCRYPTION_KEYS = [secrets_at_rest.key_derived_from(SECRET_KEY)]
# true: webhook endpoints may be http:// and resolve to loopback or private addresses
# (development and tests only: events/destinations.py refuses them otherwise).
MINTGUARD_WEBHOOK_ALLOW_INSECURE = env.bool("MINTGUARD_WEBHOOK_ALLOW_INSECURE", default=False)
# Seconds before a failed webhook delivery's first retry (doubling after, events/deliveries.py);
# tests shorten it.
MINTGUARD_WEBHOOK_RETRY_BASE = env.int("MINTGUARD_WEBHOOK_RETRY_BASE", default=30, minimum=1, maximum=3600)
# The schedule (mintguard_site/schedule.py), run by the workers: every MINTGUARD_SCHEDULE_TICK
# seconds a tick enqueues the jobs that are due. Each job's interval in seconds; 0 turns it off
# (run its command from cron instead).
MINTGUARD_SCHEDULE_TICK = env.int("MINTGUARD_SCHEDULE_TICK", default=5, minimum=1, maximum=3600)
MINTGUARD_SCHEDULE_HOLDS_EXPIRE = env.int("MINTGUARD_SCHEDULE_HOLDS_EXPIRE", default=15, minimum=0)
MINTGUARD_SCHEDULE_AUTHORIZATIONS_EXPIRE = env.int("MINTGUARD_SCHEDULE_AUTHORIZATIONS_EXPIRE", default=30, minimum=0)
MINTGUARD_SCHEDULE_PENDING_PAYMENTS_EXPIRE = env.int("MINTGUARD_SCHEDULE_PENDING_PAYMENTS_EXPIRE", default=30,
                                                     minimum=0)
MINTGUARD_SCHEDULE_EVENTS_SWEEP = env.int("MINTGUARD_SCHEDULE_EVENTS_SWEEP", default=30, minimum=0)
MINTGUARD_SCHEDULE_IDEMPOTENCY_PURGE = env.int("MINTGUARD_SCHEDULE_IDEMPOTENCY_PURGE", default=3600, minimum=0)
MINTGUARD_SCHEDULE_RECONCILE = env.int("MINTGUARD_SCHEDULE_RECONCILE", default=3600, minimum=0)
MINTGUARD_SCHEDULE_TASK_RESULTS_PRUNE = env.int("MINTGUARD_SCHEDULE_TASK_RESULTS_PRUNE", default=86_400, minimum=0)
# The scheduled expiry of pending payments settles those no webhook confirmed within this many seconds.
MINTGUARD_PENDING_PAYMENTS_EXPIRE_AFTER = env.int("MINTGUARD_PENDING_PAYMENTS_EXPIRE_AFTER", default=86_400,
                                                  minimum=60)
# A measurement switch, not a feature flag: production keeps it on. false: the services record no
# events (events.services.events_record writes nothing), so `make bench` can measure what events
# cost the money path. Clients then get no events and no webhooks for anything done meanwhile.
MINTGUARD_EVENTS = env.bool("MINTGUARD_EVENTS", default=True)

# --- HTTP API ----------------------------------------------------------------------------

# Seconds a process trusts an API key it has looked up; a revoke elsewhere takes effect within
# this bound (at once in the process that revoked). 0: look every key up on every request.
# At most 60: a revoked key works that long.
MINTGUARD_API_KEY_CACHE_SECONDS = env.int("MINTGUARD_API_KEY_CACHE_SECONDS", default=5, minimum=0, maximum=60)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "mintguard_site.api.auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["mintguard_site.api.auth.IsApiClientOrOperator"],
    "DEFAULT_RENDERER_CLASSES": [
        # DRF's JSON, byte for byte, written by orjson; the browsable API for operators.
        "mintguard_site.api.renderers.OrjsonRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["mintguard_site.api.parsers.BoundedJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "mintguard_site.api.renderers.JsonFirstNegotiation",
    "EXCEPTION_HANDLER": "mintguard_site.api.errors.problem_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["mintguard_site.ratelimit.ApiClientRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "COERCE_DECIMAL_TO_STRING": False,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "MintGuard API",
    "DESCRIPTION": (
        "Payments and ledger back office. Money is an integer `amount` in the currency's minor unit. "
        "Errors are RFC 9457 problem details with a stable `code`. Money-moving POSTs require an "
        "`Idempotency-Key` header."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Errors are served as application/problem+json: document them so (mintguard_site/api/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "mintguard_site.api.schema.problem_media_type",
    ],
    "ENUM_NAME_OVERRIDES": {
        "EntryTypeEnum": ["DEBIT", "CREDIT"],
        "AccountMovementTypeEnum": ["deposit", "withdrawal"],
        "WalletTransactionTypeEnum": ["topup", "bonus", "spend"],
    },
}
