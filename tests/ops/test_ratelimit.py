"""Rate limits: per API key on the API (429 problem+json with Retry-After); the client IP behind proxies.

Sign-in lockouts (django-axes) are tested in tests/security/test_login_lockout.py.
"""

import pytest
from django.test import RequestFactory

from mintguard_site.ratelimit import client_ip

pytestmark = pytest.mark.django_db


@pytest.fixture
def burst_of_three(settings, clean_cache, frozen_clock):
    settings.MINTGUARD_API_RATE = "3/min"


def test_api_answers_429_problem_json_with_retry_after_past_the_burst(api, burst_of_three):
    statuses = [api.get("/api/v1/accounts").status_code for _ in range(3)]

    response = api.get("/api/v1/accounts")

    assert statuses == [200, 200, 200]
    assert response.status_code == 429
    assert response["Content-Type"] == "application/problem+json"
    assert response["Retry-After"] == "10"  # 9.5 s left in the window, rounded up
    body = response.json()
    assert body["code"] == "rate_limited"
    assert body["status"] == 429


def test_money_moving_posts_count_against_the_same_limit_and_move_no_money(api, burst_of_three):
    account_id = api.post("/api/v1/accounts", {"owner_name": "Limited", "currency": "USD"}, format="json").json()["id"]
    api.post(f"/api/v1/accounts/{account_id}/deposit", {"amount": 100}, format="json", HTTP_IDEMPOTENCY_KEY="d-1")
    api.get(f"/api/v1/accounts/{account_id}")

    refused = api.post(f"/api/v1/accounts/{account_id}/deposit", {"amount": 100}, format="json",
                       HTTP_IDEMPOTENCY_KEY="d-2")

    assert refused.status_code == 429
    assert api.get(f"/api/v1/accounts/{account_id}").status_code == 429
    from ledger.models import Account

    assert Account.objects.with_balance().get(pk=account_id).balance == 100


def test_each_api_key_has_its_own_budget(make_api_client, burst_of_three):
    greedy, patient = make_api_client("greedy"), make_api_client("patient")
    for _ in range(3):
        greedy.get("/api/v1/accounts")

    assert greedy.get("/api/v1/accounts").status_code == 429
    assert patient.get("/api/v1/accounts").status_code == 200


def test_the_budget_comes_back_in_the_next_window(api, burst_of_three, monkeypatch):
    for _ in range(4):
        api.get("/api/v1/accounts")

    monkeypatch.setattr("mintguard_site.ratelimit._now", lambda: 1_700_000_040.0)

    assert api.get("/api/v1/accounts").status_code == 200


def test_the_default_rate_is_generous(api, settings, clean_cache, frozen_clock):
    assert settings.MINTGUARD_API_RATE == "6000/min"

    statuses = {api.get("/api/v1/accounts").status_code for _ in range(50)}

    assert statuses == {200}


def test_public_probes_are_never_rate_limited(client, burst_of_three):
    assert {client.get("/healthz").status_code for _ in range(10)} == {200}


# --- client IP ---------------------------------------------------------------------------


def login_request(ip: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": ip}
    if forwarded:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().post("/login/", **extra)


def test_client_ip_trusts_only_as_many_forwarded_hops_as_configured(settings):
    request = login_request("10.1.1.1", forwarded="6.6.6.6, 203.0.113.9")

    settings.MINTGUARD_PROXY_HOPS = 0
    assert client_ip(request) == "10.1.1.1"
    settings.MINTGUARD_PROXY_HOPS = 1
    assert client_ip(request) == "203.0.113.9"
    settings.MINTGUARD_PROXY_HOPS = 2
    assert client_ip(request) == "6.6.6.6"


def test_a_broken_cache_lets_requests_through(api, settings, monkeypatch, burst_of_three):
    from django.core.cache import cache

    def down(*args, **kwargs):
        raise ConnectionError("redis is down")

    monkeypatch.setattr(cache, "add", down)
    monkeypatch.setattr(cache, "incr", down)

    assert {api.get("/api/v1/accounts").status_code for _ in range(5)} == {200}
