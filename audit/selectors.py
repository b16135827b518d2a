"""Reads of the audit log: the dashboard's list, its filters, and one row's history."""

from mintguard_site.api.pagination import keyset_after

from .models import AuditEntry


def audit_search(*, action: str = "", actor: str = "", q: str = "", limit: int, after: list | None = None):
    """Return audit entries newest first; `q` matches the target's id (full or its first characters)."""
    entries = AuditEntry.objects.order_by("-created_at", "-id")
    if action:
        entries = entries.filter(action=action)
    if actor:
        entries = entries.filter(actor_name=actor)
    q = q.strip().lower()
    if q:
        entries = entries.filter(target_id__startswith=q)
    return list(entries.filter(keyset_after(after))[:limit])


def audit_actors() -> list[str]:
    return list(AuditEntry.objects.values_list("actor_name", flat=True).distinct().order_by("actor_name"))


def audit_history(*, target_type: str, target_id) -> list[AuditEntry]:
    """Return what operators did to one row, newest first."""
    return list(
        AuditEntry.objects.filter(target_type=target_type, target_id=str(target_id)).order_by("-created_at", "-id")
    )
