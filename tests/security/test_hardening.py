"""Issue 14 item 7: hardening. Bounded sessions, no-store pages, a CSP, and settings that refuse to start unsafe.

Settings refusals run `manage.py check` in a subprocess with a production environment, as
tests/ops/test_settings.py does.
"""

import base64
import secrets
import time

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, get_resolver

from mintguard_site.conf import webhook_secret_problems
from mintguard_site.security import LAST_SEEN, SIGNED_IN_AT
from payments import webhooks
from payments.providers import get_provider
from payments.providers.simulator import SimulatedProvider

from ..ops.test_settings import manage, production_env, settings_in
from ..role_helpers import PASSWORD, user_with_role

pytestmark = pytest.mark.django_db


def signed_in_client(username: str = "vera") -> Client:
    user_with_role("admin", username=username)
    client = Client()
    assert client.post("/login/", {"username": username, "password": PASSWORD}).status_code == 302
    return client


# --- sessions ------------------------------------------------------------------------------


def set_session(client: Client, **values) -> None:
    session = client.session
    session.update(values)
    session.save()


def test_an_idle_dashboard_session_ends_after_the_idle_timeout_and_each_request_extends_it():
    client = signed_in_client()
    idle = django_settings.MINTGUARD_SESSION_IDLE_TIMEOUT
    assert idle == 1800
    assert time.time() - client.session[LAST_SEEN] < 60  # stamped at sign-in

    # Idle for almost the whole timeout: a request still gets through and starts it again.
    set_session(client, **{LAST_SEEN: time.time() - idle + 30})
    assert client.get("/").status_code == 200
    assert time.time() - client.session[LAST_SEEN] < 60

    # Idle past it: signed out, and the session is gone.
    set_session(client, **{LAST_SEEN: time.time() - idle - 1})
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert client.get("/").status_code == 302


def test_an_active_session_still_ends_at_its_absolute_age():
    client = signed_in_client()
    session = client.session
    assert time.time() - session[SIGNED_IN_AT] < 60  # stamped at sign-in
    assert client.get("/").status_code == 200

    set_session(client, **{SIGNED_IN_AT: time.time() - django_settings.MINTGUARD_SESSION_MAX_AGE - 1,
                           LAST_SEEN: time.time()})
    response = client.get("/")

    assert django_settings.MINTGUARD_SESSION_MAX_AGE == 12 * 3600
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert client.get("/").status_code == 302  # the session is gone, not just this request


def test_an_admin_sign_in_is_stamped_and_bounded_too():
    user_with_role("admin", username="ada", is_staff=True)
    client = Client()
    assert client.post("/admin/login/", {"username": "ada", "password": PASSWORD}).status_code == 302
    assert SIGNED_IN_AT in client.session


def test_an_active_session_writes_its_session_at_most_once_a_minute():
    client = signed_in_client()
    client.get("/")

    with CaptureQueriesContext(connection) as queries:
        assert client.get("/").status_code == 200

    assert not any(query["sql"].startswith("UPDATE") and "django_session" in query["sql"]
                   for query in queries.captured_queries)


def test_bearer_api_requests_load_and_save_no_session(api):
    with CaptureQueriesContext(connection) as queries:
        response = api.get("/api/v1/accounts")

    assert response.status_code == 200
    assert not any("django_session" in query["sql"] for query in queries.captured_queries)
    assert django_settings.SESSION_COOKIE_NAME not in response.cookies
    assert Session.objects.count() == 0


# --- Cache-Control: no-store ----------------------------------------------------------------


def dashboard_paths() -> list[str]:
    """Every dashboard page that takes no argument, from the URLconf (new pages are checked too)."""
    paths = []
    for namespace in ("operators", "payments", "ledger", "wallets"):
        for pattern in get_resolver().namespace_dict[namespace][1].url_patterns:
            if isinstance(pattern, URLPattern) and not pattern.pattern.converters:
                paths.append("/" + str(pattern.pattern))
    return paths


def test_every_dashboard_page_is_no_store():
    client = signed_in_client()
    answered = {}
    for path in dashboard_paths():
        response = client.get(path)
        if response.status_code == 405:  # POST-only actions
            continue
        answered[path] = response.status_code
        assert "no-store" in response.get("Cache-Control", ""), path
    assert len(answered) >= 8 and set(answered.values()) <= {200, 302}
    for path in ("/login/", "/admin/", "/no-such-page/"):
        assert "no-store" in client.get(path).get("Cache-Control", ""), path


