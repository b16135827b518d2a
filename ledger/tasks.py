"""The ledger's background tasks (Django's tasks framework; mintguard_site.schedule enqueues them).

`manage.py expire_holds` runs the same service from a shell or cron.
"""

from django_tasks import task

from .services import holds_expire

# Holds expired per run: a run stays short, and the next one (MINTGUARD_SCHEDULE_HOLDS_EXPIRE
# seconds later) takes up whatever is left.
HOLDS_PER_RUN = 1000


@task()
def holds_expire_task() -> int:
    """Record as EXPIRED the HELD holds past `expires_at` (up to HOLDS_PER_RUN); return how many."""
    return len(holds_expire(limit=HOLDS_PER_RUN))
