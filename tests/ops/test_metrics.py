"""/metrics in one process: what the API does shows up, labelled by route pattern, behind a token."""

import uuid

import pytest
from django.conf import settings
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from ledger.reconciliation import reconcile_run
from mintguard_site import observability

from ..db_helpers import db_uuid, raw_sql
from ..metrics_helpers import sample

pytestmark = pytest.mark.django_db

DEPOSIT_ROUTE = "api/v1/accounts/<str:account_id>/deposit"


def scrape(**headers) -> dict[str, dict]:
    """Return {sample name: {frozenset(labels): value}} from GET /metrics."""
    # settings_test.py sets a token, as production must (DEBUG off).
    headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {settings.MINTGUARD_METRICS_TOKEN}")
    response = Client().get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, dict] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for s in family.samples:
            samples.setdefault(s.name, {})[frozenset(s.labels.items())] = s.value
    return samples


def open_account(api) -> str:
    response = api.post("/api/v1/accounts", {"owner_name": "Metrics", "currency": "USD"}, format="json")
    assert response.status_code == 201
    return response.json()["id"]


def deposit(api, account_id: str, amount: int, key: str):
    return api.post(f"/api/v1/accounts/{account_id}/deposit", {"amount": amount}, format="json",
                    HTTP_IDEMPOTENCY_KEY=key)


def test_requests_are_counted_by_route_pattern_method_and_status_not_by_raw_path(api):
    first, second = open_account(api), open_account(api)
    before = sample("mintguard_http_requests_total", route="api/v1/accounts/<str:account_id>", method="GET",
                    status="200")
    missing_before = sample("mintguard_http_requests_total", route="api/v1/accounts/<str:account_id>",
                            method="GET", status="404")

    for account_id in (first, second, first):
        assert api.get(f"/api/v1/accounts/{account_id}").status_code == 200
    assert api.get(f"/api/v1/accounts/{uuid.uuid4()}").status_code == 404

    samples = scrape()
    route_labels = {dict(labels)["route"] for labels in samples["mintguard_http_requests_total"]}
    assert sample("mintguard_http_requests_total", route="api/v1/accounts/<str:account_id>", method="GET",
                  status="200") == before + 3
    assert sample("mintguard_http_requests_total", route="api/v1/accounts/<str:account_id>", method="GET",
                  status="404") == missing_before + 1
    assert not any(first in route or second in route for route in route_labels)


def test_latency_histogram_observes_each_request_of_a_route(api):
    account_id = open_account(api)
    before = sample("mintguard_http_request_duration_seconds_count", route=DEPOSIT_ROUTE, method="POST")

    for n in range(3):
        assert deposit(api, account_id, 100, f"latency-{n}").status_code == 201

    assert sample("mintguard_http_request_duration_seconds_count", route=DEPOSIT_ROUTE, method="POST") == before + 3
    assert sample("mintguard_http_request_duration_seconds_bucket", route=DEPOSIT_ROUTE, method="POST",
                  le="+Inf") == before + 3


def test_unknown_paths_share_one_label(client):
    before = sample("mintguard_http_requests_total", route="unmatched", method="GET", status="404")

    client.get(f"/no-such-page/{uuid.uuid4()}")
    client.get(f"/another/{uuid.uuid4()}")

    assert sample("mintguard_http_requests_total", route="unmatched", method="GET", status="404") == before + 2


def test_ledger_transactions_are_counted_once_when_committed_and_never_for_a_replay(
    api, django_capture_on_commit_callbacks
):
    account_id = open_account(api)
    before = sample("mintguard_ledger_transactions_posted_total", kind="deposit")
    replays_before = sample("mintguard_idempotent_replays_total")

    with django_capture_on_commit_callbacks(execute=True):
        assert deposit(api, account_id, 500, "count-me").status_code == 201
        replay = deposit(api, account_id, 500, "count-me")

    assert replay.status_code == 201
    assert replay["Idempotent-Replayed"] == "true"
    assert sample("mintguard_ledger_transactions_posted_total", kind="deposit") == before + 1
    assert sample("mintguard_idempotent_replays_total") == replays_before + 1


def test_refused_money_movement_counts_no_ledger_transaction(api, django_capture_on_commit_callbacks):
    account_id = open_account(api)
    before = sample("mintguard_ledger_transactions_posted_total", kind="withdrawal")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api.post(f"/api/v1/accounts/{account_id}/withdraw", {"amount": 1}, format="json",
                            HTTP_IDEMPOTENCY_KEY="too-much")

    assert response.status_code == 409
    assert callbacks == []
    assert sample("mintguard_ledger_transactions_posted_total", kind="withdrawal") == before


def test_idempotency_key_reused_with_another_body_is_counted_as_a_conflict(api):
    account_id = open_account(api)
    before = sample("mintguard_idempotency_conflicts_total", code="idempotency_key_reused")
    assert deposit(api, account_id, 100, "same-key").status_code == 201

    response = deposit(api, account_id, 200, "same-key")

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"
    assert sample("mintguard_idempotency_conflicts_total", code="idempotency_key_reused") == before + 1


