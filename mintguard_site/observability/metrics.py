"""Prometheus metrics, correct under several gunicorn workers.

With PROMETHEUS_MULTIPROC_DIR set (gunicorn.conf.py sets it up before any worker starts), every
worker writes its samples to files in that directory and /metrics sums them across workers,
including workers that have since died. Without it (runserver, tests, a one-off command) the
process keeps its samples in memory and /metrics serves those.

Labels are bounded by code, never by data: a route is its URL pattern
(`api/v1/accounts/<str:account_id>`), not the path with an id in it.
"""

import functools
import logging
import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from .background import DeliveryCollector, TaskQueueCollector

logger = logging.getLogger(__name__)

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
PAYMENT_OUTCOMES = ("paid", "failed", "pending_payment")

HTTP_REQUESTS = Counter(
    "mintguard_http_requests", "HTTP requests served, by route pattern, method and status.",
    ["route", "method", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "mintguard_http_request_duration_seconds", "Time to produce a response, by route pattern and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
LEDGER_TRANSACTIONS = Counter(
    "mintguard_ledger_transactions_posted", "Ledger transactions committed, by kind.", ["kind"]
)
IDEMPOTENT_REPLAYS = Counter(
    "mintguard_idempotent_replays", "Requests answered by replaying a stored response for their Idempotency-Key."
)
IDEMPOTENCY_CONFLICTS = Counter(
    "mintguard_idempotency_conflicts", "Requests refused with 409 over their Idempotency-Key, by code.", ["code"]
)
PAYMENTS = Counter("mintguard_payments", "Payment attempts finished, by outcome.", ["outcome"])
REFUNDS = Counter("mintguard_refunds", "Refunds posted, by currency.", ["currency"])
REFUNDED_AMOUNT = Counter(
    "mintguard_refunded_amount_minor", "Amount refunded in the currency's minor unit, by currency.", ["currency"]
)
WEBHOOKS = Counter(
    "mintguard_webhooks_received", "Provider webhook deliveries accepted, by whether the event was a duplicate.",
    ["duplicate"],
)
RATE_LIMITED = Counter("mintguard_rate_limited", "Requests refused with 429, by limit.", ["limit"])



def preinitialize() -> None:
    """Create the known label values at zero, so a fresh deployment exposes zeros, not nothing.

    Called by the request middleware, i.e. in processes that serve requests: in multiprocess
    mode every sample means a file, and one-off commands need not leave any.
    """
    for outcome in PAYMENT_OUTCOMES:
        PAYMENTS.labels(outcome)
    for duplicate in ("true", "false"):
        WEBHOOKS.labels(duplicate)
    for code in ("idempotency_key_reused", "idempotency_key_in_use"):
        IDEMPOTENCY_CONFLICTS.labels(code)
    for limit in ("api", "login", "webhook"):
        RATE_LIMITED.labels(limit)


def _never_raise(record):
    """Metrics observe, they never decide: a failing sample (full disk, a removed metrics
    directory) is logged and dropped rather than turned into a failed request or payment."""

    @functools.wraps(record)
    def wrapper(*args, **kwargs) -> None:
        try:
            record(*args, **kwargs)
        except Exception:
            logger.warning("could not record metric %s", record.__name__, exc_info=True)

    return wrapper


@functools.lru_cache(maxsize=4096)
def _request_samples(route: str, method: str, status: int):
    """The request counter and histogram children of one label set, looked up once: `labels()`
    validates and locks on every call, and the label sets are few (routes, methods, statuses)."""
    return HTTP_REQUESTS.labels(route, method, str(status)), HTTP_REQUEST_DURATION.labels(route, method)


@_never_raise
def observe_request(*, route: str, method: str, status: int, duration: float) -> None:
    requests, durations = _request_samples(route, method if method in HTTP_METHODS else "OTHER", status)
    requests.inc()
    durations.observe(duration)


@_never_raise
def record_ledger_transaction(kind: str) -> None:
    LEDGER_TRANSACTIONS.labels(kind or "unknown").inc()


@_never_raise
def record_idempotent_replay() -> None:
    IDEMPOTENT_REPLAYS.inc()


@_never_raise
def record_idempotency_conflict(code: str) -> None:
    IDEMPOTENCY_CONFLICTS.labels(code).inc()


@_never_raise
def record_payment(outcome: str) -> None:
    """Count a finished payment attempt: `paid`, `failed` or `pending_payment` (the order's new status)."""
    PAYMENTS.labels(str(outcome).lower()).inc()


@_never_raise
def record_refund(amount: int, currency: str) -> None:
    """Count a posted refund and add its amount (minor units; an observation, never money logic)."""
    REFUNDS.labels(currency).inc()
    REFUNDED_AMOUNT.labels(currency).inc(amount)


@_never_raise
def record_webhook(duplicate: bool) -> None:
    """Count an accepted provider webhook delivery, duplicate event or not."""
    WEBHOOKS.labels("true" if duplicate else "false").inc()


@_never_raise
def record_rate_limited(limit: str) -> None:
    RATE_LIMITED.labels(limit).inc()


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")


class ReconciliationCollector:
    """Expose the latest stored reconciliation run, read from the database at scrape time.

    Reconciliation runs in its own process (cron, the dashboard), so a gauge set there would never
    reach the workers Prometheus scrapes; the stored run is the one truth every worker can read.
    """

    def collect(self):
        from django.db import DatabaseError

        from ledger.reconciliation import reconciliation_latest

        try:
            run = reconciliation_latest()
        except DatabaseError:
            return  # /readyz reports the database; the scrape still serves the other metrics
        last_run = GaugeMetricFamily(
            "mintguard_reconciliation_last_run_timestamp_seconds",
            "When the latest reconciliation run finished (Unix time; 0: never ran).",
        )
        last_run.add_metric([], run.finished_at.timestamp() if run else 0.0)
        yield last_run
        if run is None:
            return
        drifts = GaugeMetricFamily(
            "mintguard_reconciliation_check_drifts", "Drifts found by the latest reconciliation run, by check.",
            labels=["check"],
        )
        for check in run.checks:
            drifts.add_metric([check["name"]], check["drift_count"])
        yield drifts
        total = GaugeMetricFamily("mintguard_reconciliation_drifts", "Drifts found by the latest run, all checks.")
        total.add_metric([], run.drift_count)
        yield total
        duration = GaugeMetricFamily(
            "mintguard_reconciliation_duration_seconds", "How long the latest reconciliation run took."
        )
        duration.add_metric([], run.duration_ms / 1000)
        yield duration


class SettlementCollector:
    """Expose the unresolved settlement breaks, by kind, read from the database at scrape time.

    Settlement files are imported by a command or on the dashboard and breaks are resolved there, so
    only the stored breaks are the same figure in every worker. /readyz does not look at them: a
    break is work for an operator, not a reason to take the service out of rotation.
    """

    def collect(self):
        from django.db import DatabaseError

        from payments.selectors import settlement_breaks_unresolved

        try:
            counts = settlement_breaks_unresolved()
        except DatabaseError:
            return  # /readyz reports the database; the scrape still serves the other metrics
        unresolved = GaugeMetricFamily(
            "mintguard_settlement_breaks_unresolved",
            "Settlement breaks no operator has resolved yet, by kind.", labels=["kind"],
        )
        for kind, count in counts.items():
            unresolved.add_metric([kind], count)
        yield unresolved


def exposition() -> bytes:
    """Return the Prometheus text exposition of every worker's metrics plus the gauges read from the
    database (reconciliation, task queue and schedule, webhook deliveries, settlement breaks)."""
    from prometheus_client import REGISTRY

    if multiprocess_dir():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        process_metrics = generate_latest(registry)
    else:
        process_metrics = generate_latest(REGISTRY)
    from_database = CollectorRegistry()
    for collector in (ReconciliationCollector(), TaskQueueCollector(), DeliveryCollector(), SettlementCollector()):
        from_database.register(collector)
    return process_metrics + generate_latest(from_database)
