"""Request logs: one JSON line per request with its id, route, caller and timing; no secrets ever."""

import io
import json
import logging
import time

import pytest
from django.test import Client

from mintguard_site.observability.logs import JsonFormatter, RequestContextFilter, scrub

pytestmark = pytest.mark.django_db


@pytest.fixture
def log_lines():
    """Capture what the production handler would write, as parsed JSON objects."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)


def request_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["logger"] == "mintguard.request"]


def test_a_request_id_is_made_echoed_and_logged_when_the_caller_sends_none(api, log_lines):
    started = time.perf_counter()
    response = api.get("/api/v1/accounts")
    elapsed_ms = (time.perf_counter() - started) * 1000

    request_id = response["X-Request-ID"]
    [line] = request_lines(log_lines())
    assert len(request_id) == 32
    assert line["request_id"] == request_id
    assert line["method"] == "GET"
    assert line["route"] == "api/v1/accounts"
    assert line["status"] == 200
    assert 0 < line["duration_ms"] <= elapsed_ms  # the server's share of the time the client waited
    assert line["client_id"] == str(api.api_client.id)
    assert line["client_name"] == "primary"
    assert line["level"] == "info"


def test_the_callers_request_id_is_kept_and_tags_every_line_of_the_request(api, log_lines):
    account = api.post("/api/v1/accounts", {"owner_name": "Ids", "currency": "USD"}, format="json").json()
    before = len(log_lines())

    response = api.post(f"/api/v1/accounts/{account['id']}/withdraw", {"amount": 10}, format="json",
                        HTTP_IDEMPOTENCY_KEY="k-1", HTTP_X_REQUEST_ID="req-abc.123")

    assert response.status_code == 409
    assert response["X-Request-ID"] == "req-abc.123"
    lines = log_lines()[before:]
    assert lines and all(line["request_id"] == "req-abc.123" for line in lines)
    assert request_lines(lines)[0]["status"] == 409


@pytest.mark.parametrize("bad_id", ["has space", "x" * 129, "line\nbreak", "quote\"d"])
def test_an_unsafe_request_id_is_replaced_by_a_fresh_one(bad_id, log_lines):
    response = Client().get("/healthz", HTTP_X_REQUEST_ID=bad_id)

    assert response["X-Request-ID"] != bad_id
    assert len(response["X-Request-ID"]) == 32
    assert request_lines(log_lines())[0]["request_id"] == response["X-Request-ID"]


def test_the_api_key_and_authorization_header_never_reach_the_logs(make_api_client, log_lines):
    api = make_api_client("secretive")
    api.get("/api/v1/accounts")
    api.post("/api/v1/accounts", {"owner_name": "x" * 65, "currency": "USD"}, format="json")
    Client().get("/api/v1/accounts", HTTP_AUTHORIZATION=f"Bearer {api.api_key}x")

    text = json.dumps(log_lines())
    assert api.api_key not in text
    assert api.api_key[3:20] not in text
    assert "Bearer" not in text


def test_log_fields_named_like_secrets_are_redacted_and_messages_are_scrubbed(log_lines):
    logging.getLogger("mintguard.test").warning(
        "charged card 4111 1111 1111 1111 with Authorization: Bearer abc.def and key mg_abcdefghijklmnopqrstuvwx",
        extra={"api_key": "mg_live_secret", "webhook_secret": "whsec", "headers": {"Authorization": "Bearer t"},
               "order_id": "o-1", "amount": 4111111111111111},
    )

    [line] = log_lines()
    assert line["message"] == (
        "charged card [card ****1111] with Authorization: Bearer [redacted] and key mg_[redacted]"
    )
    assert line["api_key"] == "[redacted]"
    assert line["webhook_secret"] == "[redacted]"
    assert line["headers"] == {"Authorization": "[redacted]"}
    assert line["order_id"] == "o-1"
    assert line["amount"] == 4111111111111111  # numbers in fields are data, not card text


def test_scrub_leaves_ids_amounts_and_non_card_numbers_alone():
    text = "order 0c9f3a52-1d7e-4b8a-9c1e-2f4a6b8c0d1e amount 1000000000000000 ref 12345678901234567890123"

    assert scrub(text) == text
    assert scrub("pan 5500-0000-0000-0004 end") == "pan [card ****0004] end"


def test_money_events_are_logged_with_the_transaction_id(api, log_lines, django_capture_on_commit_callbacks):
    account = api.post("/api/v1/accounts", {"owner_name": "Money", "currency": "USD"}, format="json").json()

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/accounts/{account['id']}/deposit", {"amount": 700}, format="json",
                            HTTP_IDEMPOTENCY_KEY="money-1")

    [event] = [line for line in log_lines() if line.get("event") == "ledger.transaction_posted"]
    assert event["transaction_id"] == response.json()["transaction_id"]
    assert event["kind"] == "deposit"
    assert event["owner"] == str(api.api_client.id)