def test_responses_that_show_a_secret_are_no_store(api):
    client = signed_in_client()
    created = client.post("/api-keys/new/", {"name": "Shop backend", "scopes": ["accounts"]})

    assert created.status_code == 201 and b"mg_" in created.content  # the new key, shown once
    assert "no-store" in created["Cache-Control"]
    assert "no-store" in api.get("/api/v1/accounts")["Cache-Control"]  # clients' money, per client


def test_static_files_keep_their_cache_headers():
    response = Client().get("/static/css/dashboard.css")

    assert response.status_code == 200
    assert "no-store" not in response.get("Cache-Control", "")


# --- Content-Security-Policy ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/login/", "/admin/login/", "/api/docs/", "/api/redoc/"])
def test_pages_carry_a_csp_with_no_inline_script(path):
    response = Client().get(path)

    policy = dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";"))
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
    assert b"<script>" not in response.content  # every script is a file


def test_the_swagger_ui_start_up_script_is_served_as_a_file():
    page = Client().get("/api/docs/").content.decode()
    script = Client().get("/api/docs/?script=")

    assert 'src="/api/docs/?script="' in page
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in script.content


# --- settings that refuse to start -----------------------------------------------------------


def test_production_refuses_to_start_without_a_metrics_token():
    result = manage("check", env=production_env(MINTGUARD_METRICS_TOKEN=None))

    assert result.returncode != 0
    assert "MINTGUARD_METRICS_TOKEN must be set when DEBUG is off." in result.stderr


def test_production_refuses_to_start_without_naming_the_payment_provider():
    result = manage("check", env=production_env(MINTGUARD_PAYMENT_PROVIDER=None))

    assert result.returncode != 0
    assert "MINTGUARD_PAYMENT_PROVIDER must be set when DEBUG is off." in result.stderr


def test_debug_defaults_to_the_simulator_and_the_provider_is_read_from_settings(settings):
    env = production_env(DEBUG="true", MINTGUARD_PAYMENT_PROVIDER=None, MINTGUARD_METRICS_TOKEN=None)
    assert settings_in(env, "MINTGUARD_PAYMENT_PROVIDER") == {"MINTGUARD_PAYMENT_PROVIDER": "simulator"}

    settings.MINTGUARD_PAYMENT_PROVIDER = "simulator"
    assert isinstance(get_provider(), SimulatedProvider)
    settings.MINTGUARD_PAYMENT_PROVIDER = "payments.no_such_module.Provider"
    with pytest.raises(ImportError):
        get_provider()


def test_the_proxy_ssl_header_is_trusted_only_when_configured():
    assert settings_in(production_env(), "SECURE_PROXY_SSL_HEADER") == {"SECURE_PROXY_SSL_HEADER": None}
    configured = settings_in(production_env(MINTGUARD_PROXY_SSL_HEADER="X-Forwarded-Proto"), "SECURE_PROXY_SSL_HEADER")
    assert configured == {"SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"]}


def test_a_forged_forwarded_proto_does_not_make_a_request_secure():
    response = Client().get("/login/", HTTP_X_FORWARDED_PROTO="https")

    assert response.wsgi_request.is_secure() is False


SHORT_SECRETS = [
    "whsec_" + base64.b64encode(secrets.token_bytes(23)).decode(),  # decodes to 23 bytes
    "x" * 23,  # not base64: its 23 UTF-8 bytes are the key
    "c2hvcnQ=",  # bare base64: the decoded 5 bytes count, not the 8 characters
]


@pytest.mark.parametrize("secret", SHORT_SECRETS)
def test_a_webhook_secret_with_a_key_under_24_bytes_stops_startup(secret):
    result = manage("check", env=production_env(MINTGUARD_PROVIDER_WEBHOOK_SECRET=f"whsec_{'A' * 44},{secret}"))

    assert result.returncode != 0
    assert "MINTGUARD_PROVIDER_WEBHOOK_SECRET: secret #2 has a" in result.stderr


@pytest.mark.parametrize("secret", [*SHORT_SECRETS, "whsec_" + base64.b64encode(b"k" * 24).decode(), "y" * 24,
                                    "test-only-webhook-secret", "whsec_not*base64"])
def test_the_startup_check_measures_the_key_as_the_webhook_verifier_derives_it(secret):
    try:
        key_length = len(webhooks.webhook_secret_key(secret))
    except ValueError:
        key_length = None  # undecodable: refused by the payments.E001 system check instead

    refused = bool(webhook_secret_problems(secret))

    assert refused == (key_length is not None and key_length < 24)
