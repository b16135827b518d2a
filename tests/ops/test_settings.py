"""Production settings: safe by default, `check --deploy` clean, refusing to start half-configured."""

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from mintguard_site.conf import (
    CurrencyCaps,
    Env,
    cache_from_url,
    outage_pending_cap,
    parse_assets,
    parse_currency_caps,
    parse_rate,
)

REPO = Path(__file__).resolve().parents[2]
# What settings_test.py (and a developer's shell) may have put in this process's environment.
SETTINGS_VARIABLES = ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "MINTGUARD_HTTPS", "MINTGUARD_PROVIDER_WEBHOOK_SECRET",
                      "CSRF_TRUSTED_ORIGINS", "CACHE_URL", "MINTGUARD_OUTAGE_PENDING_CAP", "MINTGUARD_API_RATE",
                      "MINTGUARD_METRICS_TOKEN", "MINTGUARD_PAYMENT_PROVIDER", "MINTGUARD_PROXY_SSL_HEADER",
                      "DATABASE_URL", "DJANGO_SETTINGS_MODULE", "MINTGUARD_ENCRYPTION_KEYS")


def production_env(**overrides) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in SETTINGS_VARIABLES}
    env.update(
        DJANGO_SETTINGS_MODULE="mintguard_site.settings",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="mintguard.example.com",
        MINTGUARD_PROVIDER_WEBHOOK_SECRET="whsec_" + secrets.token_hex(16),
        MINTGUARD_METRICS_TOKEN=secrets.token_urlsafe(32),
        MINTGUARD_PAYMENT_PROVIDER="simulator",
        MINTGUARD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        CSRF_TRUSTED_ORIGINS="https://mintguard.example.com",
    )
    env.update(overrides)
    return {key: value for key, value in env.items() if value is not None}


def manage(*args, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)


def settings_in(env: dict, *names: str) -> dict:
    code = ("import json, django; django.setup(); from django.conf import settings; "
            f"print(json.dumps({{n: getattr(settings, n, None) for n in {list(names)!r}}}, default=repr))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_check_deploy_prints_no_warning_with_production_variables():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())

    assert result.returncode == 0, result.stdout + result.stderr
    # Two silenced: Django's and axes' name-based middleware checks, replaced by ours, which go by class.
    assert "System check identified no issues (2 silenced)." in result.stdout


def test_check_deploy_is_clean_when_the_operator_chooses_plain_http():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env(MINTGUARD_HTTPS="false"))

    assert result.returncode == 0, result.stdout + result.stderr


def test_production_defaults_turn_on_https_protections():
    values = settings_in(production_env(), "DEBUG", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS",
                         "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_PROXY_SSL_HEADER",
                         "CSRF_TRUSTED_ORIGINS", "SECURE_REDIRECT_EXEMPT")

    assert values["DEBUG"] is False
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] >= 31_536_000
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_PROXY_SSL_HEADER"] is None  # trusted only when MINTGUARD_PROXY_SSL_HEADER names it
    assert values["CSRF_TRUSTED_ORIGINS"] == ["https://mintguard.example.com"]
    assert values["SECURE_REDIRECT_EXEMPT"] == ["^healthz$", "^readyz$", "^metrics$"]


def test_plain_http_mode_turns_the_redirect_and_secure_cookies_off():
    values = settings_in(production_env(MINTGUARD_HTTPS="false"), "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS",
                         "SESSION_COOKIE_SECURE")

    assert values == {"SECURE_SSL_REDIRECT": False, "SECURE_HSTS_SECONDS": 0, "SESSION_COOKIE_SECURE": False}


@pytest.mark.parametrize("missing", ["SECRET_KEY", "MINTGUARD_PROVIDER_WEBHOOK_SECRET", "MINTGUARD_METRICS_TOKEN",
                                     "MINTGUARD_PAYMENT_PROVIDER"])
def test_production_refuses_to_start_without_its_secrets(missing):
    result = manage("check", env=production_env(**{missing: None}))

    assert result.returncode != 0
    assert f"{missing} must be set when DEBUG is off." in result.stderr


@pytest.mark.parametrize(("variable", "value"), [
    ("MINTGUARD_API_RATE", "lots"), ("MINTGUARD_OUTAGE_PENDING_CAP", "USD=5"), ("CACHE_URL", "memcached://x"),
    ("MINTGUARD_HTTPS", "flase"), ("MINTGUARD_LOGIN_FAILURE_LIMIT", "five"), ("MINTGUARD_PROVIDER_TIMEOUT", "fast"),
    ("MINTGUARD_SYSTEM_BALANCE_BUCKETS", "0"), ("MINTGUARD_LEDGER_ENGINE", "pyhton"), ("MINTGUARD_ASSETS", "GOLD"),
    ("DATABASE_URL", "mongodb://db/mintguard"), ("MINTGUARD_SCHEDULE_TICK", "0"),
    ("MINTGUARD_SCHEDULE_HOLDS_EXPIRE", "-15"),
])
def test_a_malformed_variable_stops_startup_with_its_name(variable, value):
    result = manage("check", env=production_env(**{variable: value}))

    assert result.returncode != 0
    assert f"ImproperlyConfigured: {variable}" in result.stderr


