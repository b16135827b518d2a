"""Settings for the test suite: production settings with test-only secrets and fast hashing.

The database still comes from DATABASE_URL, so the same suite runs on SQLite and PostgreSQL.
"""

import os

from .secrets_at_rest import key_derived_from

# A developer's shell must not change what the suite tests (a simulated outage, a decline rate)
# nor point it at a real cache that the tests clear.
for name in ("MINTGUARD_SIMULATOR_OUTAGE", "MINTGUARD_SIMULATOR_OUTAGE_RATE", "MINTGUARD_SIMULATOR_TIMEOUT_RATE",
             "MINTGUARD_SIMULATOR_DECLINE_RATE", "MINTGUARD_SIMULATOR_SEED", "MINTGUARD_SIMULATOR_FEE_BPS",
             "MINTGUARD_SIMULATOR_FEE_FIXED", "CACHE_URL"):
    os.environ.pop(name, None)
os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production")
os.environ.setdefault("MINTGUARD_HTTPS", "false")
os.environ.setdefault("MINTGUARD_PROVIDER_WEBHOOK_SECRET", "test-only-webhook-secret")
os.environ.setdefault("MINTGUARD_METRICS_TOKEN", "test-only-metrics-token")
os.environ.setdefault("MINTGUARD_PAYMENT_PROVIDER", "simulator")
# Webhook secrets at rest: a key derived from the test SECRET_KEY, as DEBUG would default to.
os.environ.setdefault("MINTGUARD_ENCRYPTION_KEYS", key_derived_from(os.environ["SECRET_KEY"]))

from .settings import *  # noqa: E402,F403
from .settings import DATABASES, VAR_DIR, env  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ALLOWED_HOSTS = ["*"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not pytest-django's in-memory default: concurrency tests need several
    # connections to one database. xdist workers get their own suffixed file.
    # MINTGUARD_TEST_SQLITE names another file, so two checkouts' runs can share a var/.
    DATABASES["default"]["TEST"] = {
        "NAME": env.str("MINTGUARD_TEST_SQLITE", default="") or str(VAR_DIR / "test_mintguard.sqlite3")
    }
else:
    # Tests run threads that each open a connection; keep them short-lived.
    DATABASES["default"]["CONN_MAX_AGE"] = 0

# No collectstatic in tests: serve static files straight from the finders.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