def test_payment_refund_and_webhook_helpers_feed_their_metrics():
    paid, failed = (sample("mintguard_payments_total", outcome=o) for o in ("paid", "failed"))
    refunds, refunded = sample("mintguard_refunds_total", currency="EUR"), sample(
        "mintguard_refunded_amount_minor_total", currency="EUR")
    duplicates, firsts = (sample("mintguard_webhooks_received_total", duplicate=d) for d in ("true", "false"))

    observability.record_payment("PAID")
    observability.record_payment("paid")
    observability.record_payment("FAILED")
    observability.record_refund(1250, "EUR")
    observability.record_refund(750, "EUR")
    observability.record_webhook(duplicate=False)
    observability.record_webhook(duplicate=True)
    observability.record_webhook(duplicate=True)

    samples = scrape()
    assert samples["mintguard_payments_total"][frozenset({("outcome", "paid")})] == paid + 2
    assert samples["mintguard_payments_total"][frozenset({("outcome", "failed")})] == failed + 1
    assert samples["mintguard_refunds_total"][frozenset({("currency", "EUR")})] == refunds + 2
    assert samples["mintguard_refunded_amount_minor_total"][frozenset({("currency", "EUR")})] == refunded + 2000
    assert samples["mintguard_webhooks_received_total"][frozenset({("duplicate", "true")})] == duplicates + 2
    assert samples["mintguard_webhooks_received_total"][frozenset({("duplicate", "false")})] == firsts + 1


def test_exposition_names_every_operations_metric_before_anything_happened():
    samples = scrape()

    for name in (
        "mintguard_http_requests_total",
        "mintguard_http_request_duration_seconds_bucket",
        "mintguard_payments_total",
        "mintguard_webhooks_received_total",
        "mintguard_idempotency_conflicts_total",
        "mintguard_rate_limited_total",
        "mintguard_reconciliation_last_run_timestamp_seconds",
    ):
        assert name in samples, name


def test_reconciliation_gauges_show_the_latest_stored_run(api, django_capture_on_commit_callbacks):
    account_id = open_account(api)
    with django_capture_on_commit_callbacks(execute=True):
        assert deposit(api, account_id, 900, "gauge").status_code == 201
    clean = reconcile_run()
    assert scrape()["mintguard_reconciliation_drifts"][frozenset()] == 0

    raw_sql("UPDATE ledger_balancebucket SET balance = balance + 1 WHERE account_id = %s",
            (db_uuid(uuid.UUID(account_id)),))
    broken = reconcile_run()

    samples = scrape()
    assert clean.ok and not broken.ok
    assert samples["mintguard_reconciliation_drifts"][frozenset()] == 2
    assert samples["mintguard_reconciliation_check_drifts"][frozenset({("check", "ledger.accounts")})] == 2
    assert samples["mintguard_reconciliation_check_drifts"][frozenset({("check", "ledger.transactions")})] == 0
    assert samples["mintguard_reconciliation_last_run_timestamp_seconds"][frozenset()] == pytest.approx(
        broken.finished_at.timestamp()
    )


def test_metrics_are_open_when_no_token_is_configured(settings):
    settings.MINTGUARD_METRICS_TOKEN = ""

    assert Client().get("/metrics").status_code == 200


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token", "Basic c2NyYXBlLXNlY3JldA==",
                                           "Bearer scrape-secretX", "scrape-secret"])
def test_metrics_refuse_a_missing_or_wrong_token_when_one_is_configured(settings, authorization):
    settings.MINTGUARD_METRICS_TOKEN = "scrape-secret"
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}

    response = Client().get("/metrics", **headers)

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert response.json()["code"] == "authentication_failed"
    assert b"mintguard_http_requests_total" not in response.content


def test_metrics_answer_the_right_bearer_token(settings):
    settings.MINTGUARD_METRICS_TOKEN = "scrape-secret"

    response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-secret")

    assert response.status_code == 200
    assert b"mintguard_http_requests_total" in response.content


def test_rate_limited_requests_are_counted(api, settings, clean_cache, frozen_clock):
    settings.MINTGUARD_API_RATE = "1/min"
    before = sample("mintguard_rate_limited_total", limit="api")

    api.get("/api/v1/accounts")
    response = api.get("/api/v1/accounts")

    assert response.status_code == 429
    assert sample("mintguard_rate_limited_total", limit="api") == before + 1


def test_a_metric_that_cannot_be_recorded_never_fails_the_caller(monkeypatch, caplog):
    from mintguard_site.observability import metrics

    def broken(*labels):
        raise OSError("metrics directory is gone")

    monkeypatch.setattr(metrics.PAYMENTS, "labels", broken)

    assert observability.record_payment("paid") is None
    assert "could not record metric record_payment" in caplog.text
