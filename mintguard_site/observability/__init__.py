"""Observability: Prometheus metrics, structured request logs and the hooks other apps call.

Apps record business events through the small functions re-exported here (they never touch
prometheus_client themselves), e.g. `record_payment("paid")` or `record_webhook(duplicate=True)`.
Each of them logs and swallows its own failure: a metric never fails a request or a payment.

The metrics module is imported on first use, not with this package: gunicorn's master imports the
log formatter from here and must not create metric files of its own.
"""

__all__ = [
    "record_idempotency_conflict",
    "record_idempotent_replay",
    "record_ledger_transaction",
    "record_payment",
    "record_rate_limited",
    "record_refund",
    "record_webhook",
]


def __getattr__(name: str):
    if name in __all__:
        from . import metrics

        return getattr(metrics, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
