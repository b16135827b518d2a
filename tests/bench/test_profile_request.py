"""bench/profile_request.py serves requests the way gunicorn hands them over: the WSGI environ it
builds carries the method, path, query, body and headers through the whole middleware stack."""

import json

import pytest
from django.core.servers.basehttp import get_internal_wsgi_application
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from bench.profile_request import wsgi_call


@pytest.fixture
def application():
    # As Django's test client does: the test's connection and transaction outlive each request.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    try:
        yield get_internal_wsgi_application()
    finally:
        for signal in (request_started, request_finished):
            signal.connect(close_old_connections)


def test_healthz_answers_ok_through_the_wsgi_application(application):
    status, body = wsgi_call(application, "GET", "/healthz")
    assert status == 200 and json.loads(body) == {"status": "ok"}


def test_a_transfer_posted_through_the_wsgi_environ_moves_the_money(application, make_api_client):
    key = {"Authorization": f"Bearer {make_api_client().api_key}"}

    def post(path, body, idempotency_key=None):
        headers = {**key, **({"Idempotency-Key": idempotency_key} if idempotency_key else {})}
        status, content = wsgi_call(application, "POST", path, json.dumps(body).encode(), headers)
        return status, json.loads(content)

    status, alice = post("/api/v1/accounts", {"owner_name": "Alice", "currency": "USD"})
    assert status == 201
    _, bob = post("/api/v1/accounts", {"owner_name": "Bob", "currency": "USD"})
    assert post(f"/api/v1/accounts/{alice['id']}/deposit", {"amount": 1000}, "fund-alice")[0] == 201

    status, transfer = post("/api/v1/transfers", {"source_account_id": alice["id"],
                                                  "destination_account_id": bob["id"], "amount": 300}, "t-1")

    assert status == 201 and transfer["amount"] == 300
    status, content = wsgi_call(application, "GET", f"/api/v1/accounts/{bob['id']}/statement?limit=1", headers=key)
    assert status == 200
    assert [entry["amount"] for entry in json.loads(content)["entries"]] == [300]


def test_a_request_without_credentials_is_refused_with_a_problem(application, db):
    status, content = wsgi_call(application, "POST", "/api/v1/transfers", b'{"amount": 1}',
                                {"Idempotency-Key": "k-1"})
    assert status == 401 and json.loads(content)["status"] == 401