def test_database_url_gives_persistent_health_checked_connections_through_our_postgresql_backend():
    values = settings_in(production_env(DATABASE_URL="postgresql://mg:p%40ss@db:5432/mintguard?sslmode=require"),
                         "DATABASES")

    database = values["DATABASES"]["default"]
    assert {key: database[key] for key in ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT", "OPTIONS")} == {
        "ENGINE": "mintguard_site.db.postgresql", "NAME": "mintguard", "USER": "mg", "PASSWORD": "p@ss", "HOST": "db",
        "PORT": 5432, "OPTIONS": {"sslmode": "require"}}
    assert (database["CONN_MAX_AGE"], database["CONN_HEALTH_CHECKS"]) == (600, True)


def test_cache_url_selects_redis_and_outage_caps_parse_from_the_environment():
    values = settings_in(production_env(CACHE_URL="redis://cache:6379/2",
                                        MINTGUARD_OUTAGE_PENDING_CAP="USD:20000,EUR:15000"),
                         "CACHES", "MINTGUARD_OUTAGE_PENDING_CAP")

    assert values["CACHES"]["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert values["CACHES"]["default"]["LOCATION"] == "redis://cache:6379/2"
    assert values["MINTGUARD_OUTAGE_PENDING_CAP"] == {"USD": 20000, "EUR": 15000}


def test_debug_mode_runs_without_production_secrets():
    result = manage("check", env=production_env(DEBUG="true", SECRET_KEY=None, MINTGUARD_PROVIDER_WEBHOOK_SECRET=None,
                                                MINTGUARD_METRICS_TOKEN=None, MINTGUARD_PAYMENT_PROVIDER=None))

    assert result.returncode == 0, result.stderr


# --- the environment reader, in process ---------------------------------------------------


def env_with(**variables) -> Env:
    env = Env()
    env.ENVIRON = variables
    return env


def test_an_unset_or_blank_number_or_switch_takes_its_default():
    env = env_with(BLANK_INT=" ", BLANK_BOOL="", BLANK_FLOAT="")

    assert env.int("BLANK_INT", default=5) == 5 and env.int("UNSET", default=5) == 5
    assert env.bool("BLANK_BOOL", default=True) is True
    assert env.float("BLANK_FLOAT", default=0.5) == 0.5
    assert env.str("UNSET", default="auto") == "auto"
    assert env.list("UNSET", default=["localhost"]) == ["localhost"]


def test_switches_read_the_usual_words_either_way():
    env = env_with(A="1", B="TRUE", C=" yes ", D="on", E="0", F="False", G="no", H="OFF")

    assert [env.bool(name) for name in "ABCDEFGH"] == [True] * 4 + [False] * 4


def test_values_are_taken_as_written():
    env = env_with(SECRET="$ecret", ITEMS=" a , b,,c ", EMPTY="", NUMBER=" 42 ", RATE="0.25")

    assert env.str("SECRET") == "$ecret"  # not a reference to a variable named "ecret"
    assert env.list("ITEMS") == ["a", "b", "c"]
    assert env.list("EMPTY", default=["localhost"]) == []  # set but empty: no host, not the default
    assert env.str("EMPTY", default="GOLD:0") == ""
    assert (env.int("NUMBER"), env.float("RATE")) == (42, 0.25)


@pytest.mark.parametrize(("read", "value", "message"), [
    (lambda env: env.bool("X"), "flase", "X must be true or false (1/0, yes/no, on/off), not 'flase'."),
    (lambda env: env.bool("X"), "2", "X must be true or false (1/0, yes/no, on/off), not '2'."),
    (lambda env: env.int("X"), "five", "X must be an integer, not 'five'."),
    (lambda env: env.int("X"), "1.5", "X must be an integer, not '1.5'."),
    (lambda env: env.float("X"), "0.5 s", "X must be a number, not '0.5 s'."),
    (lambda env: env.int("X", minimum=1), "0", "X must be at least 1, not 0."),
    (lambda env: env.int("X", maximum=60), "61", "X must be at most 60, not 61."),
    (lambda env: env.float("X", minimum=0, maximum=1), "1.5", "X must be from 0 to 1, not 1.5."),
    (lambda env: env.str("X", choices=("auto", "python")), "pyhton", "X must be one of auto, python, not 'pyhton'."),
])
def test_a_bad_value_of_each_type_is_refused_with_its_name_and_value(read, value, message):
    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        read(env_with(X=value))


def test_a_required_variable_that_is_unset_is_refused():
    with pytest.raises(ImproperlyConfigured, match="Set the X environment variable."):
        env_with().int("X")


def test_no_app_code_repeats_a_settings_default():
    roots = ["ledger", "wallets", "payments", "operators", "audit", "events", "mintguard_site", "bench", "scripts"]
    sources = [path for root in roots for path in (REPO / root).rglob("*.py") if "migrations" not in path.parts]
    fallback = re.compile(r"getattr\(\s*settings\s*,\s*[\"']MINTGUARD_")

    assert [str(path.relative_to(REPO)) for path in sources if fallback.search(path.read_text())] == []


# --- parsers, in process -----------------------------------------------------------------


def test_outage_cap_is_one_number_for_every_currency_or_a_list_with_a_default():
    assert parse_currency_caps("X", "", default=20000)["JPY"] == 20000
    assert parse_currency_caps("X", "5000", default=20000)["USD"] == 5000
    caps = parse_currency_caps("X", "usd:20000, EUR:15000", default=20000)
    assert (caps["USD"], caps["EUR"], caps["GBP"]) == (20000, 15000, 20000)
    assert parse_currency_caps("X", "USD:100,7", default=20000)["CHF"] == 7


@pytest.mark.parametrize("spec", ["USD", "USD:", "USD:-1", "US D:5", "USD:1.5"])
def test_outage_cap_refuses_malformed_entries(spec):
    with pytest.raises(ImproperlyConfigured):
        parse_currency_caps("MINTGUARD_OUTAGE_PENDING_CAP", spec, default=20000)


def test_outage_pending_cap_reads_the_setting_in_any_form(settings):
    settings.MINTGUARD_OUTAGE_PENDING_CAP = CurrencyCaps(20000, {"USD": 500})
    assert (outage_pending_cap("USD"), outage_pending_cap("EUR")) == (500, 20000)
    settings.MINTGUARD_OUTAGE_PENDING_CAP = 700
    assert outage_pending_cap("USD") == 700
    settings.MINTGUARD_OUTAGE_PENDING_CAP = "USD:20000,EUR:15000"
    assert outage_pending_cap("EUR") == 15000


@pytest.mark.parametrize(("spec", "expected"), [("6000/min", (6000, 60)), ("10/s", (10, 1)), ("5 / hour", (5, 3600)),
                                                ("1/day", (1, 86400))])
def test_rates_parse(spec, expected):
    assert parse_rate("X", spec) == expected


@pytest.mark.parametrize("spec", ["", "6000", "0/min", "-1/min", "10/fortnight", "ten/min"])
def test_malformed_rates_are_refused(spec):
    with pytest.raises(ImproperlyConfigured):
        parse_rate("MINTGUARD_API_RATE", spec)


def test_cache_defaults_to_local_memory():
    assert cache_from_url("")["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"
    assert cache_from_url("rediss://:pw@cache:6380/0")["LOCATION"] == "rediss://:pw@cache:6380/0"


def test_a_bad_cache_url_is_refused_by_its_scheme_without_its_password():
    with pytest.raises(ImproperlyConfigured) as refused:
        cache_from_url("memcached://user:hunter2@cache:11211")

    assert "CACHE_URL" in str(refused.value) and "memcached://" in str(refused.value)
    assert "hunter2" not in str(refused.value)


def test_assets_parse_into_codes_and_exponents():
    assert parse_assets("MINTGUARD_ASSETS", "gold:0, PTS:2") == {"GOLD": 0, "PTS": 2}
    assert parse_assets("MINTGUARD_ASSETS", "") == {}


@pytest.mark.parametrize("spec", ["GOLD", "GOLD:", "GOLD:-1", "GOLD:19", "GO LD:2", "GOLD:²"])
def test_malformed_assets_are_refused_with_the_entry(spec):
    with pytest.raises(ImproperlyConfigured, match=f"MINTGUARD_ASSETS: bad entry {re.escape(repr(spec))}"):
        parse_assets("MINTGUARD_ASSETS", spec)


def test_check_deploy_refuses_a_middleware_list_without_session_csrf_or_lockout_protection(settings):
    from mintguard_site.security import check_stateful_middleware

    assert check_stateful_middleware(None) == []
    # given a MIDDLEWARE that lost the CSRF middleware, then the session and axes ones (the libraries'
    # own checks, by dotted name, see none of them)
    settings.MIDDLEWARE = [path for path in settings.MIDDLEWARE if "Csrf" not in path]
    assert [error.id for error in check_stateful_middleware(None)] == ["mintguard_site.E002"]
    settings.MIDDLEWARE = [path for path in settings.MIDDLEWARE if "Session" not in path and "Axes" not in path]
    assert [error.id for error in check_stateful_middleware(None)] == [
        "mintguard_site.E001", "mintguard_site.E002", "mintguard_site.E003"]
