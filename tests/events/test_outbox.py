"""`event_record`: an event and its dispatch task, written in the caller's transaction (one statement on PostgreSQL)."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django_tasks_db.models import DBTaskResult

from events.models import Delivery, Event
from events.services import event_record
from events.tasks import event_dispatch

from ..db_helpers import ON_POSTGRES

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
