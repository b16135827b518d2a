"""Errors of events and webhook endpoints: `DomainError`s with a stable `code`, like every app's."""

from mintguard_site.errors import DomainError


class InvalidWebhookUrl(DomainError):
    """Not a URL we deliver to: malformed, not https (nor http when insecure URLs are allowed), credentials in it."""

    code = "invalid_webhook_url"
    title = "Invalid webhook URL"
    category = "validation"

    def __init__(self, detail: str = ""):
        super().__init__(detail, field="url")


class WebhookUrlRefused(DomainError):
    """The URL's host does not resolve, or resolves to an address that is not public (SSRF guard)."""

    code = "webhook_url_refused"
    title = "Webhook URL refused"
    category = "validation"

    def __init__(self, detail: str = ""):
        super().__init__(detail, field="url")


class UnknownEventType(DomainError):
    code = "unknown_event_type"
    title = "Unknown event type"
    category = "validation"

    def __init__(self, detail: str = ""):
        super().__init__(detail, field="events")


class EventNotFound(DomainError):
    code = "event_not_found"
    title = "Event not found"
    category = "not_found"


class WebhookEndpointNotFound(DomainError):
    code = "webhook_endpoint_not_found"
    title = "Webhook endpoint not found"
    category = "not_found"


class WebhookEndpointDisabled(DomainError):
    """A resend to an endpoint that is disabled: enable it first (PATCH enabled=true)."""

    code = "webhook_endpoint_disabled"
    title = "Webhook endpoint disabled"
    category = "conflict"
