"""Admin for orders, payments and refunds. Money rows are read-only: money moves only through the services."""

from django.contrib import admin

from ledger.admin import ReadOnlyAdmin, ReadOnlyInline
from ledger.currencies import format_amount

from .models import (
    Order,
    Payment,
    PaymentConfirmation,
    Refund,
    SimulatedAuthorization,
    SimulatedCharge,
    SimulatedRefund,
    WebhookEvent,
)


class PaymentInline(ReadOnlyInline):
    model = Payment
    fields = ("id", "kind", "status", "amount", "captured_amount", "provider_reference", "failure_reason",
              "idempotency_key", "created_at")
    show_change_link = True


class RefundInline(ReadOnlyInline):
    model = Refund
    fields = ("id", "amount", "reason", "status", "created_by", "created_at")
    show_change_link = True


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ("id", "status", "amount_display", "refunded_display", "user_id", "seller_id", "owner", "created_at")
    list_filter = ("status", "currency", "buyer_trust")
    search_fields = ("id", "user_id", "seller_id", "owner")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    inlines = [PaymentInline, RefundInline]

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, order: Order) -> str:
        return format_amount(order.amount, order.currency)

    @admin.display(description="refunded", ordering="refunded_amount")
    def refunded_display(self, order: Order) -> str:
        return format_amount(order.refunded_amount, order.currency)


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ("id", "order", "kind", "status", "amount", "captured_amount", "provider_reference",
                    "failure_reason", "created_at")
    list_filter = ("kind", "status")
    search_fields = ("id", "order__id", "provider_reference", "idempotency_key")
    list_select_related = ("order",)
    ordering = ("-created_at",)


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ("id", "order", "amount", "reason", "status", "created_by", "provider_reference", "created_at")
    list_filter = ("status",)
    search_fields = ("id", "order__id", "reason", "created_by")
    list_select_related = ("order",)
    ordering = ("-created_at",)


@admin.register(SimulatedCharge)
class SimulatedChargeAdmin(ReadOnlyAdmin):
    list_display = ("reference", "outcome", "amount", "currency", "idempotency_key", "created_at")
    list_filter = ("outcome",)
    search_fields = ("reference", "idempotency_key")
    ordering = ("-id",)


@admin.register(SimulatedAuthorization)
class SimulatedAuthorizationAdmin(ReadOnlyAdmin):
    list_display = ("reference", "outcome", "closure", "amount", "captured_amount", "currency", "idempotency_key",
                    "created_at")
    list_filter = ("outcome", "closure")
    search_fields = ("reference", "idempotency_key")
    ordering = ("-id",)


@admin.register(SimulatedRefund)
class SimulatedRefundAdmin(ReadOnlyAdmin):
    list_display = ("reference", "charge_reference", "amount", "idempotency_key", "created_at")
    search_fields = ("reference", "charge_reference", "idempotency_key")
    ordering = ("-id",)


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "event_id", "result", "outcome", "order_ref", "is_duplicate", "webhook_id")
    list_filter = ("result", "outcome", "is_duplicate")
    search_fields = ("event_id", "webhook_id", "order_ref", "body_sha256")
    date_hierarchy = "received_at"
    ordering = ("-received_at",)


@admin.register(PaymentConfirmation)
class PaymentConfirmationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "order", "outcome", "source", "actor", "result", "status_before", "status_after")
    list_filter = ("source", "outcome", "result")
    search_fields = ("order__id", "actor", "note")
    list_select_related = ("order",)
    ordering = ("-created_at",)
