"""Reads of the audit log: the dashboard's list, its filters, and one row's history."""

from django.db.models import Q, QuerySet

from mintguard_site.search import created_between, ordering

from .models import AuditEntry

# The audit log has no amount to sort by.
AUDIT_SORTS = {"-created": "Newest first", "created": "Oldest first"}


def audit_search(
    *, action: str = "", actor: str = "", q: str = "", created_from=None, created_to=None, sort: str = "-created",
) -> QuerySet:
    """Return audit entries in `sort` order; `q` matches the target's id (full or its first
    characters), the operator's name or the note."""
    entries = AuditEntry.objects.all()
    if action:
        entries = entries.filter(action=action)
    if actor:
        entries = entries.filter(actor_name=actor)
    if q:
        entries = entries.filter(
            Q(target_id__startswith=q.lower()) | Q(actor_name__icontains=q) | Q(note__icontains=q)
        )
    return entries.filter(created_between(created_from, created_to)).order_by(*ordering(sort))


def audit_actors() -> list[str]:
    return list(AuditEntry.objects.values_list("actor_name", flat=True).distinct().order_by("actor_name"))


def audit_history(*, target_type: str, target_id) -> list[AuditEntry]:
    """Return what operators did to one row, newest first."""
    return list(
        AuditEntry.objects.filter(target_type=target_type, target_id=str(target_id)).order_by("-created_at", "-id")
    )
