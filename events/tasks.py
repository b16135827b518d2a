"""The events app's background tasks (Django's tasks framework; `manage.py db_worker` runs them).

- `event_dispatch(*event_ids)`: enqueued with the events, in the transaction that records them (one
  task for a whole batch); creates each event's deliveries and enqueues one `delivery_attempt` for
  each, one event per transaction.
- `delivery_attempt(delivery_id)`: one POST of a delivery; on failure it enqueues itself again,
  `run_after` the backoff, in the transaction that records the attempt.
- `events_sweep()`: what a dead worker left behind (db_worker leaves a SIGKILLed task RUNNING for
  ever, and nothing runs it again), enqueued again. A periodic scheduler calls it (or enqueues
  `events_sweep_task`); it is safe to run at any time, as often as wanted.

Delivery is at least once: every task body is idempotent (events.deliveries), so a task that runs
twice, or is enqueued again by the sweep while a copy still waits in the queue, sends nothing twice
but what a receiver's dedupe on `webhook-id` absorbs.
"""

from django.db import transaction
from django.utils import timezone
from django_tasks import task

from . import deliveries, destinations


@task()
def event_dispatch(*event_ids: str) -> int:
    """Create the events' deliveries and enqueue their first attempts; return how many were created.

    One event per transaction, so a batch's dispatch holds one event's lock at a time; one that dies
    half-way leaves the rest to the sweep, and a run again skips the events already dispatched.
    """
    created = 0
    for event_id in event_ids:
        with transaction.atomic():
            delivery_ids = deliveries.deliveries_create(event_id=event_id, now=timezone.now())
            for delivery_id in delivery_ids:
                delivery_attempt.enqueue(delivery_id)
        created += len(delivery_ids)
    return created


@task()
def delivery_attempt(delivery_id: int) -> str:
    """Attempt a delivery if it is due; return what became of it (skipped, DELIVERED, PENDING or FAILED)."""
    with transaction.atomic():
        request = deliveries.delivery_claim(delivery_id=delivery_id, now=timezone.now())
    if request is None:
        return "skipped"
    # No transaction is open and no row is locked while the receiver takes its time.
    outcome = destinations.post(request.url, body=request.body, headers=request.headers)
    with transaction.atomic():
        retry_at = deliveries.delivery_record(delivery_id=delivery_id, outcome=outcome, now=timezone.now())
        if retry_at is not None:
            delivery_attempt.using(run_after=retry_at).enqueue(delivery_id)
    return "DELIVERED" if outcome.delivered else ("PENDING" if retry_at else "FAILED")


def events_sweep() -> dict[str, int]:
    """Enqueue again the dispatch of events left undispatched and the attempts of deliveries left overdue."""
    with transaction.atomic():
        event_ids, delivery_ids = deliveries.sweep_overdue(now=timezone.now())
        for event_id in event_ids:
            event_dispatch.enqueue(str(event_id))
        for delivery_id in delivery_ids:
            delivery_attempt.enqueue(delivery_id)
    return {"events": len(event_ids), "deliveries": len(delivery_ids)}


@task()
def events_sweep_task() -> dict[str, int]:
    """`events_sweep` as a task, for a scheduler that enqueues its jobs."""
    return events_sweep()
