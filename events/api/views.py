"""Events and webhook endpoints. Thin: parse, call a service or selector, render.

The POSTs here move no money, and an endpoint's creation and rotation answer with its secret in
plaintext: they honour no Idempotency-Key, since a stored response would keep that secret in the
database unencrypted. A retried create makes a second endpoint, which the client can delete.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from mintguard_site.api.auth import request_owner, visible_owner
from mintguard_site.api.errors import InvalidParameter
from mintguard_site.api.pagination import decode_cursor, newest_first, page_of, parse_limit
from mintguard_site.api.schema import (
    BAD_REQUEST,
    INVALID,
    LIST_PARAMETERS,
    NOT_FOUND,
    SCOPE_DENIED,
    UNAUTHORIZED,
    problem,
    read_route,
)
from mintguard_site.api.serializers import representation, validated

from .. import selectors, services
from ..payloads import event_payload
from ..types import EVENT_TYPES, is_event_type
from . import serializers as s

EVENT_TAGS, ENDPOINT_TAGS = ["events"], ["webhooks"]
URL_REFUSED = problem("Invalid or refused URL (`invalid_webhook_url`, `webhook_url_refused`), unknown event type "
                      "(`unknown_event_type`), or a body that fails validation", "webhook_url_refused", 422)
ENDPOINT_DISABLED = problem("The endpoint is disabled", "webhook_endpoint_disabled", 409)

endpoint_body = representation(s.EndpointSerializer)
attempt_body = representation(s.AttemptSerializer)
delivery_body = representation(s.DeliverySerializer)


def write_route(*, request, response, summary: str, status: int = 200, extra_responses: dict | None = None,
                examples=()):
    """Document a write of this app: its body, its answer and every error."""
    responses = {status: response, 400: BAD_REQUEST, 401: UNAUTHORIZED, 403: SCOPE_DENIED, 404: NOT_FOUND,
                 422: INVALID,
                 **(extra_responses or {})}
    return extend_schema(summary=summary, request=request, responses=responses, examples=list(examples),
                         tags=ENDPOINT_TAGS)


def endpoint_with_secret(endpoint, secret: str) -> dict:
    return {**endpoint_body(endpoint), "secret": secret}


class EventList(APIView):
    @read_route(response=s.EventListSerializer, summary="List your events, newest first", tags=EVENT_TAGS,
                operation_id="events_list", parameters=[
                    *LIST_PARAMETERS,
                    OpenApiParameter("type", OpenApiTypes.STR, enum=list(EVENT_TYPES), description="Only this type."),
                ])
    def get(self, request):
        limit = parse_limit(request)
        event_type = request.query_params.get("type") or None
        if event_type is not None and not is_event_type(event_type):
            raise InvalidParameter(f"type must be an event type: {', '.join(EVENT_TYPES)}.")
        position = decode_cursor(request, "events", size=2)
        events = selectors.events_page(owner=visible_owner(request), limit=limit + 1, after=position,
                                       event_type=event_type)
        page, next_cursor = page_of(events, scope="events", limit=limit, position=newest_first)
        return Response({"results": [event_payload(e) for e in page], "next_cursor": next_cursor})


class EventDetail(APIView):
    @read_route(response=s.EventSerializer, summary="Get an event", tags=EVENT_TAGS)
    def get(self, request, event_id):
        return Response(event_payload(selectors.event_get(event_id=event_id, owner=visible_owner(request))))


class EndpointListCreate(APIView):
    @read_route(response=s.EndpointListSerializer, summary="List your webhook endpoints, newest first",
                parameters=LIST_PARAMETERS, tags=ENDPOINT_TAGS, operation_id="webhook_endpoints_list")
    def get(self, request):
        limit = parse_limit(request)
        position = decode_cursor(request, "webhook-endpoints", size=2)
        endpoints = selectors.endpoints_page(owner=visible_owner(request), limit=limit + 1, after=position)
        page, next_cursor = page_of(endpoints, scope="webhook-endpoints", limit=limit, position=newest_first)
        return Response({"results": [endpoint_body(e) for e in page], "next_cursor": next_cursor})

    @write_route(request=s.EndpointCreateSerializer, response=s.EndpointWithSecretSerializer, status=201,
                 summary="Register a webhook endpoint; its signing secret is in this response only",
                 extra_responses={422: URL_REFUSED}, examples=[s.ENDPOINT_CREATE_EXAMPLE])
    def post(self, request):
        data = validated(s.EndpointCreateSerializer, request.data)
        endpoint, secret = services.endpoint_create(owner=request_owner(request), url=data["url"],
                                                    events=data["events"], description=data["description"])
        return Response(endpoint_with_secret(endpoint, secret), status=201)


class EndpointDetail(APIView):
    @read_route(response=s.EndpointSerializer, summary="Get a webhook endpoint", tags=ENDPOINT_TAGS)
    def get(self, request, endpoint_id):
        return Response(endpoint_body(selectors.endpoint_get(endpoint_id=endpoint_id, owner=visible_owner(request))))

    @write_route(request=s.EndpointUpdateSerializer, response=s.EndpointSerializer,
                 summary="Change a webhook endpoint's URL, event types or switch", extra_responses={422: URL_REFUSED})
    def patch(self, request, endpoint_id):
        data = validated(s.EndpointUpdateSerializer, request.data)
        endpoint = services.endpoint_update(endpoint_id=endpoint_id, owner=visible_owner(request), **data)
        return Response(endpoint_body(endpoint))

    @write_route(request=None, response=OpenApiResponse(description="Deleted: it receives nothing more."),
                 status=204, summary="Delete a webhook endpoint (its delivery history stays)")
    def delete(self, request, endpoint_id):
        services.endpoint_delete(endpoint_id=endpoint_id, owner=visible_owner(request))
        return Response(status=204)


class EndpointRotateSecret(APIView):
    @write_route(request=s.NoBodySerializer, response=s.EndpointWithSecretSerializer,
                 summary="Give a webhook endpoint a new secret; the old one signs beside it for 24 hours")
    def post(self, request, endpoint_id):
        validated(s.NoBodySerializer, request.data)
        endpoint, secret = services.endpoint_rotate_secret(endpoint_id=endpoint_id, owner=visible_owner(request))
        return Response(endpoint_with_secret(endpoint, secret))


class EndpointDeliveries(APIView):
    @read_route(response=s.AttemptListSerializer, summary="List a webhook endpoint's delivery attempts, newest first",
                parameters=LIST_PARAMETERS, tags=ENDPOINT_TAGS)
    def get(self, request, endpoint_id):
        limit = parse_limit(request)
        endpoint = selectors.endpoint_get(endpoint_id=endpoint_id, owner=visible_owner(request))
        scope = f"webhook-attempts:{endpoint.id}"
        attempts = selectors.attempts_page(endpoint=endpoint, limit=limit + 1,
                                           after=decode_cursor(request, scope, size=2))
        page, next_cursor = page_of(attempts, scope=scope, limit=limit, position=newest_first)
        return Response({"results": [attempt_body(a) for a in page], "next_cursor": next_cursor})


class DeliveryResend(APIView):
    @write_route(request=s.NoBodySerializer, response=s.DeliverySerializer, status=202,
                 summary="Deliver an event to this endpoint again, now (a fresh 3-day retry window)",
                 extra_responses={409: ENDPOINT_DISABLED})
    def post(self, request, endpoint_id, event_id):
        validated(s.NoBodySerializer, request.data)
        delivery = services.delivery_resend(endpoint_id=endpoint_id, event_id=event_id, owner=visible_owner(request))
        return Response(delivery_body(delivery), status=202)
