"""The outbox write on PostgreSQL: a transaction's events and the task that dispatches them, no round trip of its own.

`events.services.events_record` calls it on the money path. django-tasks-db's `enqueue` is an ORM
`create()` of a DBTaskResult row; measured on the transfer path, compiling that save cost the web
process more than both INSERTs cost PostgreSQL. So the row is built as its backend builds it (the
arguments of `DatabaseBackend._task_to_db_task`, the model's pre_save handlers, the
`task_enqueued` signal after), its values prepared as a save prepares them (`mintguard_site.db.rows`), and both INSERTs
ride (`mintguard_site.db.riders`) in front of the idempotent request's last statement, in the same
transaction, or go as one statement of their own where no such carrier is open.
tests/events/test_outbox.py pins that the row equals the one `enqueue` writes, so an upgrade of
django-tasks-db that changes its row fails there first.
"""

from django.db.models.signals import pre_save
from django_tasks.signals import task_enqueued
from django_tasks.utils import normalize_json
from django_tasks_db.models import DBTaskResult

from mintguard_site.db import riders, rows

from .models import Event
from .tasks import event_dispatch

# Six parameters an event: a statement stays under PostgreSQL's 65,535 (the batch API sends 1,000).
EVENTS_PER_STATEMENT = 5000


def outbox_write(events: list[Event], connection) -> DBTaskResult:
    """Write `events` and one `event_dispatch` task of them all in the caller's transaction; return the task row.

    Past EVENTS_PER_STATEMENT events, the rest follow in INSERTs of their own, in the same transaction.
    """
    backend = event_dispatch.get_backend()
    backend.validate_task(event_dispatch)
    task = DBTaskResult(
        id=backend._get_id(),
        args_kwargs=normalize_json({"args": [str(event.id) for event in events], "kwargs": {}}),
        priority=event_dispatch.priority,
        task_path=event_dispatch.module_path,
        queue_name=event_dispatch.queue_name,
        run_after=event_dispatch.run_after,
        backend_name=backend.alias,
    )
    pre_save.send(sender=DBTaskResult, instance=task, raw=False, using=connection.alias, update_fields=None)
    riders.ride(connection, [rows.insert_statement(events[:EVENTS_PER_STATEMENT]),
                             rows.insert_statement([task])])
    for start in range(EVENTS_PER_STATEMENT, len(events), EVENTS_PER_STATEMENT):
        riders.ride(connection, [rows.insert_statement(events[start:start + EVENTS_PER_STATEMENT])])
    task_enqueued.send(type(backend), task_result=task.task_result)
    return task

