"""Every write the dashboard makes: operator actions wrapped around the apps' own services.

Each action runs the same service as the API (or the provider webhook) and writes its audit entry
in the same database transaction: both commit, or neither does.
"""

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from ledger.reconciliation import reconcile_run
from mintguard_site.api.auth import OPERATOR_OWNER_PREFIX
from mintguard_site.api.models import ApiClient
from mintguard_site.api.services import api_client_create, api_client_revoke
from payments import locks as payment_locks
from payments import services as payment_services
from payments.models import ConfirmationResult, Order, Refund
from payments.selectors import order_get

from .exceptions import NoteRequired
from .models import AuditAction, AuditEntry

logger = logging.getLogger(__name__)

NOTE_MAX = 500


def operator_owner(user) -> str:
    """The owner string of rows an operator creates: the same as for the browsable API."""
    return f"{OPERATOR_OWNER_PREFIX}{user.pk}"


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


def _order_state(order: Order) -> dict:
    return {"status": order.status, "refunded_amount": order.refunded_amount, "currency": order.currency}


# --- refunds -----------------------------------------------------------------------------


@dataclass(frozen=True)
class OperatorRefundResult:
    refund: Refund
    order: Order
    created: bool  # False: the form's key had already refunded (a double submit or a retry)


@transaction.atomic
def operator_refund(
    *, actor, order_id: UUID, amount: int | None, reason: str, idempotency_key: str
) -> OperatorRefundResult:
    """Refund an order as an operator, once per form key, and record it in the audit log.

    `refund_create` locks the order and returns the first refund for a repeated key, so a double
    submit waits for the first and gets its refund back; the audit entry is written only with the
    refund it records, so it is written once too.
    """
    order_get(order_id=order_id)  # OrderNotFound for a bad id, before taking any lock
    # Under the order's lock (refund_create takes it again, a no-op): `before` is what it refunds.
    order = payment_locks.order_for_update(order_id)
    before = _order_state(order)
    refund = payment_services.refund_create(
        order=order, amount=amount, reason=reason, created_by=operator_owner(actor), idempotency_key=idempotency_key
    )
    order = refund.order  # as refund_create left it, under its lock
    created = not AuditEntry.objects.filter(
        action=AuditAction.REFUND_CREATED, target_type="order", target_id=str(order.pk),
        after__refund_id=str(refund.pk),
    ).exists()
    if created:
        audit_record(
            actor=actor, action=AuditAction.REFUND_CREATED, target_type="order", target_id=order.pk,
            before=before, after={**_order_state(order), "refund_id": str(refund.pk), "amount": refund.amount},
            note=reason,
        )
    return OperatorRefundResult(refund=refund, order=order, created=created)


# --- pending payments --------------------------------------------------------------------


@dataclass(frozen=True)
class OperatorResolveResult:
    order: Order
    result: str  # payments' ConfirmationResult: "applied", or why nothing changed

    @property
    def result_label(self) -> str:
        return ConfirmationResult(self.result).label


@transaction.atomic
def operator_resolve_pending(*, actor, order_id: UUID, outcome: str, note: str) -> OperatorResolveResult:
    """Mark a pending payment PAID or FAILED by hand, as the provider's webhook would, and audit it.

    The note is required: an operator overriding the provider must say why (a support ticket, a
    provider dashboard screenshot).
    """
    note = (note or "").strip()
    if not note:
        raise NoteRequired("Say why you mark this payment by hand.", field="note")
    order_get(order_id=order_id)
    order = payment_locks.order_for_update(order_id)
    before = _order_state(order)
    result = payment_services.payment_outcome_apply(
        order=order, outcome=outcome, source="operator", actor=actor.get_username(), note=note
    )
    order = Order.objects.get(pk=order.pk)
    audit_record(
        actor=actor, action=AuditAction.PAYMENT_RESOLVED, target_type="order", target_id=order.pk,
        before=before, after={**_order_state(order), "outcome": outcome, "result": str(result)}, note=note,
    )
    return OperatorResolveResult(order=order, result=str(result))


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


# --- reconciliation ----------------------------------------------------------------------

class _ReconciliationSlot:
    """One background run per process at a time, and when it started (for pollers to wait on)."""

    lock = threading.Lock()
    started_at: datetime | None = None


def reconciliation_start() -> tuple[datetime, bool]:
    """Start a reconciliation run in a background thread; return (when it started, started now?).

    A run reads the whole ledger and may outlast a request's timeout, so the page starts it and
    polls for the stored run (`ReconciliationRun.started_at >=` the returned moment), which works
    whichever worker answers the poll. If this process is already running one, its start is
    returned, so the poll waits for that run. With MINTGUARD_RECONCILIATION_IN_BACKGROUND = False
    (tests inside one database transaction) it runs inline instead.
    """
    slot = _ReconciliationSlot
    if not slot.lock.acquire(blocking=False):
        return slot.started_at or timezone.now(), False
    started_at = slot.started_at = timezone.now()
    if not getattr(settings, "MINTGUARD_RECONCILIATION_IN_BACKGROUND", True):
        try:
            reconcile_run()
        finally:
            slot.started_at = None
            slot.lock.release()
        return started_at, True

    def run() -> None:
        try:
            reconcile_run()
        except Exception:
            logger.exception("background reconciliation failed")
        finally:
            connections.close_all()  # this thread's connections, not the request's
            slot.started_at = None
            slot.lock.release()

    threading.Thread(target=run, name="reconciliation", daemon=True).start()
    return started_at, True
