"""`event_record`: an event and its dispatch task, written in the caller's transaction (one statement on PostgreSQL)."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django_tasks_db.models import DBTaskResult

from events.models import Delivery, Event
from events.services import event_record
from events.tasks import event_dispatch

from ..db_helpers import ON_POSTGRES, db_uuid

pytestmark = pytest.mark.django_db

DEPOSIT = {"transaction_id": "6f1c0a52-8d7e-4c1e-9d8b-0b0c6c2f4a11", "type": "deposit", "amount": 1000,
           "currency": "USD"}


def test_recording_an_event_costs_its_insert_and_its_tasks_inside_the_callers_transaction():
    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        event = event_record(type="account.deposit", owner="client-a", data=DEPOSIT)

    statements = [query["sql"].split()[0].upper() for query in captured.captured_queries]
    # PostgreSQL: one statement, the event's INSERT as a CTE in front of the task's.
    assert statements == (["WITH"] if ON_POSTGRES else ["INSERT", "INSERT"]), captured.captured_queries
    assert "events_event" in captured.captured_queries[0]["sql"]
    task = DBTaskResult.objects.get()
    assert task.task_path == "events.tasks.event_dispatch" and task.args_kwargs["args"] == [str(event.id)]
    assert Event.objects.get().data == DEPOSIT


def test_an_event_rolls_back_with_the_change_it_records_and_so_does_its_dispatch():
    with pytest.raises(RuntimeError), transaction.atomic():
        event_record(type="order.paid", owner="client-a", data={"id": "order-1"})
        raise RuntimeError("the change failed after recording its event")

    assert not Event.objects.exists() and not DBTaskResult.objects.exists()


def test_recorded_alone_an_event_commits_with_its_dispatch():
    event = event_record(type="wallet.topup", owner="client-a", data={"id": "w-1"})

    assert DBTaskResult.objects.get().args_kwargs["args"] == [str(event.id)]


def test_an_unknown_event_type_is_a_programming_error_and_writes_nothing():
    with pytest.raises(ValueError, match="events/types.py"):
        event_record(type="account.opened", owner="client-a", data={})

    assert not Event.objects.exists() and not DBTaskResult.objects.exists()


def test_dispatching_an_event_without_endpoints_marks_it_dispatched_and_creates_nothing():
    event = event_record(type="transfer.created", owner="client-a", data={"id": "t-1"})

    assert event_dispatch.call(str(event.id)) == 0

    event.refresh_from_db()
    assert event.dispatched_at is not None and not Delivery.objects.exists()


def test_the_dispatch_task_row_is_the_one_django_tasks_db_enqueue_writes():
    # events.outbox builds the task row itself on PostgreSQL; an upgrade that changes the library's
    # row must fail here, not in a worker that cannot run what it finds.
    event = event_record(type="account.deposit", owner="client-a", data=DEPOSIT)
    ours = DBTaskResult.objects.get()
    theirs = DBTaskResult.objects.get(id=event_dispatch.enqueue(str(event.id)).id)

    def row(task):
        fields = DBTaskResult._meta.concrete_fields
        return {field.attname: getattr(task, field.attname) for field in fields
                if field.attname not in ("id", "enqueued_at")}

    assert row(ours) == row(theirs) and ours.task_result.task == theirs.task_result.task
    assert ours.enqueued_at <= theirs.enqueued_at


@pytest.mark.django_db(transaction=True)
class TestRidingTheStoredAnswer:
    """In an idempotent request the event and its task ride in front of the statement that stores the
    answer (`mintguard_site.db.riders`, PostgreSQL); whatever the request does, none is lost or invented."""

    def record_in_scope(self, *, carrier: bool, fail: bool = False, savepoint_rolled_back: bool = False,
                        manual_savepoint_rolled_back: bool = False):
        from mintguard_site.db import riders

        with CaptureQueriesContext(connection) as captured, transaction.atomic(), riders.carrying(connection):
            if savepoint_rolled_back:
                with pytest.raises(RuntimeError), transaction.atomic():
                    event_record(type="order.paid", owner="client-a", data={"id": "rolled-back"})
                    raise RuntimeError("the savepoint's change failed")
            if manual_savepoint_rolled_back:  # Django's savepoint API, without an atomic block
                savepoint = transaction.savepoint()
                event_record(type="order.paid", owner="client-a", data={"id": "rolled-back"})
                transaction.savepoint_rollback(savepoint)
            event = event_record(type="order.paid", owner="client-a", data={"id": "kept"})
            if carrier:
                with connection.cursor() as cursor:
                    cursor.execute(*riders.carried(connection, "UPDATE events_event SET owner = owner WHERE id = %s",
                                                   [db_uuid(event.id)]))
            if fail:
                raise RuntimeError("the request failed after recording its event")
        return event, [query["sql"] for query in captured.captured_queries
                       if not query["sql"].startswith(("BEGIN", "COMMIT", "ROLLBACK"))]

    def test_the_event_rides_the_carrier_and_commits_with_it(self):
        event, sent = self.record_in_scope(carrier=True)

        assert Event.objects.get().id == event.id
        assert DBTaskResult.objects.get().args_kwargs["args"] == [str(event.id)]
        if ON_POSTGRES:  # one statement: the carrier, the event and the task in front of it
            assert len(sent) == 1 and sent[0].startswith("WITH ridden_0 AS (INSERT INTO \"events_event\"")
            assert "ridden_1 AS (INSERT INTO \"django_tasks_database_dbtaskresult\"" in sent[0]

    def test_without_a_carrier_the_event_is_written_before_the_scope_ends(self):
        event, sent = self.record_in_scope(carrier=False)

        assert Event.objects.get().id == event.id and DBTaskResult.objects.count() == 1
        assert len(sent) == (1 if ON_POSTGRES else 2)

    def test_a_request_that_fails_writes_neither_the_event_nor_its_task(self):
        with pytest.raises(RuntimeError, match="after recording"):
            self.record_in_scope(carrier=False, fail=True)

        assert not Event.objects.exists() and not DBTaskResult.objects.exists()

    def test_an_event_recorded_in_a_savepoint_rolled_back_goes_with_it(self):
        event, _ = self.record_in_scope(carrier=True, savepoint_rolled_back=True)

        # Inside a savepoint the write is sent at once, so the rollback to it takes the event away.
        assert list(Event.objects.values_list("data", flat=True)) == [{"id": "kept"}]
        assert [task.args_kwargs["args"] for task in DBTaskResult.objects.all()] == [[str(event.id)]]

    def test_an_event_recorded_after_a_manual_savepoint_rolled_back_to_goes_with_it(self):
        event, _ = self.record_in_scope(carrier=True, manual_savepoint_rolled_back=True)

        assert list(Event.objects.values_list("data", flat=True)) == [{"id": "kept"}]
        assert [task.args_kwargs["args"] for task in DBTaskResult.objects.all()] == [[str(event.id)]]

    def test_a_recorded_event_is_saved_as_bulk_create_leaves_it(self):
        event, _ = self.record_in_scope(carrier=True)

        assert event._state.adding is False and event._state.db == "default"
        event.dispatched_at = event.created_at
        event.save(update_fields=["dispatched_at"])  # an UPDATE of the row, not a second INSERT
        assert Event.objects.get().dispatched_at == event.created_at


def test_with_another_tasks_backend_an_event_is_enqueued_through_it(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    from django_tasks import default_task_backend

    event = event_record(type="order.paid", owner="client-a", data={"id": "o-1"})

    assert Event.objects.get().id == event.id and not DBTaskResult.objects.exists()
    assert [result.args for result in default_task_backend.results] == [[str(event.id)]]
