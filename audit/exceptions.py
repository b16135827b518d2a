"""Errors of the audit log: `DomainError`s, like every app's."""

from mintguard_site.errors import DomainError


class AuditEntryImmutable(DomainError):
    """The audit log is append-only: an entry is never changed or deleted."""

    code = "audit_entry_immutable"
    title = "Audit entries cannot be changed or deleted"
    category = "conflict"
