"""Reconciliation runs an operator starts from the dashboard: recorded in the audit log.

A run reads the whole ledger and may outlast a request's timeout, so the page starts it in a
background thread (one per process at a time) and polls for the stored run; without JavaScript
the request runs it and waits.
"""

import logging
import threading
from datetime import datetime

from django.conf import settings
from django.db import connections
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record

from .models import ReconciliationRun
from .reconciliation import reconcile_run

logger = logging.getLogger(__name__)


class _ReconciliationSlot:
    """One background run per process at a time, and when it started (for pollers to wait on)."""

    lock = threading.Lock()
    started_at: datetime | None = None


def reconciliation_run_now(*, actor) -> ReconciliationRun:
    """Run a reconciliation in this request, record who ran it, and return the stored run."""
    run = reconcile_run()
    _record_start(actor=actor, started_at=run.started_at, after={"run_id": run.pk})
    return run


def reconciliation_start(*, actor) -> tuple[datetime, bool]:
    """Start a reconciliation run in a background thread; return (when it started, started now?).

    A run started now is recorded in the audit log; a click while one is under way starts nothing
    and records nothing. Pollers wait for the stored run (`ReconciliationRun.started_at >=` the returned moment), which
    works whichever worker answers the poll. If this process is already running one, its start is
    returned, so the poll waits for that run. With MINTGUARD_RECONCILIATION_IN_BACKGROUND = False
    (tests inside one database transaction) it runs inline instead.
    """
    slot = _ReconciliationSlot
    if not slot.lock.acquire(blocking=False):
        return slot.started_at or timezone.now(), False
    started_at = slot.started_at = timezone.now()
    if not settings.MINTGUARD_RECONCILIATION_IN_BACKGROUND:
        try:
            reconcile_run()
        finally:
            slot.started_at = None
            slot.lock.release()
        _record_start(actor=actor, started_at=started_at)
        return started_at, True

    def run() -> None:
        try:
            reconcile_run()
        except Exception:
            logger.exception("background reconciliation failed")
        finally:
            connections.close_all()  # this thread's connections, not the request's
            slot.started_at = None
            slot.lock.release()

    threading.Thread(target=run, name="reconciliation", daemon=True).start()
    _record_start(actor=actor, started_at=started_at)
    return started_at, True


def _record_start(*, actor, started_at: datetime, after: dict | None = None) -> None:
    # The run's id is known only when it ran in the request: the moment it started names it.
    audit_record(actor=actor, action=AuditAction.RECONCILIATION_STARTED, target_type="reconciliation",
                 target_id=started_at.isoformat(), after=after)
