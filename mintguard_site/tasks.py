"""The site's background tasks, those that span apps (Django's tasks framework; mintguard_site.schedule
enqueues them). `manage.py purge_idempotency_keys`, `manage.py reconcile` and `manage.py
prune_db_task_results` do the same from a shell or cron.
"""

from django.core.management import call_command
from django_tasks import task

from ledger.reconciliation import reconcile_run
from mintguard_site.api.services import idempotency_keys_purge


@task()
def idempotency_keys_purge_task() -> int:
    """Delete the idempotency keys past their TTL; return how many rows went."""
    return idempotency_keys_purge()


@task()
def reconcile_task() -> dict:
    """Run every reconciliation check and store the run (the dashboard and /metrics read it).

    Drifts do not fail the task: they are stored and logged, and `mintguard_reconciliation_drifts`
    is what alerts.
    """
    run = reconcile_run()
    return {"run_id": run.pk, "ok": run.ok, "drift_count": run.drift_count}


@task()
def task_results_prune_task() -> None:
    """Delete the finished task rows older than django-tasks-db's default age (14 days).

    Nothing else does: the ticks of the schedule alone finish 17,280 tasks a day.
    """
    call_command("prune_db_task_results", verbosity=0)
