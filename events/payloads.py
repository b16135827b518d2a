"""An event as clients see it, in the API and in a webhook's body: `{"id", "type", "created_at", "data"}`."""

import json

from rest_framework.fields import DateTimeField

from .models import Event

# DRF's own field: the same timestamp format as every other API response.
_timestamp = DateTimeField()


def event_payload(event: Event) -> dict:
    return {
        "id": str(event.id),
        "type": event.type,
        "created_at": _timestamp.to_representation(event.created_at),
        "data": event.data,
    }


def event_body(event: Event) -> str:
    """The webhook body: the payload as compact JSON text (signed as text, sent as its UTF-8 bytes)."""
    return json.dumps(event_payload(event), separators=(",", ":"), ensure_ascii=False)
