"""What the bank test and the benchmark share: the private PostgreSQL, a production-like
server environment, free loopback ports and manage.py."""

from __future__ import annotations

import base64
import importlib.util
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Variables of the developer's shell that would change what we test or measure (DEBUG, simulator rates...).
SCRUBBED_PREFIXES = ("MINTGUARD_", "PROMETHEUS_", "GUNICORN_", "DATABASE_URL", "DEBUG", "PG", "WEB_CONCURRENCY",
                     "DJANGO_SETTINGS_MODULE", "ALLOWED_HOSTS", "SECRET_KEY", "CACHE_URL", "LOG_LEVEL", "PORT")


def load_with_postgres():
    """Import scripts/with_postgres.py (not a package) for its `private_postgres()`."""
    if "with_postgres" in sys.modules:
        return sys.modules["with_postgres"]
    spec = importlib.util.spec_from_file_location("with_postgres", REPO / "scripts" / "with_postgres.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["with_postgres"] = module
    spec.loader.exec_module(module)
    return module


def production_env(*, database_url: str, workdir: Path, workers: int, api_rate: str, **extra: str) -> dict[str, str]:
    """Production settings (DEBUG unset) on plain loopback HTTP, fresh secrets, quiet logs."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(SCRUBBED_PREFIXES)}
    env.update({
        "DJANGO_SETTINGS_MODULE": "mintguard_site.settings",
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "MINTGUARD_PROVIDER_WEBHOOK_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "MINTGUARD_METRICS_TOKEN": secrets.token_urlsafe(32),
        "MINTGUARD_ENCRYPTION_KEYS": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),  # a Fernet key
        "MINTGUARD_PAYMENT_PROVIDER": "simulator",
        "MINTGUARD_HTTPS": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "MINTGUARD_API_RATE": api_rate,
        "WEB_CONCURRENCY": str(workers),
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
        # Request lines would be ~1 KB per request; warnings and 5xx tracebacks are what we read.
        "LOG_LEVEL": "WARNING",
        **extra,
    })
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)
