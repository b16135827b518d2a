"""The outbox write on PostgreSQL: a transaction's events and the task that dispatches them, no round trip of its own.

`events.services.events_record` calls it on the money path. django-tasks-db's `enqueue` is an ORM
`create()` of a DBTaskResult row; measured on the transfer path, compiling that save cost the web
process more than both INSERTs cost PostgreSQL. So the dispatch task's row is built once per
process the way its backend builds it (the arguments of `DatabaseBackend._task_to_db_task`, the
model's pre_save handlers, values prepared as a save prepares them: `mintguard_site.db.rows`); each
write varies only what varies per enqueue, its id, time and arguments. Both INSERTs ride
(`mintguard_site.db.riders`) in front of the idempotent request's last statement, in the same
transaction, or go as one statement of their own where no such carrier is open. The library's
`task_enqueued` signal, whose one receiver logs at DEBUG, is not sent for these rows.
tests/events/test_outbox.py pins that the row equals the one `enqueue` writes, so an upgrade of
django-tasks-db that changes its row fails there first.
"""

from functools import cache

from django.core.signals import setting_changed
from django.db import DEFAULT_DB_ALIAS
from django.db.models.signals import pre_save
from django.dispatch import receiver
from django.utils import timezone
from django_tasks.utils import normalize_json
from django_tasks_db.backend import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from mintguard_site.db import riders, rows

from .models import Event
from .tasks import event_dispatch

# Six parameters an event: a statement stays under PostgreSQL's 65,535 (the batch API sends 1,000).
EVENTS_PER_STATEMENT = 5000


def outbox_applies(connection) -> bool:
    """Whether this fast path serves: PostgreSQL, with django-tasks-db's backend enqueueing."""
    return connection.vendor == "postgresql" and isinstance(event_dispatch.get_backend(), DatabaseBackend)


def outbox_write(events: list[Event], connection) -> None:
    """Write `events` and one `event_dispatch` task of them all in the caller's transaction.

    The events are then saved as `bulk_create` leaves them, though inside a carrying scope their rows
    exist only once the carrier has run. Past EVENTS_PER_STATEMENT events, the rest go at once in
    INSERTs of their own, in the same transaction (a ridden statement never grows past the limit).
    """
    riders.ride(connection, [rows.insert_statement(events[:EVENTS_PER_STATEMENT]),
                             _dispatch_task_insert([str(event.id) for event in events], connection)])
    with connection.cursor() as cursor:
        for start in range(EVENTS_PER_STATEMENT, len(events), EVENTS_PER_STATEMENT):
            cursor.execute(*rows.insert_statement(events[start:start + EVENTS_PER_STATEMENT]))
    for event in events:
        event._state.adding, event._state.db = False, connection.alias


# What varies from one enqueue of event_dispatch to the next; every other column is the same.
_PER_ENQUEUE = ("id", "enqueued_at", "args_kwargs")


@cache
def _dispatch_task_row() -> tuple[str, tuple, dict]:
    """The INSERT of event_dispatch's task row as its backend builds it, its parameters, and where the
    per-enqueue ones go (built once per process, again after a change of the TASKS setting)."""
    backend = event_dispatch.get_backend()
    backend.validate_task(event_dispatch)
    task = DBTaskResult(  # DatabaseBackend._task_to_db_task's arguments
        id=backend._get_id(),
        args_kwargs=normalize_json({"args": [], "kwargs": {}}),
        priority=event_dispatch.priority,
        task_path=event_dispatch.module_path,
        queue_name=event_dispatch.queue_name,
        run_after=event_dispatch.run_after,
        backend_name=backend.alias,
    )
    pre_save.send(sender=DBTaskResult, instance=task, raw=False, using=DEFAULT_DB_ALIAS, update_fields=None)
    sql, params = rows.insert_statement([task])
    fields = DBTaskResult._meta.concrete_fields
    return sql, tuple(params), {field.attname: (number, field) for number, field in enumerate(fields)
                                if field.attname in _PER_ENQUEUE}


def _dispatch_task_insert(event_ids: list[str], connection) -> tuple[str, list]:
    sql, constants, per_enqueue = _dispatch_task_row()
    params = list(constants)
    values = {"id": event_dispatch.get_backend()._get_id(), "enqueued_at": timezone.now(),
              "args_kwargs": normalize_json({"args": event_ids, "kwargs": {}})}
    for name, (number, field) in per_enqueue.items():
        params[number] = field.get_db_prep_save(values[name], connection)
    return sql, params


@receiver(setting_changed)
def _tasks_setting_changed(*, setting: str, **kwargs) -> None:
    if setting == "TASKS":
        _dispatch_task_row.cache_clear()
