"""The only place the events app takes row locks.

An endpoint is locked by the services that change it (update, rotate its secret, delete); an
event by its dispatch; a delivery by the attempt that claims it and by a resend. Each takes one
lock, so no two orders can cross. (SQLite ignores FOR UPDATE: its IMMEDIATE transactions
serialize writers for the whole database.)
"""

from .models import Delivery, Event, WebhookEndpoint
from .selectors import endpoint_from, live_endpoints


def endpoint_for_update(*, endpoint_id, owner: str | None) -> WebhookEndpoint:
    """Lock an endpoint that is not deleted (and is `owner`'s, unless None); raise WebhookEndpointNotFound."""
    return endpoint_from(live_endpoints(owner).select_for_update(), endpoint_id)


def endpoints_for_update():
    """Lock every endpoint, deleted ones too, in pk order (re-encrypting their secrets)."""
    return WebhookEndpoint.objects.order_by("pk").select_for_update()


def event_for_update(event_id) -> Event | None:
    """Lock an event (its dispatch creates its deliveries once); None if it does not exist."""
    return Event.objects.select_for_update().filter(pk=event_id).first()


def delivery_for_update(delivery_id) -> Delivery | None:
    """Lock a delivery, with its endpoint and event loaded (not locked); None if it does not exist."""
    return (
        Delivery.objects.select_related("endpoint", "event")
        .select_for_update(of=("self",))
        .filter(pk=delivery_id)
        .first()
    )
