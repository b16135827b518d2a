"""The schedule: each job enqueued once per interval, the tick chain carried on and mended by workers.

Time is driven (`now` passed in, or `timezone.now` replaced), never slept.
"""

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from mintguard_site import schedule
from mintguard_site.models import ScheduledJob
from mintguard_site.schedule import JOBS, Job, schedule_chain_ensure, schedule_run_due, schedule_tick, ticks_waiting

pytestmark = pytest.mark.django_db

EVERY_JOB = [job.name for job in JOBS]
QUICK_JOBS = ["holds_expire", "authorizations_expire", "pending_payments_expire", "events_sweep"]


@pytest.fixture
def intervals(settings):
    settings.MINTGUARD_SCHEDULE_TICK = 5
    settings.MINTGUARD_SCHEDULE_HOLDS_EXPIRE = 15
    settings.MINTGUARD_SCHEDULE_AUTHORIZATIONS_EXPIRE = 30
    settings.MINTGUARD_SCHEDULE_PENDING_PAYMENTS_EXPIRE = 30
    settings.MINTGUARD_SCHEDULE_EVENTS_SWEEP = 30
    settings.MINTGUARD_SCHEDULE_IDEMPOTENCY_PURGE = 3600
    settings.MINTGUARD_SCHEDULE_RECONCILE = 3600
    settings.MINTGUARD_SCHEDULE_TASK_RESULTS_PRUNE = 86400
    return settings


@pytest.fixture
def now():
    return timezone.now().replace(microsecond=0)


def enqueued() -> Counter:
    """How many times each job's task was enqueued, by job name."""
    by_path = {job.task.module_path: job.name for job in JOBS}
    return Counter(by_path[path] for path in DBTaskResult.objects.values_list("task_path", flat=True)
                   if path in by_path)


def test_a_tick_enqueues_each_due_job_once_and_none_again_before_its_interval(intervals, now):
    assert schedule_run_due(now=now) == EVERY_JOB  # never run: all due
    assert schedule_run_due(now=now) == []
    assert schedule_run_due(now=now + timedelta(seconds=14)) == []

    assert schedule_run_due(now=now + timedelta(seconds=15)) == ["holds_expire"]
    assert schedule_run_due(now=now + timedelta(seconds=29)) == []
    assert schedule_run_due(now=now + timedelta(seconds=30)) == QUICK_JOBS
    assert schedule_run_due(now=now + timedelta(seconds=3599)) == QUICK_JOBS
    assert schedule_run_due(now=now + timedelta(seconds=3600)) == ["idempotency_keys_purge", "reconcile"]

    assert schedule_run_due(now=now + timedelta(days=1)) == EVERY_JOB

    assert enqueued() == {"holds_expire": 5, "authorizations_expire": 4, "pending_payments_expire": 4,
                          "events_sweep": 4, "idempotency_keys_purge": 3, "reconcile": 3, "task_results_prune": 2}
    assert ScheduledJob.objects.get(name="reconcile").last_run_at == now + timedelta(days=1)


def test_a_job_with_interval_0_is_never_enqueued(intervals, now):
    intervals.MINTGUARD_SCHEDULE_RECONCILE = 0

    assert "reconcile" not in schedule_run_due(now=now)
    assert "reconcile" not in schedule_run_due(now=now + timedelta(days=30))
    assert enqueued()["reconcile"] == 0


def test_the_tick_task_enqueues_its_successor_a_tick_later_then_the_due_jobs(intervals, now, monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: now)

    assert schedule_tick.call() == EVERY_JOB
    [successor] = ticks_waiting()
    assert successor.run_after == now + timedelta(seconds=5)

    # a tick run again at the same instant (two workers, one waiting tick each) enqueues nothing twice
    assert schedule_tick.call() == []
    assert ticks_waiting().count() == 1
    assert sum(enqueued().values()) == len(JOBS)


def test_a_tick_whose_job_fails_to_enqueue_still_left_its_successor(intervals, now, monkeypatch):
    class Unreachable:
        def enqueue(self):
            raise RuntimeError("the database went away")

    holds = schedule.JOBS[0]
    monkeypatch.setattr(schedule, "JOBS", (Job(holds.name, Unreachable(), holds.interval_setting), *JOBS[1:]))

    with pytest.raises(RuntimeError):
        schedule_tick.call()

    assert ticks_waiting().count() == 1
    assert ScheduledJob.objects.get(name="holds_expire").last_run_at < now  # its claim rolled back


def test_ensure_brings_a_waiting_tick_forward_but_never_pushes_it_back(intervals, now):
    assert schedule_chain_ensure(run_after=now + timedelta(hours=1)) is True

    assert schedule_chain_ensure(run_after=now + timedelta(seconds=5)) is False
    assert ticks_waiting().get().run_after == now + timedelta(seconds=5)
    assert schedule_chain_ensure(run_after=now + timedelta(hours=2)) is False
    assert ticks_waiting().get().run_after == now + timedelta(seconds=5)


def test_every_job_has_an_interval_setting_documented_for_operators():
    operations = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    for job in JOBS:
        assert isinstance(getattr(settings, job.interval_setting), int), job.interval_setting
        assert f"`{job.interval_setting}`" in operations and f"`{job.name}`" in operations, job.name
