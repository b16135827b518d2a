"""Reads of events, webhook endpoints and delivery attempts. `owner` None (an operator) sees every client's.

The dashboard's pages read endpoints without their secrets (`endpoints_shown`): a page never holds one.
"""

from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch

from mintguard_site.api.models import ApiClient
from mintguard_site.api.pagination import keyset_after
from mintguard_site.api.selectors import owner_names

from .exceptions import EventNotFound, WebhookEndpointNotFound
from .models import Delivery, DeliveryAttempt, DeliveryStatus, Event, WebhookEndpoint


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


# --- the dashboard's pages -------------------------------------------------------------------


def endpoints_shown():
    """Every endpoint, deleted ones too, as the dashboard reads them: without their encrypted secrets."""
    return WebhookEndpoint.objects.defer("secret_encrypted", "previous_secret_encrypted")


def owner_choices(current: str = "") -> list[tuple[str, str]]:
    """The clients the dashboard filters events and endpoints by, as (owner, name), by name.

    Every API client (a revoked one's events stay) and every endpoint's owner, and `current`
    (a filter from the URL) whatever it is, so that the list says what it is filtered by.
    """
    owners = {str(pk) for pk in ApiClient.objects.values_list("pk", flat=True)}
    owners |= set(WebhookEndpoint.objects.values_list("owner", flat=True).distinct().order_by())
    owners = {owner for owner in owners | {current} if owner}
    names = owner_names(owners)
    choices = [(owner, names.get(owner, owner)) for owner in owners]
    return sorted(choices, key=lambda choice: (choice[1].lower(), choice[0]))


def delivery_counts(event_ids) -> dict:
    """Map each event id to its deliveries counted by status, as [(status, count)] in DeliveryStatus order."""
    counted: dict = {}
    rows = (Delivery.objects.filter(event_id__in=list(event_ids)).values_list("event_id", "status")
            .annotate(count=Count("pk")).order_by())
    for event_id, status, count in rows:
        counted.setdefault(event_id, {})[status] = count
    return {event_id: [(status, by_status[status]) for status in DeliveryStatus.values if status in by_status]
            for event_id, by_status in counted.items()}


def deliveries_with_attempts(*, attempts_shown: int):
    """Deliveries with their endpoint (no secrets) and, as `recent_attempts`, their latest attempts, newest first."""
    recent = DeliveryAttempt.objects.order_by("-number")[:attempts_shown]
    return (Delivery.objects.select_related("endpoint").defer("endpoint__secret_encrypted",
                                                              "endpoint__previous_secret_encrypted")
            .prefetch_related(Prefetch("attempt_log", queryset=recent, to_attr="recent_attempts")))


def endpoints_without_delivery(*, event: Event) -> list[WebhookEndpoint]:
    """The live endpoints of the event's owner that have no delivery of it (registered since, or not subscribed)."""
    delivered_to = Delivery.objects.filter(event=event).values("endpoint_id")
    return list(endpoints_shown().filter(owner=event.owner, deleted_at__isnull=True)
                .exclude(pk__in=delivered_to).order_by("created_at", "id"))


def pending_delivery_count(*, endpoint: WebhookEndpoint) -> int:
    return Delivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING).count()
