"""Admin for the audit log: visible to those with the view permission, changeable by no one."""

from django.contrib import admin

from mintguard_site.admin_readonly import ReadOnlyAdmin

from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor_name", "action", "target_type", "target_id", "note")
    list_filter = ("action", "target_type")
    search_fields = ("target_id", "actor_name", "note")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    readonly_fields = ("created_at", "actor", "actor_name", "action", "target_type", "target_id", "before", "after",
                       "note")
    actions = None  # no bulk delete either
