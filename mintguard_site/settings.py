"""MintGuard settings, read from the environment.

One module serves development and production: `DEBUG` decides which defaults are safe.
Production (DEBUG off) refuses to start without `SECRET_KEY`.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "django-insecure-dev-only-key-never-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "mintguard_site",
    "mintguard_site.api",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "ledger",
    "wallets",
    "payments",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
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
def database_from_env() -> dict:
    default_url = f"sqlite:///{VAR_DIR / 'mintguard.sqlite3'}"
    url = os.environ.get("DATABASE_URL", default_url)
    # Persistent connections are mandatory for throughput (measured: 154 vs 2,000 req/s).
    config = dj_database_url.parse(url, conn_max_age=600, conn_health_checks=True)
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

# --- MintGuard business settings -------------------------------------------------------


def parse_assets(spec: str) -> dict[str, int]:
    """Parse `CODE:exponent,...` into {code: exponent}."""
    assets: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        code, _, exponent = item.partition(":")
        if not code.isalnum() or not exponent.isdigit() or int(exponent) > 18:
            raise ImproperlyConfigured(f"MINTGUARD_ASSETS: bad entry {item!r}, expected CODE:exponent")
        assets[code.upper()] = int(exponent)
    return assets


MINTGUARD_ASSETS = parse_assets(os.environ.get("MINTGUARD_ASSETS", "GOLD:0"))
MINTGUARD_IDEMPOTENCY_TTL = int(os.environ.get("MINTGUARD_IDEMPOTENCY_TTL", "86400"))
MINTGUARD_PLATFORM_FEE_BPS = int(os.environ.get("MINTGUARD_PLATFORM_FEE_BPS", "0"))
MINTGUARD_PROVIDER_TIMEOUT = float(os.environ.get("MINTGUARD_PROVIDER_TIMEOUT", "0.5"))
if not 0 <= MINTGUARD_PLATFORM_FEE_BPS <= 10_000:
    raise ImproperlyConfigured("MINTGUARD_PLATFORM_FEE_BPS must be between 0 and 10000.")

# --- HTTP API ----------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "mintguard_site.api.auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["mintguard_site.api.auth.IsApiClientOrOperator"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["mintguard_site.api.parsers.BoundedJSONParser"],
    "EXCEPTION_HANDLER": "mintguard_site.api.errors.problem_exception_handler",
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
    "ENUM_NAME_OVERRIDES": {
        "EntryTypeEnum": ["DEBIT", "CREDIT"],
        "AccountMovementTypeEnum": ["deposit", "withdrawal"],
        "WalletTransactionTypeEnum": ["topup", "bonus", "spend"],
    },
}
