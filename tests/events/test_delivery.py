"""Delivering events to a real receiver on loopback: signatures, outcomes, dispatch rules, the sweep."""

import json
import time
from datetime import timedelta

import pytest
import standardwebhooks
from django.core.management import call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from events import destinations, services, tasks
from events.models import Delivery, DeliveryAttempt, DeliveryStatus, Event
from events.services import event_record

pytestmark = pytest.mark.django_db

ORDER = {"id": "5b0d8a4e-7c44-4f55-a1f2-5d0c3d1b7e90", "status": "PAID", "amount": 1200, "currency": "USD"}


def deliver(event: Event) -> list[str]:
    """Run the event's dispatch, then each attempt it enqueued; return what became of each."""
    tasks.event_dispatch.call(str(event.id))
    return [tasks.delivery_attempt.call(delivery.pk) for delivery in Delivery.objects.filter(event=event)]


def test_a_delivered_event_carries_a_signature_the_reference_library_verifies(endpoint_to, receiver):
    # given an endpoint on a real receiver and an event of its owner
    endpoint, secret = endpoint_to(receiver.url)
    event = event_record(type="order.paid", owner="client-a", data=ORDER)

    # when its dispatch and delivery run
    assert deliver(event) == ["DELIVERED"]

    # then the receiver got the event, signed with the endpoint's secret (webhook-id: the event id)
    [request] = receiver.received
    assert request.path == "/hooks/mintguard?source=test"
    payload = standardwebhooks.Webhook(secret).verify(request.body, request.headers)
    assert payload == {"id": str(event.id), "type": "order.paid", "created_at": payload["created_at"], "data": ORDER}
    assert request.headers["webhook-id"] == str(event.id)
    assert request.headers["Content-Type"] == "application/json"
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.DELIVERED, 1, 204)
    attempt = DeliveryAttempt.objects.get()
    assert (attempt.number, attempt.status_code, attempt.error) == (1, 204, "")


def test_after_a_rotation_deliveries_are_signed_with_both_secrets_for_24_hours_then_the_new_one(
        endpoint_to, receiver):
    # given two endpoints whose secrets were rotated just under and just over 24 hours ago
    # (the reference library checks the signature's timestamp against the real clock: time is not driven here)
    now = timezone.now()
    rotated = {}
    for name, ago in (("within", timedelta(hours=23, minutes=59)), ("after", timedelta(hours=24, seconds=1))):
        endpoint, old_secret = endpoint_to(f"{receiver.url}&endpoint={name}")
        _, new_secret = services.endpoint_rotate_secret(endpoint_id=endpoint.id, owner="client-a", now=now - ago)
        rotated[name] = (old_secret, new_secret)

    # when an event is delivered to both
    deliver(event_record(type="order.paid", owner="client-a", data=ORDER))

    # then within the 24 hours both secrets sign it; after them, only the new one
    by_endpoint = {request.path.rsplit("=", 1)[1]: request for request in receiver.received}
    within, after = by_endpoint["within"], by_endpoint["after"]
    assert len(within.headers["webhook-signature"].split(" ")) == 2
    for secret in rotated["within"]:
        standardwebhooks.Webhook(secret).verify(within.body, within.headers)
    old_secret, new_secret = rotated["after"]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    standardwebhooks.Webhook(new_secret).verify(after.body, after.headers)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(old_secret).verify(after.body, after.headers)


def test_an_event_goes_to_each_subscribed_enabled_endpoint_of_its_owner_once(endpoint_to, receiver):
    everything, _ = endpoint_to(receiver.url)
    paid_only, _ = endpoint_to(receiver.url, events=["order.paid"])
    endpoint_to(receiver.url, events=["order.refunded"])
    disabled, _ = endpoint_to(receiver.url)
    services.endpoint_update(endpoint_id=disabled.id, owner="client-a", enabled=False)
    deleted, _ = endpoint_to(receiver.url)
    services.endpoint_delete(endpoint_id=deleted.id, owner="client-a")
    endpoint_to(receiver.url, owner="client-b")
    event = event_record(type="order.paid", owner="client-a", data=ORDER)

    assert tasks.event_dispatch.call(str(event.id)) == 2
    assert tasks.event_dispatch.call(str(event.id)) == 0  # a dispatch that runs twice creates nothing twice

    assert set(Delivery.objects.values_list("endpoint_id", flat=True)) == {everything.id, paid_only.id}
    attempts = DBTaskResult.objects.filter(task_path="events.tasks.delivery_attempt")
    assert sorted(task.args_kwargs["args"][0] for task in attempts) == sorted(Delivery.objects.values_list("id",
                                                                                                            flat=True))


def test_an_endpoint_registered_after_the_event_does_not_receive_it(endpoint_to, receiver, clock):
    event = event_record(type="order.paid", owner="client-a", data=ORDER)
    clock.now = event.created_at + timedelta(seconds=1)
    endpoint_to(receiver.url)

    assert tasks.event_dispatch.call(str(event.id)) == 0


