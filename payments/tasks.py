"""The payments app's background tasks (Django's tasks framework; mintguard_site.schedule enqueues them).

`manage.py expire_authorizations` and `manage.py expire_pending_payments` run the same services
from a shell or cron. A payment that could not be settled is logged by the service and left for the
next run; the task reports it among its counts rather than failing, so the others still count.
"""

from datetime import timedelta

from django.conf import settings
from django_tasks import task

from .services import authorizations_expire, pending_payments_expire


def report_counts(report) -> dict[str, int]:
    """A service's report as counts (a task's return value is stored as JSON, and ids need not be)."""
    return {name: value if isinstance(value, int) else len(value) for name, value in vars(report).items()}


@task()
def authorizations_expire_task() -> dict[str, int]:
    """Expire the authorizations past MINTGUARD_AUTHORIZATION_TTL and finish abandoned captures and voids."""
    return report_counts(authorizations_expire())


@task()
def pending_payments_expire_task() -> dict[str, int]:
    """Settle the payments pending longer than MINTGUARD_PENDING_PAYMENTS_EXPIRE_AFTER, asking the provider first."""
    return report_counts(pending_payments_expire(
        older_than=timedelta(seconds=settings.MINTGUARD_PENDING_PAYMENTS_EXPIRE_AFTER),
    ))
