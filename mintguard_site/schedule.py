"""The schedule: MintGuard's periodic jobs, run by the task workers (Django's tasks framework).

Each job is a task of its app, enqueued every `interval` seconds (its MINTGUARD_SCHEDULE_* setting;
0 turns it off). `schedule_tick`, itself a task, enqueues the jobs that are due, and its own
successor MINTGUARD_SCHEDULE_TICK seconds later: one chain, run by whichever worker is free, that
enqueues each job once per interval however many workers on however many machines share the database.

- A job is claimed by one atomic UPDATE of its `ScheduledJob` row (`... WHERE last_run_at <= now -
  interval`) in the transaction that enqueues its task: of two racing ticks one UPDATE matches, and
  the claim and the task commit together or not at all.
- `schedule_chain_ensure` enqueues a tick unless one is waiting, holding the lock of the chain's own
  row, so workers starting together enqueue one. A tick calls it first (a job that fails to enqueue
  does not end the chain); `manage.py run_worker` calls it at start and then every minute, because
  db_worker leaves a SIGKILLed task RUNNING for ever and a tick that failed (the database went away)
  enqueues no successor: any live worker mends a broken chain within a minute.
- Each job runs as a task of its own: a slow reconciliation delays no expiry, and a job that fails
  is its own FAILED row (admin: Task results), enqueued again at its next interval.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_tasks import TaskResultStatus, task
from django_tasks.base import Task
from django_tasks_db.models import DBTaskResult

from events.tasks import events_sweep_task
from ledger.tasks import holds_expire_task
from payments.tasks import authorizations_expire_task, pending_payments_expire_task

from .models import ScheduledJob
from .tasks import idempotency_keys_purge_task, reconcile_task, task_results_prune_task

# The tick chain's own row in ScheduledJob: the lock taken to enqueue a tick.
CHAIN = "schedule_tick"


@dataclass(frozen=True)
class Job:
    name: str
    task: Task
    interval_setting: str  # seconds between runs; 0: never

    @property
    def interval(self) -> timedelta:
        return timedelta(seconds=getattr(settings, self.interval_setting))


JOBS = (
    Job("holds_expire", holds_expire_task, "MINTGUARD_SCHEDULE_HOLDS_EXPIRE"),
    Job("authorizations_expire", authorizations_expire_task, "MINTGUARD_SCHEDULE_AUTHORIZATIONS_EXPIRE"),
    Job("pending_payments_expire", pending_payments_expire_task, "MINTGUARD_SCHEDULE_PENDING_PAYMENTS_EXPIRE"),
    Job("events_sweep", events_sweep_task, "MINTGUARD_SCHEDULE_EVENTS_SWEEP"),
    Job("idempotency_keys_purge", idempotency_keys_purge_task, "MINTGUARD_SCHEDULE_IDEMPOTENCY_PURGE"),
    Job("reconcile", reconcile_task, "MINTGUARD_SCHEDULE_RECONCILE"),
    Job("task_results_prune", task_results_prune_task, "MINTGUARD_SCHEDULE_TASK_RESULTS_PRUNE"),
)


def schedule_run_due(*, now: datetime) -> list[str]:
    """Enqueue each job that is due at `now` and that this caller claims first; return their names."""
    jobs = [job for job in JOBS if job.interval]
    ScheduledJob.objects.bulk_create([ScheduledJob(name=job.name) for job in jobs], ignore_conflicts=True)
    # Read first, so a tick with nothing due writes nothing; the UPDATE below is the claim.
    last_runs = dict(ScheduledJob.objects.filter(name__in=[job.name for job in jobs])
                     .values_list("name", "last_run_at"))
    claimed = []
    for job in jobs:
        if last_runs[job.name] > now - job.interval:
            continue
        with transaction.atomic():
            rows = ScheduledJob.objects.filter(name=job.name, last_run_at__lte=now - job.interval)
            if rows.update(last_run_at=now):
                job.task.enqueue()
                claimed.append(job.name)
    return claimed


def ticks_waiting():
    """The ticks enqueued and not yet started (a RUNNING one may belong to a worker that died)."""
    return DBTaskResult.objects.filter(task_path=schedule_tick.module_path, status=TaskResultStatus.READY)


def schedule_chain_ensure(*, run_after: datetime | None = None) -> bool:
    """Make sure a tick is waiting to run at `run_after` at the latest (default: now); return whether
    this call enqueued it."""
    run_after = run_after or timezone.now()
    # A tick already waiting: run it no later than asked (a shorter MINTGUARD_SCHEDULE_TICK, say).
    if ticks_waiting().exists():
        ticks_waiting().filter(run_after__gt=run_after).update(run_after=run_after)
        return False
    with transaction.atomic():
        ScheduledJob.objects.bulk_create([ScheduledJob(name=CHAIN)], ignore_conflicts=True)
        # The UPDATE locks the chain's row until commit: a concurrent caller waits here, then sees
        # the tick this one enqueued.
        ScheduledJob.objects.filter(name=CHAIN).update(last_run_at=timezone.now())
        if ticks_waiting().exists():
            return False
        schedule_tick.using(run_after=run_after).enqueue()
        return True


# Ahead of the jobs' tasks in the queue: the tick is quick, and a backlog of deliveries must not
# hold the expiries back.
@task(priority=10)
def schedule_tick() -> list[str]:
    """Enqueue the next tick, then the jobs that are due; return the names of the jobs enqueued."""
    now = timezone.now()
    schedule_chain_ensure(run_after=now + timedelta(seconds=settings.MINTGUARD_SCHEDULE_TICK))
    return schedule_run_due(now=now)
