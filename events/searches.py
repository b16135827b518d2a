"""The events app's dashboard lists: events, webhook endpoints, and one endpoint's deliveries.

Each takes a list's state as `mintguard_site.dashboard.list_state` reads it from the URL and
returns an ordered queryset for `list_page`, newest first unless sorted otherwise.
"""

from django.db.models import OuterRef, Q, QuerySet, Subquery

from mintguard_site.search import created_between, id_matches, ordering

from .models import Delivery, DeliveryAttempt, Event
from .selectors import endpoints_shown

# Nothing here has an amount to sort by.
LIST_SORTS = {"-created": "Newest first", "created": "Oldest first"}

ENDPOINT_STATES = {"enabled": "Enabled", "disabled": "Disabled", "deleted": "Deleted"}
_ENDPOINTS_IN_STATE = {
    "enabled": Q(enabled=True),
    "disabled": Q(enabled=False, deleted_at__isnull=True),
    "deleted": Q(deleted_at__isnull=False),
}


def events_search(
    *, q: str = "", type: str = "", owner: str = "", created_from=None, created_to=None, sort: str = "-created",
) -> QuerySet:
    """Return events (without their data) of `type` and `owner` when given, in `sort` order.

    `q` matches the event's id (full, or its first 4-8 characters) or the id of the resource it is
    about (`data.id`: the order, the hold, the refund...).
    """
    events = Event.objects.defer("data")
    if q:
        events, by_id = id_matches(events, q)
        events = events.filter(by_id | Q(data__id=q))
    if type:
        events = events.filter(type=type)
    if owner:
        events = events.filter(owner=owner)
    return events.filter(created_between(created_from, created_to)).order_by(*ordering(sort))


def endpoints_search(
    *, q: str = "", owner: str = "", state: str = "", created_from=None, created_to=None, sort: str = "-created",
) -> QuerySet:
    """Return endpoints, deleted ones too, in `sort` order; `state` is one of ENDPOINT_STATES.

    `q` matches the endpoint's id (full, or its first 4-8 characters), part of its URL or of its description.
    """
    endpoints = endpoints_shown()
    if q:
        endpoints, by_id = id_matches(endpoints, q)
        endpoints = endpoints.filter(by_id | Q(url__icontains=q) | Q(description__icontains=q))
    if owner:
        endpoints = endpoints.filter(owner=owner)
    if state:
        endpoints = endpoints.filter(_ENDPOINTS_IN_STATE[state])
    return endpoints.filter(created_between(created_from, created_to)).order_by(*ordering(sort))


def endpoint_deliveries_search(
    *, endpoint, q: str = "", status: str = "", created_from=None, created_to=None, sort: str = "-created",
) -> QuerySet:
    """Return an endpoint's deliveries with their event's type and, as `last_error`, their last attempt's error.

    `q` matches the event's id (full, or its first 4-8 characters); `status` is a DeliveryStatus.
    """
    last_error = DeliveryAttempt.objects.filter(delivery=OuterRef("pk")).order_by("-number").values("error")[:1]
    deliveries = (Delivery.objects.filter(endpoint=endpoint).select_related("event").defer("event__data")
                  .annotate(last_error=Subquery(last_error)))
    if q:
        deliveries, by_event = id_matches(deliveries, q, "event_id")
        deliveries = deliveries.filter(by_event)
    if status:
        deliveries = deliveries.filter(status=status)
    return deliveries.filter(created_between(created_from, created_to)).order_by(*ordering(sort))