def test_an_attempt_that_runs_twice_sends_once(endpoint_to, receiver):
    endpoint_to(receiver.url)
    event = event_record(type="order.paid", owner="client-a", data=ORDER)
    tasks.event_dispatch.call(str(event.id))
    delivery = Delivery.objects.get()

    assert tasks.delivery_attempt.call(delivery.pk) == "DELIVERED"
    assert tasks.delivery_attempt.call(delivery.pk) == "skipped"
    assert len(receiver.received) == 1


@pytest.mark.parametrize("status", [500, 404, 302, 101])
def test_anything_but_a_2xx_is_retried_and_a_redirect_is_not_followed(endpoint_to, receiver, status):
    receiver.answer(status, headers={"Location": receiver.url} if status == 302 else None)
    endpoint_to(receiver.url)

    assert deliver(event_record(type="order.paid", owner="client-a", data=ORDER)) == ["PENDING"]

    assert len(receiver.received) == 1
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING and delivery.last_status_code in (status, None)


def test_an_unreachable_receiver_is_an_attempt_with_an_error_and_a_retry(endpoint_to, receiver):
    url = receiver.url
    receiver.close()  # nothing listens there any more
    endpoint_to(url)

    assert deliver(event_record(type="order.paid", owner="client-a", data=ORDER)) == ["PENDING"]

    attempt = DeliveryAttempt.objects.get()
    assert attempt.status_code is None and "NewConnectionError" in attempt.error


def test_a_receiver_slower_than_the_timeout_fails_the_attempt(endpoint_to, receiver, monkeypatch):
    monkeypatch.setattr(destinations, "TIMEOUT_SECONDS", 0.2)
    original = receiver.server.RequestHandlerClass.do_POST

    def slow(handler):
        time.sleep(0.5)
        original(handler)

    monkeypatch.setattr(receiver.server.RequestHandlerClass, "do_POST", slow)
    endpoint_to(receiver.url)

    assert deliver(event_record(type="order.paid", owner="client-a", data=ORDER)) == ["PENDING"]
    assert "Timeout" in DeliveryAttempt.objects.get().error


def test_a_large_answer_is_read_only_up_to_64_kib_and_still_delivers(endpoint_to, receiver):
    receiver.answer(200, b"x" * (1024 * 1024))
    endpoint_to(receiver.url)

    assert deliver(event_record(type="order.paid", owner="client-a", data=ORDER)) == ["DELIVERED"]


def test_a_pending_delivery_to_an_endpoint_deleted_since_fails_without_sending(endpoint_to, receiver):
    endpoint, _ = endpoint_to(receiver.url)
    event = event_record(type="order.paid", owner="client-a", data=ORDER)
    tasks.event_dispatch.call(str(event.id))
    services.endpoint_delete(endpoint_id=endpoint.id, owner="client-a")

    assert tasks.delivery_attempt.call(Delivery.objects.get().pk) == "skipped"

    assert receiver.received == []
    assert Delivery.objects.get().status == DeliveryStatus.FAILED
    assert "disabled or deleted" in DeliveryAttempt.objects.get().error


def test_the_sweep_enqueues_again_what_a_dead_worker_left_behind(endpoint_to, receiver, clock):
    # given an event whose dispatch task died, and a delivery whose attempt task died in flight
    endpoint_to(receiver.url)
    stuck_event = event_record(type="order.paid", owner="client-a", data=ORDER)
    other = event_record(type="order.created", owner="client-a", data=ORDER)
    tasks.event_dispatch.call(str(other.id))
    stuck_delivery = Delivery.objects.get(event=other)
    DBTaskResult.objects.all().delete()  # SIGKILLed workers: nothing will run them again

    # when the sweep runs within the grace, it leaves them to their tasks; past it, it enqueues them again
    clock.now = max(stuck_event.created_at, stuck_delivery.next_attempt_at) + timedelta(minutes=1)
    assert tasks.events_sweep() == {"events": 0, "deliveries": 0}
    clock.now += timedelta(minutes=5)
    assert tasks.events_sweep() == {"events": 1, "deliveries": 1}

    queued = {(t.task_path, t.args_kwargs["args"][0]) for t in DBTaskResult.objects.all()}
    assert queued == {("events.tasks.event_dispatch", str(stuck_event.id)),
                      ("events.tasks.delivery_attempt", stuck_delivery.pk)}
    assert tasks.events_sweep() == {"events": 1, "deliveries": 0}  # not taken again until overdue again
    # and running what it enqueued delivers both
    assert deliver(stuck_event) == ["DELIVERED"]
    assert tasks.delivery_attempt.call(stuck_delivery.pk) == "DELIVERED"
    assert tasks.events_sweep() == {"events": 0, "deliveries": 0}


@pytest.mark.django_db(transaction=True)  # the worker closes and reopens its connection, as in production
def test_the_database_worker_runs_dispatch_and_delivery_end_to_end(endpoint_to, receiver):
    _, secret = endpoint_to(receiver.url)
    event = event_record(type="refund.succeeded", owner="client-a", data={"id": "r-1", "amount": 300})

    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)

    [request] = receiver.received
    assert standardwebhooks.Webhook(secret).verify(request.body, request.headers)["id"] == str(event.id)
    assert json.loads(request.body)["data"] == {"id": "r-1", "amount": 300}
    assert Delivery.objects.get().status == DeliveryStatus.DELIVERED
