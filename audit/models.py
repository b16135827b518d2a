"""The audit log of operator actions.

Invariants:
1. Audit entries are append-only: `save()` refuses to update a stored entry, `delete()` and the
   queryset's `update()`/`delete()` refuse outright, the admin is read-only, and no change or
   delete permission exists for them. PostgreSQL: a trigger raises on UPDATE and DELETE
   (`operators/migrations/0002_roles_and_append_only_audit.py`, from when the log lived there).
2. An entry is written in the same database transaction as the action it records (callers run
   `audit.services.audit_record` inside the action's transaction), so the log never claims an
   action that rolled back, and no action commits without its entry. One exception: a
   reconciliation run reads in its own snapshot transaction, so its start is recorded apart.

The table keeps its first name, `operators_auditentry`: the model moved here without moving a row.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

from .exceptions import AuditEntryImmutable


class AuditAction(models.TextChoices):
    REFUND_CREATED = "refund.created", "Refund created"
    PAYMENT_RESOLVED = "payment.resolved", "Pending payment resolved"
    API_KEY_CREATED = "api_key.created", "API key created"
    API_KEY_REVOKED = "api_key.revoked", "API key revoked"
    RECONCILIATION_STARTED = "reconciliation.started", "Reconciliation started"
    AUTHORIZATION_VOIDED = "authorization.voided", "Authorization voided"
    HOLD_VOIDED = "hold.voided", "Hold voided"
    DELIVERY_RESENT = "delivery.resent", "Webhook delivery resent"
    ENDPOINT_ENABLED = "webhook_endpoint.enabled", "Webhook endpoint enabled"
    ENDPOINT_DISABLED = "webhook_endpoint.disabled", "Webhook endpoint disabled"
    SETTLEMENT_IMPORTED = "settlement.imported", "Settlement file imported"
    SETTLEMENT_BREAK_RESOLVED = "settlement_break.resolved", "Settlement break resolved"
    TRANSACTION_REVERSED = "transaction.reversed", "Transaction reversed"


class AuditEntryQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditEntryImmutable("Audit entries are append-only.")

    def delete(self):
        raise AuditEntryImmutable("Audit entries are append-only.")


class AuditEntry(models.Model):
    """Who did what to which row, when, with the row's state before and after."""

    id = models.BigAutoField(primary_key=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    # PROTECT: an operator who acted is deactivated, never deleted, so the log keeps its author.
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="audit_entries")
    actor_name = models.CharField(max_length=150, help_text="The username at the time of the action.")
    action = models.CharField(max_length=32, choices=AuditAction.choices)
    target_type = models.CharField(max_length=32, help_text="What was acted on: order, api_client.")
    target_id = models.CharField(max_length=64)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    note = models.CharField(max_length=500, blank=True, default="")

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        db_table = "operators_auditentry"
        verbose_name_plural = "audit entries"
        # Only "view": there is no permission that could let anyone change or delete an entry.
        default_permissions = ("view",)
        indexes = [
            models.Index(fields=["target_type", "target_id", "-created_at"], name="operators_audit_target"),
            models.Index(fields=["-created_at", "-id"], name="operators_audit_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.target_type} {self.target_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AuditEntryImmutable(f"Audit entry {self.pk} is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AuditEntryImmutable(f"Audit entry {self.pk} is append-only.")
