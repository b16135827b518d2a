"""Retries: exponential backoff with jitter, first retry within 30 s, FAILED once 3 days would pass.

Time is driven (`clock` replaces timezone.now), never slept; every attempt is a real POST to a
receiver on loopback that keeps answering 500.
"""

from datetime import timedelta

import pytest
from django_tasks_db.models import DBTaskResult

from events import deliveries, services, tasks
from events.deliveries import RETRY_CAP, RETRY_WINDOW, retry_delay
from events.models import Delivery, DeliveryAttempt, DeliveryStatus

pytestmark = pytest.mark.django_db


def ceiling(failed_attempts: int) -> timedelta:
    return min(timedelta(seconds=30) * 2 ** min(failed_attempts - 1, 20), RETRY_CAP)


@pytest.mark.parametrize("failed_attempts", [1, 2, 3, 5, 10, 11, 30, 1000])
def test_each_wait_lies_between_half_its_ceiling_and_the_ceiling(failed_attempts):
    waits = [retry_delay(failed_attempts) for _ in range(200)]

    assert all(ceiling(failed_attempts) / 2 <= wait <= ceiling(failed_attempts) for wait in waits)
    assert len(set(waits)) > 100  # jitter: retries that failed together do not come back together


def test_the_first_retry_comes_within_30_seconds_and_the_waits_double_up_to_6_hours():
    assert max(retry_delay(1) for _ in range(200)) <= timedelta(seconds=30)
    assert [ceiling(n) for n in (1, 2, 3, 4)] == [timedelta(seconds=s) for s in (30, 60, 120, 240)]
    assert ceiling(12) == ceiling(50) == RETRY_CAP == timedelta(hours=6)


def test_a_delivery_that_keeps_failing_is_retried_with_backoff_for_3_days_then_marked_failed(
        endpoint_to, receiver, clock):
    # given a receiver that answers 500 to everything, and an event for it
    receiver.default_status = 500
    endpoint_to(receiver.url)
    event = services.event_record(type="order.paid", owner="client-a", data={"id": "o-1"})
    tasks.event_dispatch.call(str(event.id))
    delivery = Delivery.objects.get()
    first_attempt_at = clock.now

    # when each attempt runs at the moment its retry was scheduled
    outcomes = []
    while True:
        outcomes.append(tasks.delivery_attempt.call(delivery.pk))
        delivery.refresh_from_db()
        if delivery.status != DeliveryStatus.PENDING:
            break
        # the retry is enqueued to run then, and its wait is within the backoff for this many failures
        retry = DBTaskResult.objects.get(task_path="events.tasks.delivery_attempt", run_after=delivery.next_attempt_at)
        assert retry.args_kwargs["args"] == [delivery.pk]
        wait = delivery.next_attempt_at - clock.now
        assert ceiling(delivery.attempts) / 2 <= wait <= ceiling(delivery.attempts)
        clock.now = delivery.next_attempt_at

    # then it was retried until the next attempt would have fallen beyond 3 days, and is FAILED
    attempts = list(DeliveryAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert outcomes == ["PENDING"] * (len(attempts) - 1) + ["FAILED"]
    assert [a.number for a in attempts] == list(range(1, len(attempts) + 1))
    assert {a.status_code for a in attempts} == {500} and len(receiver.received) == len(attempts)
    assert attempts[1].created_at - attempts[0].created_at <= timedelta(seconds=30)
    assert attempts[-1].created_at - first_attempt_at <= RETRY_WINDOW
    assert attempts[-1].created_at - first_attempt_at > RETRY_WINDOW - RETRY_CAP
    assert (delivery.status, delivery.next_attempt_at, delivery.attempts) == (DeliveryStatus.FAILED, None, len(attempts))
    assert 15 <= len(attempts) <= 40


def test_a_success_after_failures_is_delivered_and_stops_the_retries(endpoint_to, receiver, clock):
    receiver.answer(503)
    receiver.answer(500)
    endpoint_to(receiver.url)
    event = services.event_record(type="order.paid", owner="client-a", data={"id": "o-1"})
    tasks.event_dispatch.call(str(event.id))
    delivery = Delivery.objects.get()

    for _ in range(3):
        tasks.delivery_attempt.call(delivery.pk)
        delivery.refresh_from_db()
        clock.now = delivery.next_attempt_at or clock.now

    assert delivery.status == DeliveryStatus.DELIVERED and delivery.delivered_at is not None
    assert list(DeliveryAttempt.objects.order_by("number").values_list("status_code", flat=True)) == [503, 500, 204]
    assert tasks.delivery_attempt.call(delivery.pk) == "skipped"


def test_an_attempt_is_skipped_before_it_is_due_and_while_another_holds_its_lease(endpoint_to, receiver, clock):
    endpoint_to(receiver.url)
    event = services.event_record(type="order.paid", owner="client-a", data={"id": "o-1"})
    tasks.event_dispatch.call(str(event.id))
    delivery = Delivery.objects.get()

    # a claim pushes the delivery ahead by the lease: a second copy of the task finds it not due
    assert deliveries.delivery_claim(delivery_id=delivery.pk, now=clock.now) is not None
    assert tasks.delivery_attempt.call(delivery.pk) == "skipped"
    # once the lease has run out (its worker died), the delivery is due again
    clock.now += deliveries.LEASE
    assert tasks.delivery_attempt.call(delivery.pk) == "DELIVERED"
    assert len(receiver.received) == 1
