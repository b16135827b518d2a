"""No request, however malformed, gets a 5xx: every case here is a 4xx problem+json and moves nothing."""

import json
import uuid

import pytest

from ledger.models import Posting

pytestmark = pytest.mark.django_db

ACCOUNT = "__account__"  # replaced by a real account id of the caller

CASES = [
    # (name, method, path, body (str = raw bytes), content type, expected status, expected code)
    ("malformed json", "post", "/api/v1/accounts/__account__/deposit", '{"amount": 1', "application/json", 400, "malformed_request"),
    ("json with NaN", "post", "/api/v1/accounts/__account__/deposit", '{"amount": NaN}', "application/json", 400, "malformed_request"),
    ("json with Infinity", "post", "/api/v1/accounts/__account__/deposit", '{"amount": Infinity}', "application/json", 400, "malformed_request"),
    ("form encoded body", "post", "/api/v1/accounts/__account__/deposit", "amount=5", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ("plain text body", "post", "/api/v1/transfers", "hello", "text/plain", 415, "unsupported_media_type"),
    ("string amount", "post", "/api/v1/accounts/__account__/deposit", {"amount": "100"}, None, 422, "validation_error"),
    ("float amount", "post", "/api/v1/accounts/__account__/deposit", {"amount": 10.5}, None, 422, "validation_error"),
    ("integral float amount", "post", "/api/v1/accounts/__account__/deposit", {"amount": 10.0}, None, 422, "validation_error"),
    ("boolean amount", "post", "/api/v1/accounts/__account__/deposit", {"amount": True}, None, 422, "validation_error"),
    ("null amount", "post", "/api/v1/accounts/__account__/deposit", {"amount": None}, None, 422, "validation_error"),
    ("zero amount", "post", "/api/v1/accounts/__account__/deposit", {"amount": 0}, None, 422, "validation_error"),
    ("negative amount", "post", "/api/v1/accounts/__account__/withdraw", {"amount": -5}, None, 422, "validation_error"),
    ("amount 10^30", "post", "/api/v1/accounts/__account__/deposit", '{"amount": 1000000000000000000000000000000}', "application/json", 422, "validation_error"),
    ("amount just over 10^15", "post", "/api/v1/accounts/__account__/deposit", {"amount": 10**15 + 1}, None, 422, "validation_error"),
    ("missing amount", "post", "/api/v1/accounts/__account__/deposit", {}, None, 422, "validation_error"),
    ("body is a list", "post", "/api/v1/accounts/__account__/deposit", [1, 2], None, 422, "validation_error"),
    ("body is a number", "post", "/api/v1/accounts/__account__/deposit", "42", "application/json", 422, "validation_error"),
    ("unknown field", "post", "/api/v1/accounts/__account__/deposit", {"amount": 5, "amout": 5}, None, 422, "validation_error"),
    ("description too long", "post", "/api/v1/accounts/__account__/deposit", {"amount": 5, "description": "x" * 501}, None, 422, "validation_error"),
    ("null byte in description", "post", "/api/v1/accounts/__account__/deposit", {"amount": 5, "description": "a\u0000b"}, None, 422, "validation_error"),
    ("lone surrogate in description", "post", "/api/v1/accounts/__account__/deposit", '{"amount": 5, "description": "\\ud800"}', "application/json", 422, "validation_error"),
    ("1 MB body", "post", "/api/v1/accounts/__account__/deposit", {"amount": 5, "description": "x" * 1_000_000}, None, 413, "payload_too_large"),
    ("unknown currency", "post", "/api/v1/accounts", {"owner_name": "A", "currency": "XYZ"}, None, 422, "validation_error"),
    ("lower-case currency", "post", "/api/v1/accounts", {"owner_name": "A", "currency": "usd"}, None, 422, "validation_error"),
    ("unicode currency", "post", "/api/v1/accounts", {"owner_name": "A", "currency": "ÜSD"}, None, 422, "validation_error"),
    ("owner_name too long", "post", "/api/v1/accounts", {"owner_name": "é" * 65}, None, 422, "validation_error"),
    ("owner_name wrong type", "post", "/api/v1/accounts", {"owner_name": {"a": 1}}, None, 422, "validation_error"),
    ("transfer ids not uuids", "post", "/api/v1/transfers", {"source_account_id": "x", "destination_account_id": "💸", "amount": 1}, None, 422, "validation_error"),
    ("transfer from unknown account", "post", "/api/v1/transfers", {"source_account_id": str(uuid.UUID(int=1)), "destination_account_id": "__account__", "amount": 1}, None, 404, "account_not_found"),
    ("unicode account id in path", "post", "/api/v1/accounts/ünïcødé/deposit", {"amount": 5}, None, 404, "account_not_found"),
    ("very long account id in path", "get", "/api/v1/accounts/" + "9" * 3000, None, None, 404, "account_not_found"),
    ("unknown transfer", "get", f"/api/v1/transfers/{uuid.UUID(int=7)}", None, None, 404, "transfer_not_found"),
    ("unknown route", "get", "/api/v1/nothing-here", None, None, 404, "not_found"),
    ("wrong method", "delete", "/api/v1/accounts/__account__", None, None, 405, "method_not_allowed"),
    ("non-ascii idempotency key", "post", "/api/v1/accounts/__account__/deposit", {"amount": 5}, None, 400, "idempotency_key_invalid"),
    ("limit with unicode digits", "get", "/api/v1/accounts?limit=%D9%A3", None, None, 400, "invalid_parameter"),
    ("cursor with unicode", "get", "/api/v1/accounts?cursor=%E2%98%83", None, None, 400, "invalid_cursor"),
    ("limit with a superscript digit", "get", "/api/v1/accounts?limit=%C2%B2", None, None, 400, "invalid_parameter"),
    ("json nested 1,000 deep", "post", "/api/v1/accounts/__account__/deposit", "[" * 1000 + "]" * 1000, "application/json", 400, "malformed_request"),
    ("json nested 65 deep", "post", "/api/v1/transfers/batch", '{"transfers": ' + "[" * 64 + "]" * 64 + "}", "application/json", 400, "malformed_request"),
    ("NUL in an account id", "post", "/api/v1/accounts/__account__%00/deposit", {"amount": 5}, None, 400, "invalid_parameter"),
    ("control character in a query parameter", "get", "/api/v1/orders?user_id=ana%1B", None, None, 400, "invalid_parameter"),
    ("zero-width space in a user_id", "post", "/api/v1/wallets/topup", {"user_id": "ana\u200b", "amount": 5, "reference_id": "r-1"}, None, 422, "validation_error"),
    ("zero-width space in a user_id filter", "get", "/api/v1/orders?user_id=ana%E2%80%8B", None, None, 400, "invalid_parameter"),
]


@pytest.mark.parametrize("name,method,path,body,content_type,status,code", CASES, ids=[c[0] for c in CASES])
def test_malformed_input_gets_a_4xx_problem_and_moves_nothing(api, name, method, path, body, content_type, status, code):
    account = api.post("/api/v1/accounts", {"owner_name": "Target"}, format="json").json()["id"]
    path = path.replace(ACCOUNT, account)
    if isinstance(body, dict | list):
        body = json.loads(json.dumps(body).replace(ACCOUNT, account))
        payload, content_type = json.dumps(body), "application/json"
    else:
        payload = body
    key = "kéy" if name == "non-ascii idempotency key" else f"key-{name}"
    extra = {"HTTP_IDEMPOTENCY_KEY": key}
    if payload is not None:
        extra["data"] = payload.encode() if isinstance(payload, str) else payload
        extra["content_type"] = content_type

    response = getattr(api, method)(path, **extra)

    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == code and problem["status"] == status and problem["title"] and problem["detail"]
    if status == 422:
        assert problem["errors"]
    assert Posting.objects.count() == 0


def test_a_post_to_an_unknown_api_route_is_a_404_problem_even_from_a_browser_session(client):
    response = client.post("/api/v1/no-such-route", data="{}", content_type="application/json")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"
