"""Writing the audit log: one entry per operator action, in the action's own transaction."""

from .models import AuditEntry

NOTE_MAX = AuditEntry._meta.get_field("note").max_length


def audit_record(
    *, actor, action: str, target_type: str, target_id, before: dict | None = None, after: dict | None = None,
    note: str = "",
) -> AuditEntry:
    """Append an entry to the audit log. Call it inside the transaction of the action it records."""
    return AuditEntry.objects.create(
        actor=actor,
        actor_name=actor.get_username(),
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        before=before or {},
        after=after or {},
        note=note[:NOTE_MAX],
    )
