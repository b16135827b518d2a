"""manage.py run_worker: django_tasks_db's db_worker, with the schedule's tick chain kept alive.

Why a command rather than a hook in db_worker: db_worker has no start-up hook, and mending the
chain only at start is not enough: a tick that failed (the database went away mid-tick) leaves no
successor while the worker lives on. So this worker first waits for the schema it needs, makes
sure a tick is waiting (`schedule_chain_ensure`: one for N workers starting together), then does
the same every minute in a thread beside the worker loop, and runs db_worker with the same
arguments (`--batch`: run what is due now, the tick and the jobs it enqueues, then exit).
"""

import logging
import os
import threading
import time

from django.db import DatabaseError, connection
from django.utils.autoreload import DJANGO_AUTORELOAD_ENV
from django_tasks_db.management.commands import db_worker

from mintguard_site.health import _unapplied_migrations as unapplied_migrations
from mintguard_site.schedule import schedule_chain_ensure

logger = logging.getLogger("mintguard.worker")

# How often each worker checks that a tick is waiting (one read of the queued tasks when one is).
CHAIN_CHECK_SECONDS = 60.0
SCHEMA_POLL_SECONDS = 2.0


def schema_wait(poll: float = SCHEMA_POLL_SECONDS) -> None:
    """Return once the database is reachable and migrated (the web's deploy runs `migrate`)."""
    waited = False
    while True:
        try:
            pending = unapplied_migrations(connection)
        except DatabaseError as exc:
            pending = [f"database unreachable: {exc}"]
        if not pending:
            return
        if not waited:
            logger.warning("worker waiting for the database schema: %s", ", ".join(pending[:5]))
            waited = True
        connection.close()
        time.sleep(poll)


def chain_keep(stop: threading.Event, every: float = CHAIN_CHECK_SECONDS) -> None:
    """Mend the tick chain every `every` seconds until `stop` is set (a worker thread's loop)."""
    while not stop.wait(every):
        try:
            if schedule_chain_ensure():
                logger.warning("schedule: no tick was waiting; enqueued one")
        except DatabaseError:
            logger.warning("schedule: could not check the tick chain", exc_info=True)
        finally:
            connection.close()  # this thread's own connection


class Command(db_worker.Command):
    help = ("Run a task worker (django_tasks_db's db_worker, same options) that also keeps the schedule's "
            "tick chain alive: run any number, on any machine sharing the database.")

    def handle(self, *args, **options):
        schema_wait()
        schedule_chain_ensure()
        # Under --reload this process only restarts a child on code changes; the child runs the tasks.
        runs_tasks = not options["reload"] or os.environ.get(DJANGO_AUTORELOAD_ENV) == "true"
        if runs_tasks and not options["batch"]:
            threading.Thread(target=chain_keep, args=(threading.Event(),), name="schedule-chain", daemon=True).start()
        super().handle(*args, **options)
