"""The lean request path (issue 15): stateless requests skip the session machinery, API keys are
remembered for a bounded time, JSON goes through orjson unchanged, and a replay is one indexed read."""

import hashlib
import io
import json
from types import SimpleNamespace

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from ledger.models import Account, Transaction
from mintguard_site.api import auth
from mintguard_site.api.models import ApiClient, IdempotencyKey
from mintguard_site.api.parsers import BoundedJSONParser
from mintguard_site.api.renderers import OrjsonRenderer
from mintguard_site.api.services import api_client_revoke
from mintguard_site.security import is_stateless

from ..role_helpers import PASSWORD, user_with_role

pytestmark = pytest.mark.django_db

SECURITY_HEADERS = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy",
                    "X-Request-ID")


def caller(key: str) -> APIClient:
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return http


# --- stateless requests ----------------------------------------------------------------------------

@pytest.mark.parametrize("path,authorization,stateless", [
    ("/healthz", "", True),
    ("/readyz", "", True),
    ("/metrics", "Bearer token", True),
    ("/api/v1/accounts", "Bearer mg_key", True),
    ("/api/v1/accounts", "bearer mg_key", True),
    ("/api/v1/accounts", "", False),  # the browsable API, signed in with a session
    ("/api/v1/accounts", "Basic dXNlcjpwYXNz", False),
    ("/accounts/", "Bearer mg_key", False),  # a dashboard page: a Bearer header changes nothing there
])
def test_only_probes_and_bearer_api_calls_are_stateless(path, authorization, stateless):
    request = RequestFactory().get(path, HTTP_AUTHORIZATION=authorization) if authorization else \
        RequestFactory().get(path)
    assert is_stateless(request) is stateless


def test_a_bearer_call_carrying_a_session_cookie_is_judged_by_its_key_alone(api):
    # given an operator's signed-in browser session
    user_with_role("admin", username="ops")
    browser = Client()
    assert browser.post("/login/", {"username": "ops", "password": PASSWORD}).status_code == 302
    session_cookie = browser.cookies[django_settings.SESSION_COOKIE_NAME].value

    # when a request sends that cookie with a wrong Bearer key, then with the right one
    wrong = caller("mg_not_a_real_key")
    wrong.cookies[django_settings.SESSION_COOKIE_NAME] = session_cookie
    right = caller(api.api_key)
    right.cookies[django_settings.SESSION_COOKIE_NAME] = session_cookie

    # then the session neither rescues the wrong key nor is touched by the right one
    assert wrong.get("/api/v1/accounts").status_code == 401
    response = right.get("/api/v1/accounts")
    assert response.status_code == 200
    assert "Set-Cookie" not in response and "Cookie" not in response.get("Vary", "")
    assert browser.get("/api/v1/accounts").status_code == 200  # the session itself still works


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/accounts"])
def test_stateless_answers_keep_every_security_header_and_set_no_cookie(api, path):
    response = api.get(path)

    assert response.status_code == 200
    assert all(header in response for header in SECURITY_HEADERS), dict(response.headers)
    assert response["X-Frame-Options"] == "DENY"
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]
    assert not response.cookies


def test_the_dashboard_keeps_its_csrf_protection():
    client = Client(enforce_csrf_checks=True)

    page = client.get("/login/")
    refused = client.post("/login/", {"username": "x", "password": "y"}, HTTP_X_CSRFTOKEN="forged")

    assert django_settings.CSRF_COOKIE_NAME in page.cookies
    assert refused.status_code == 403


# --- API keys remembered per process ---------------------------------------------------------------

def test_a_revoked_key_is_refused_at_once_in_the_process_that_revoked_it(api):
    assert api.get("/api/v1/accounts").status_code == 200  # the key is now remembered

    api_client_revoke(client=api.api_client)

    assert api.get("/api/v1/accounts").status_code == 401


def test_a_key_revoked_by_another_process_stops_working_within_the_bound(api, settings, monkeypatch):
    # The cache's clock, moved by hand: a slow machine's pauses must not move it for us.
    now = [1_000.0]
    monkeypatch.setattr(auth, "time", SimpleNamespace(monotonic=lambda: now[0]))
    # given a remembered key, revoked behind this process's back (as another worker would)
    settings.MINTGUARD_API_KEY_CACHE_SECONDS = 5
    assert api.get("/api/v1/accounts").status_code == 200
    ApiClient.objects.filter(pk=api.api_client.pk).update(is_active=False)

    # then it works until the bound has passed, and not after
    now[0] += 5
    assert api.get("/api/v1/accounts").status_code == 200
    now[0] += 0.1
    assert api.get("/api/v1/accounts").status_code == 401


def test_with_the_cache_off_every_request_reads_the_key(api, settings):
    settings.MINTGUARD_API_KEY_CACHE_SECONDS = 0
    assert api.get("/api/v1/accounts").status_code == 200
    ApiClient.objects.filter(pk=api.api_client.pk).update(is_active=False)

    assert api.get("/api/v1/accounts").status_code == 401


