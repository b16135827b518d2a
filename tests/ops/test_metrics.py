"""/metrics in one process: what the API does shows up, labelled by route pattern, behind a token; the
background work (task queue, schedule, webhook deliveries) is read from the database."""

import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult
from prometheus_client.parser import text_string_to_metric_families

from events.models import Delivery, DeliveryAttempt, DeliveryStatus
from events.services import endpoint_create, event_record
from events.tasks import event_dispatch
from ledger.reconciliation import reconcile_run
from ledger.tasks import holds_expire_task
from mintguard_site import observability
from mintguard_site.schedule import JOBS, schedule_run_due
from mintguard_site.tasks import reconcile_task

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
        "mintguard_webhook_deliveries",
        "mintguard_webhook_delivery_attempts_sampled",
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


# --- background work, read from the database -------------------------------------------------


def by_task(samples: dict, name: str) -> dict[str, float]:
    return {dict(labels)["task"]: value for labels, value in samples.get(name, {}).items()}


def test_queue_depth_counts_ready_tasks_per_task_apart_from_deferred_and_running_ones():
    for _ in range(3):
        holds_expire_task.enqueue()
    reconcile_task.enqueue()
    holds_expire_task.using(run_after=timezone.now() + timedelta(hours=1)).enqueue()
    started = reconcile_task.enqueue()
    DBTaskResult.objects.filter(pk=started.id).update(status=TaskResultStatus.RUNNING)

    samples = scrape()

    holds, reconcile = holds_expire_task.module_path, reconcile_task.module_path
    assert by_task(samples, "mintguard_task_queue_depth") == {holds: 3, reconcile: 1}
    assert by_task(samples, "mintguard_tasks_deferred") == {holds: 1, reconcile: 0}
    assert by_task(samples, "mintguard_tasks_running") == {holds: 0, reconcile: 1}


def test_each_scheduled_job_exposes_when_it_last_ran():
    now = timezone.now()
    schedule_run_due(now=now)

    last_runs = scrape()["mintguard_schedule_last_run_timestamp_seconds"]

    for job in JOBS:
        assert last_runs[frozenset({("job", job.name)})] == pytest.approx(now.timestamp())


def test_deliveries_are_counted_by_status_and_recent_attempts_give_the_latency_quantiles(settings):
    settings.MINTGUARD_WEBHOOK_ALLOW_INSECURE = True
    endpoint, _ = endpoint_create(owner="client-a", url="http://127.0.0.1:9/hooks", events=["*"])
    for n in range(4):
        event_dispatch.call(str(event_record(type="order.paid", owner="client-a", data={"id": f"o-{n}"}).id))
    first, second, third, _ = Delivery.objects.order_by("pk")
    Delivery.objects.filter(pk=first.pk).update(status=DeliveryStatus.DELIVERED, delivered_at=timezone.now())
    Delivery.objects.filter(pk__in=[second.pk, third.pk]).update(status=DeliveryStatus.FAILED)
    # 1..100 ms within the hour, and a slow attempt from two hours ago that no longer counts
    DeliveryAttempt.objects.create(delivery=first, endpoint=endpoint, number=1, status_code=500, duration_ms=9_000,
                                   created_at=timezone.now() - timedelta(hours=2))
    DeliveryAttempt.objects.bulk_create(
        DeliveryAttempt(delivery=first, endpoint=endpoint, number=n + 1, status_code=200, duration_ms=n)
        for n in range(1, 101))

    samples = scrape()

    deliveries = {dict(labels)["status"]: value for labels, value in samples["mintguard_webhook_deliveries"].items()}
    assert deliveries == {"PENDING": 1, "DELIVERED": 1, "FAILED": 2}
    assert samples["mintguard_webhook_delivery_attempts_sampled"][frozenset()] == 100
    latency = samples["mintguard_webhook_delivery_duration_seconds"]
    assert latency[frozenset({("quantile", "0.5")})] == pytest.approx(0.0505)
    assert latency[frozenset({("quantile", "0.95")})] == pytest.approx(0.09505)


def test_no_recent_attempt_means_no_latency_quantiles():
    samples = scrape()

    assert samples["mintguard_webhook_delivery_attempts_sampled"][frozenset()] == 0
    assert "mintguard_webhook_delivery_duration_seconds" not in samples
