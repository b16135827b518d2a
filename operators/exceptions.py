"""Errors of the operators' dashboard: `DomainError`s, like every app's."""

from mintguard_site.errors import DomainError


class OperatorsError(DomainError):
    code = "operators_error"
    title = "Operators error"


class AuditEntryImmutable(OperatorsError):
    """The audit log is append-only: an entry is never changed or deleted."""

    code = "audit_entry_immutable"
    title = "Audit entries cannot be changed or deleted"
    category = "conflict"


class NoteRequired(OperatorsError):
    """Resolving a payment by hand needs the operator's reason, for the audit log."""

    code = "note_required"
    title = "A note is required"
    category = "validation"
