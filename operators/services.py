"""The operators' own writes: API keys, created and revoked from the dashboard.

Each action runs the same service as the management command and writes its audit entry in the
same database transaction: both commit, or neither does. The apps' operator actions (refunds,
pending payments, reconciliation runs) live in those apps' services.
"""

from uuid import UUID

from django.db import transaction

from audit.models import AuditAction
from audit.services import audit_record
from mintguard_site.api.models import ApiClient
from mintguard_site.api.services import api_client_create, api_client_revoke

# --- API keys ----------------------------------------------------------------------------


@transaction.atomic
def operator_api_key_create(*, actor, name: str, scopes: list[str]) -> tuple[ApiClient, str]:
    """Create an API client with `scopes` and return it with its key (shown once); audit it without the key."""
    client, key = api_client_create(name=name, scopes=scopes)
    audit_record(
        actor=actor, action=AuditAction.API_KEY_CREATED, target_type="api_client", target_id=client.pk,
        after={"name": client.name, "prefix": client.prefix, "is_active": True, "scopes": client.scopes},
    )
    return client, key


@transaction.atomic
def operator_api_key_revoke(*, actor, client_id: UUID) -> ApiClient:
    """Revoke an API key at once; revoking a revoked key changes nothing and records nothing."""
    client = ApiClient.objects.get(pk=client_id)
    if client.is_active:
        api_client_revoke(client=client)
        client.refresh_from_db()
        audit_record(
            actor=actor, action=AuditAction.API_KEY_REVOKED, target_type="api_client", target_id=client.pk,
            before={"name": client.name, "prefix": client.prefix, "is_active": True},
            after={"name": client.name, "prefix": client.prefix, "is_active": False},
        )
    return client
