"""Metrics of the background work (task queue, schedule, webhook deliveries), read from the database
at scrape time.

Tasks run in worker processes (`manage.py run_worker`, often on other machines or containers) whose
samples never reach the web's PROMETHEUS_MULTIPROC_DIR. The task, schedule and delivery rows are what
every process can read, so whichever web worker answers a scrape reports the same figures. Each query
is bounded: the queue by its READY/RUNNING rows, latency by the latest LATENCY_SAMPLE attempts.
"""

import statistics
from datetime import timedelta

from django.db import DatabaseError
from django.db.models import Count, Q
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

# Delivery latency: the latest attempts, by id (the primary key's index, whatever the table's size),
# kept if made within the window.
LATENCY_SAMPLE = 1000
LATENCY_WINDOW = timedelta(hours=1)
LATENCY_QUANTILES = (0.5, 0.95)


def quantile(values: list[float], q: float) -> float:
    """The q-quantile of `values` (not empty), interpolated between the observed extremes."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


class TaskQueueCollector:
    """Tasks waiting, deferred and running per task, and when each scheduled job last ran."""

    def collect(self):
        from django_tasks import TaskResultStatus
        from django_tasks_db.models import DBTaskResult, get_date_max

        from mintguard_site.models import ScheduledJob

        now, never = timezone.now(), get_date_max()
        due = Q(run_after__lte=now) | Q(run_after=never)
        try:
            per_task = list(
                DBTaskResult.objects.filter(status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING])
                .values("task_path")
                .annotate(ready=Count("pk", filter=Q(status=TaskResultStatus.READY) & due),
                          deferred=Count("pk", filter=Q(status=TaskResultStatus.READY) & ~due),
                          running=Count("pk", filter=Q(status=TaskResultStatus.RUNNING)))
                .order_by("task_path")
            )
            last_runs = list(ScheduledJob.objects.order_by("name").values_list("name", "last_run_at"))
        except DatabaseError:
            return  # /readyz reports the database; the scrape still serves the other metrics
        families = {
            "ready": GaugeMetricFamily("mintguard_task_queue_depth",
                                       "Tasks ready to run now and not started, by task.", labels=["task"]),
            "deferred": GaugeMetricFamily("mintguard_tasks_deferred",
                                          "Tasks waiting for their run_after (retries, the next tick), by task.",
                                          labels=["task"]),
            "running": GaugeMetricFamily("mintguard_tasks_running",
                                         "Tasks started and not finished, by task (a SIGKILLed worker's stay).",
                                         labels=["task"]),
        }
        for row in per_task:
            for column, family in families.items():
                family.add_metric([row["task_path"]], row[column])
        yield from families.values()
        last_run = GaugeMetricFamily("mintguard_schedule_last_run_timestamp_seconds",
                                     "When each scheduled job was last enqueued (Unix time).", labels=["job"])
        for name, at in last_runs:
            last_run.add_metric([name], at.timestamp())
        yield last_run


class DeliveryCollector:
    """Webhook deliveries by status, and the latency of recent attempts."""

    def collect(self):
        from events.models import Delivery, DeliveryAttempt, DeliveryStatus

        try:
            counts = dict(Delivery.objects.order_by().values_list("status").annotate(Count("pk")))
            recent = list(DeliveryAttempt.objects.order_by("-id")
                          .values_list("duration_ms", "created_at")[:LATENCY_SAMPLE])
        except DatabaseError:
            return
        deliveries = GaugeMetricFamily("mintguard_webhook_deliveries",
                                       "Outbound webhook deliveries, by status.", labels=["status"])
        for status in DeliveryStatus.values:
            deliveries.add_metric([status], counts.get(status, 0))
        yield deliveries
        since = timezone.now() - LATENCY_WINDOW
        durations = [ms / 1000 for ms, at in recent if at >= since]
        sampled = GaugeMetricFamily("mintguard_webhook_delivery_attempts_sampled",
                                    "Attempts behind the latency quantiles: the latest, within the last hour.")
        sampled.add_metric([], len(durations))
        yield sampled
        if durations:
            latency = GaugeMetricFamily("mintguard_webhook_delivery_duration_seconds",
                                        "Outbound webhook POST time over the sampled attempts, by quantile.",
                                        labels=["quantile"])
            for q in LATENCY_QUANTILES:
                latency.add_metric([str(q)], quantile(durations, q))
            yield latency
