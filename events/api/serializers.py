"""Shapes of the events and webhook endpoints API (docs/api.md, "Events and outbound webhooks")."""

from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers

from mintguard_site.api.serializers import StrictSerializer, TextField

from ..destinations import MAX_URL_LENGTH
from ..types import EVENT_TYPES, SUBSCRIBE_ALL, TYPE_MAX_LENGTH

TYPES_HELP = "One of: " + ", ".join(EVENT_TYPES) + "."
SUBSCRIPTIONS_HELP = f'Event types to receive, or ["{SUBSCRIBE_ALL}"] for every type. {TYPES_HELP}'
URL_HELP = ("https:// URL whose host resolves only to public addresses (http:// and private addresses only "
            "with MINTGUARD_WEBHOOK_ALLOW_INSECURE).")


class EventSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="Also the `webhook-id` of its deliveries: dedupe on it.")
    type = serializers.CharField(help_text=TYPES_HELP)
    created_at = serializers.DateTimeField()
    data = serializers.JSONField(help_text="The resource as the API returned it when the event happened.")


class EventListSerializer(serializers.Serializer):
    results = EventSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


def _subscriptions(**kwargs) -> serializers.ListField:
    return serializers.ListField(child=serializers.CharField(max_length=TYPE_MAX_LENGTH), allow_empty=False,
                                 max_length=len(EVENT_TYPES) + 1, help_text=SUBSCRIPTIONS_HELP, **kwargs)


class EndpointCreateSerializer(StrictSerializer):
    url = serializers.CharField(max_length=MAX_URL_LENGTH, trim_whitespace=False, help_text=URL_HELP)
    events = _subscriptions()
    description = TextField()


class EndpointUpdateSerializer(StrictSerializer):
    url = serializers.CharField(max_length=MAX_URL_LENGTH, trim_whitespace=False, required=False, help_text=URL_HELP)
    events = _subscriptions(required=False)
    enabled = serializers.BooleanField(required=False, help_text="false: nothing is delivered until it is true.")


class NoBodySerializer(StrictSerializer):
    """An action that takes no field: an empty object, or no body."""


class EndpointSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.CharField()
    events = serializers.ListField(child=serializers.CharField(), help_text=SUBSCRIPTIONS_HELP)
    description = serializers.CharField()
    enabled = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class EndpointWithSecretSerializer(EndpointSerializer):
    secret = serializers.CharField(help_text="`whsec_...`: shown only in this response. Verify deliveries with it.")


class EndpointListSerializer(serializers.Serializer):
    results = EndpointSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class AttemptSerializer(serializers.Serializer):
    event_id = serializers.UUIDField(source="delivery.event_id")
    attempt = serializers.IntegerField(source="number", help_text="Counted from 1 for each event.")
    status_code = serializers.IntegerField(allow_null=True, help_text="null: no HTTP answer (see `error`).")
    error = serializers.CharField(help_text="Why the attempt failed without a status code; empty otherwise.")
    duration_ms = serializers.IntegerField()
    created_at = serializers.DateTimeField()


class AttemptListSerializer(serializers.Serializer):
    results = AttemptSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class DeliverySerializer(serializers.Serializer):
    event_id = serializers.UUIDField()
    status = serializers.CharField(help_text="PENDING, DELIVERED or FAILED.")
    next_attempt_at = serializers.DateTimeField(allow_null=True)


ENDPOINT_CREATE_EXAMPLE = OpenApiExample(
    "Receive paid and refunded orders",
    value={"url": "https://hooks.example.com/mintguard", "events": ["order.paid", "order.refunded"],
           "description": "Fulfilment"},
    request_only=True,
)
