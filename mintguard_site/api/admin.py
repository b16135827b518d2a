from django.contrib import admin, messages
from django.utils import timezone

from .models import ApiClient, IdempotencyKey
from .services import api_client_revoke


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    list_display = ("name", "prefix", "is_active", "created_at", "last_used_at", "revoked_at")
    list_filter = ("is_active",)
    search_fields = ("name", "prefix", "id")
    readonly_fields = ("id", "prefix", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def get_fields(self, request, obj=None):
        return ("name",) if obj is None else ("id", "name", "prefix", "is_active", "created_at", "last_used_at",
                                               "revoked_at")

    def save_model(self, request, obj, form, change):
        if change:
            if not obj.is_active and obj.revoked_at is None:
                obj.revoked_at = timezone.now()
            super().save_model(request, obj, form, change)
            return
        key = ApiClient.new_key()
        obj.set_key(key)
        super().save_model(request, obj, form, change)
        messages.warning(
            request, f"API key for {obj.name}: {key} (copy it now; it is stored hashed and never shown again)"
        )

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: rows it created keep pointing at it

    @admin.action(description="Revoke selected API keys")
    def revoke(self, request, queryset):
        for client in queryset:
            api_client_revoke(client=client)


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    list_display = ("key", "owner", "method", "path", "state", "response_status", "created_at", "expires_at")
    list_filter = ("state", "method")
    search_fields = ("key", "owner", "path")
    exclude = ("response_body",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
