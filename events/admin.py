"""Admin for events and deliveries: visible to those with the view permission, changed by no one.

Endpoints show no secret: it is stored encrypted, and shown in plaintext only to the client, once.
"""

from django.contrib import admin

from mintguard_site.admin_readonly import ReadOnlyAdmin

from .models import Delivery, DeliveryAttempt, Event, WebhookEndpoint


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "type", "owner", "id", "dispatched_at")
    list_filter = ("type",)
    search_fields = ("=id", "=owner")
    ordering = ("-created_at", "-id")


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ("url", "owner", "enabled", "created_at", "deleted_at")
    list_filter = ("enabled",)
    search_fields = ("=id", "=owner", "url")
    fields = ("id", "owner", "url", "events", "description", "enabled", "previous_secret_until", "created_at",
              "updated_at", "deleted_at")
    ordering = ("-created_at", "-id")


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ("event", "endpoint", "status", "attempts", "next_attempt_at", "last_status_code")
    list_filter = ("status",)
    search_fields = ("=event__id", "=endpoint__id")
    ordering = ("-created_at", "-id")


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "delivery", "number", "status_code", "error", "duration_ms")
    ordering = ("-created_at", "-id")
