from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils import timezone
from django.views.decorators.cache import add_never_cache_headers

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
        return ("name", "scopes") if obj is None else ("id", "name", "scopes", "prefix", "is_active", "created_at",
                                                         "last_used_at", "revoked_at")

    def save_model(self, request, obj, form, change):
        if change:
            if not obj.is_active and obj.revoked_at is None:
                obj.revoked_at = timezone.now()
            super().save_model(request, obj, form, change)
            return
        key = ApiClient.new_key()
        obj.set_key(key)
        super().save_model(request, obj, form, change)
        # Kept on the request for response_add only: never in the messages cookie, never stored in clear.
        request._new_api_key = key

    def response_add(self, request, obj, post_url_continue=None):
        """Show the new key once, in this response's body, instead of redirecting with a message."""
        key = getattr(request, "_new_api_key", None)
        if key is None:
            return super().response_add(request, obj, post_url_continue)
        response = TemplateResponse(request, "admin/api/apiclient/key_created.html", {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"API key for {obj.name}",
            "client": obj,
            "key": key,
        }, status=201)
        add_never_cache_headers(response)
        return response

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
