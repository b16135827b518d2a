"""Reads of events, webhook endpoints and delivery attempts. `owner` None (an operator) sees every client's."""

from django.core.exceptions import ValidationError

from mintguard_site.api.pagination import keyset_after

from .exceptions import EventNotFound, WebhookEndpointNotFound
from .models import DeliveryAttempt, Event, WebhookEndpoint


def _owned(rows, owner: str | None):
    return rows if owner is None else rows.filter(owner=owner)


def event_get(*, event_id, owner: str | None) -> Event:
    """Return an event, or raise EventNotFound (also for another owner's)."""
    try:
        return _owned(Event.objects.all(), owner).get(pk=event_id)
    except (Event.DoesNotExist, ValueError, TypeError, ValidationError):
        raise EventNotFound(f"Event {event_id} does not exist.") from None


def events_page(*, owner: str | None, limit: int, after=None, event_type: str | None = None) -> list[Event]:
    """Return events newest first after the (created_at, id) position, optionally of one type."""
    events = _owned(Event.objects.order_by("-created_at", "-id"), owner)
    if event_type:
        events = events.filter(type=event_type)
    return list(events.filter(keyset_after(after))[:limit])


def live_endpoints(owner: str | None):
    """The endpoints that are not deleted (of `owner`, unless None)."""
    return _owned(WebhookEndpoint.objects.filter(deleted_at__isnull=True), owner)


def endpoint_from(endpoints, endpoint_id) -> WebhookEndpoint:
    """Return the endpoint of `endpoints` with this id, or raise WebhookEndpointNotFound."""
    try:
        return endpoints.get(pk=endpoint_id)
    except (WebhookEndpoint.DoesNotExist, ValueError, TypeError, ValidationError):
        raise WebhookEndpointNotFound(f"Webhook endpoint {endpoint_id} does not exist.") from None


def endpoint_get(*, endpoint_id, owner: str | None) -> WebhookEndpoint:
    """Return an endpoint that is not deleted, or raise WebhookEndpointNotFound (also for another owner's)."""
    return endpoint_from(live_endpoints(owner), endpoint_id)


def endpoints_page(*, owner: str | None, limit: int, after=None) -> list[WebhookEndpoint]:
    """Return the endpoints that are not deleted, newest first after the (created_at, id) position."""
    return list(live_endpoints(owner).order_by("-created_at", "-id").filter(keyset_after(after))[:limit])


def attempts_page(*, endpoint: WebhookEndpoint, limit: int, after=None) -> list[DeliveryAttempt]:
    """Return an endpoint's delivery attempts newest first (with their delivery, for its event id)."""
    attempts = DeliveryAttempt.objects.filter(endpoint=endpoint).select_related("delivery")
    return list(attempts.order_by("-created_at", "-id").filter(keyset_after(after))[:limit])