def test_a_remembered_key_costs_no_query_and_last_used_at_is_written_once_a_minute(api):
    with CaptureQueriesContext(connection) as first:
        api.get("/api/v1/accounts")
    with CaptureQueriesContext(connection) as second:
        api.get("/api/v1/accounts")

    assert [q["sql"].split('"')[1] for q in first.captured_queries if "api_apiclient" in q["sql"]] == [
        "api_apiclient", "api_apiclient"]  # the key read, last_used_at written
    assert not [q for q in second.captured_queries if "api_apiclient" in q["sql"]]
    assert ApiClient.objects.get(pk=api.api_client.pk).last_used_at is not None


# --- JSON through orjson -----------------------------------------------------------------------------

@pytest.mark.parametrize("data", [
    {"id": "a", "amount": 10**18, "nested": [{"é": "ü💸"}, None, True]},
    {"line": "a\u2028b\u2029c", "control": "\x00\x1f\"\\"},
    {"errors": {"amount": ["A valid integer is required."]}, 1: "int key"},
    {"huge": 10**30, "float": 1e16},
])
def test_the_renderer_writes_exactly_what_drf_writes(data):
    assert OrjsonRenderer().render(data) == JSONRenderer().render(data)
    assert OrjsonRenderer().render(data, "application/json; indent=4") == \
        JSONRenderer().render(data, "application/json; indent=4")


def canonical(data) -> str:
    """The form fingerprints hash a body in (mintguard_site.api.idempotency.fingerprint)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


@pytest.mark.parametrize("body", [
    '{"amount": 5, "description": "caf\\u00e9 \\u2028 \\ud83d\\udcb8"}',
    '{"amount": 5, "amount": 7}',  # duplicate keys: the last one, as before
    '{"amount": 100000000000000000000000000000}',  # beyond 64 bits: still an integer
    '{"amount": 5.0, "rate": 1e400}',
    '{"description": "\\ud800"}',  # a lone surrogate: read, then refused by validation as before
    '[{"transfers": [[1, 2], {"a": null}]}]',
])
def test_the_parser_reads_every_body_exactly_as_the_standard_library_does(body):
    parsed = BoundedJSONParser().parse(io.BytesIO(body.encode()), "application/json", {"encoding": "utf-8"})

    assert canonical(parsed) == canonical(json.loads(body))


def test_a_stored_fingerprint_is_the_one_made_before_orjson(api):
    account = api.post("/api/v1/accounts", {"owner_name": "Prints"}, format="json").json()["id"]
    path, body = f"/api/v1/accounts/{account}/deposit", '{"amount": 5, "description": "caf\\u00e9"}'

    api.post(path, data=body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="print")

    expected = hashlib.sha256(f"POST\n{path}\n{canonical(json.loads(body))}".encode()).hexdigest()
    assert IdempotencyKey.objects.get(key="print").fingerprint == expected


# --- idempotency in the request's transaction ----------------------------------------------------------

def test_a_replay_is_one_indexed_read_and_touches_no_ledger_table(api):
    account = api.post("/api/v1/accounts", {"owner_name": "Replay"}, format="json").json()["id"]
    first = api.post(f"/api/v1/accounts/{account}/deposit", {"amount": 5}, format="json", HTTP_IDEMPOTENCY_KEY="r")

    with CaptureQueriesContext(connection) as captured:
        replay = api.post(f"/api/v1/accounts/{account}/deposit", {"amount": 5}, format="json",
                          HTTP_IDEMPOTENCY_KEY="r")

    sent = [q["sql"] for q in captured.captured_queries if not q["sql"].startswith(("BEGIN", "COMMIT", "SAVEPOINT",
                                                                                    "RELEASE"))]
    assert (replay.status_code, replay.content, replay["Idempotent-Replayed"]) == (201, first.content, "true")
    assert len(sent) == (1 if connection.vendor == "postgresql" else 2), sent
    assert all("api_idempotencykey" in sql and "ledger_" not in sql for sql in sent)


def test_a_refused_withdrawal_is_stored_after_its_rollback_and_replayed(api):
    account = api.post("/api/v1/accounts", {"owner_name": "Empty"}, format="json").json()["id"]

    refused = api.post(f"/api/v1/accounts/{account}/withdraw", {"amount": 5}, format="json", HTTP_IDEMPOTENCY_KEY="w")
    replayed = api.post(f"/api/v1/accounts/{account}/withdraw", {"amount": 5}, format="json",
                        HTTP_IDEMPOTENCY_KEY="w")

    assert refused.status_code == 409 and refused.json()["code"] == "insufficient_funds"
    assert (replayed.status_code, replayed.content, replayed["Idempotent-Replayed"]) == (409, refused.content, "true")
    row = IdempotencyKey.objects.get(key="w")
    assert (row.state, row.response_status, bytes(row.response_body)) == ("completed", 409, refused.content)
    assert not Transaction.objects.filter(kind="withdrawal").exists()
    assert Account.objects.with_balance().get(pk=account).balance == 0
