"""The events app's constraints refuse a bad row by themselves, on SQLite and on PostgreSQL.

Raw ORM writes bypass the services here; each refusal must name its constraint.
"""

import pytest
from django.utils import timezone

from events.models import Delivery, DeliveryAttempt, DeliveryStatus, Event, WebhookEndpoint
from mintguard_site import secrets_at_rest

from ..constraints import constraints_without_a_test, refused_by

pytestmark = pytest.mark.django_db

MODELS = (Event, WebhookEndpoint, Delivery, DeliveryAttempt)


def event_row(**fields) -> Event:
    return Event.objects.create(**{"owner": "client-a", "type": "order.paid", "data": {}, **fields})


def endpoint_row(**fields) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(**{
        "owner": "client-a", "url": "https://hooks.example.com/x", "events": ["*"],
        "secret_encrypted": secrets_at_rest.encrypt("whsec_x"), **fields,
    })


def delivery_row(**fields) -> Delivery:
    return Delivery.objects.create(**{"endpoint": endpoint_row(), "event": event_row(),
                                      "next_attempt_at": timezone.now(), **fields})


def attempt_row(delivery: Delivery, **fields) -> DeliveryAttempt:
    return DeliveryAttempt.objects.create(**{"delivery": delivery, "endpoint_id": delivery.endpoint_id, "number": 1,
                                             "status_code": 204, "duration_ms": 12, **fields})


def test_events_event_type_known():
    with refused_by(Event, "events_event_type_known"):
        event_row(type="order.shipped")


def test_events_endpoint_has_secret():
    with refused_by(WebhookEndpoint, "events_endpoint_has_secret"):
        endpoint_row(secret_encrypted="")


def test_events_endpoint_previous_secret_has_deadline():
    with refused_by(WebhookEndpoint, "events_endpoint_previous_secret_has_deadline"):
        endpoint_row(previous_secret_encrypted=secrets_at_rest.encrypt("whsec_old"))
    with refused_by(WebhookEndpoint, "events_endpoint_previous_secret_has_deadline"):
        endpoint_row(previous_secret_until=timezone.now())


def test_events_endpoint_deleted_is_disabled():
    with refused_by(WebhookEndpoint, "events_endpoint_deleted_is_disabled"):
        endpoint_row(deleted_at=timezone.now(), enabled=True)
    assert endpoint_row(deleted_at=timezone.now(), enabled=False).deleted_at is not None


def test_events_delivery_once_per_endpoint():
    delivery = delivery_row()
    with refused_by(Delivery, "events_delivery_once_per_endpoint"):
        Delivery.objects.create(endpoint=delivery.endpoint, event=delivery.event, next_attempt_at=timezone.now())


def test_events_delivery_status_valid():
    with refused_by(Delivery, "events_delivery_status_valid"):
        delivery_row(status="LOST")


def test_events_delivery_pending_is_scheduled():
    with refused_by(Delivery, "events_delivery_pending_is_scheduled"):
        delivery_row(next_attempt_at=None)
    assert delivery_row(status=DeliveryStatus.FAILED, next_attempt_at=None).status == DeliveryStatus.FAILED


def test_events_delivery_delivered_has_time():
    with refused_by(Delivery, "events_delivery_delivered_has_time"):
        delivery_row(status=DeliveryStatus.DELIVERED)
    with refused_by(Delivery, "events_delivery_delivered_has_time"):
        delivery_row(delivered_at=timezone.now())


def test_events_attempt_number_unique():
    delivery = delivery_row()
    attempt_row(delivery)
    with refused_by(DeliveryAttempt, "events_attempt_number_unique"):
        attempt_row(delivery)


def test_events_attempt_number_from_one():
    with refused_by(DeliveryAttempt, "events_attempt_number_from_one"):
        attempt_row(delivery_row(), number=0)


def test_events_attempt_status_code_http():
    with refused_by(DeliveryAttempt, "events_attempt_status_code_http"):
        attempt_row(delivery_row(), status_code=99)


def test_events_attempt_has_outcome():
    with refused_by(DeliveryAttempt, "events_attempt_has_outcome"):
        attempt_row(delivery_row(), status_code=None, error="")


def test_every_events_constraint_has_a_test_named_after_it():
    assert constraints_without_a_test(*MODELS, tests=globals()) == []
