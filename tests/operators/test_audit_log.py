"""The audit log is append-only: in code, in the admin and, on PostgreSQL, in the database."""

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction

from audit.exceptions import AuditEntryImmutable
from audit.models import AuditEntry
from audit.services import audit_record

from ..db_helpers import ON_POSTGRES
from .factories import paid_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry(db):
    actor = get_user_model().objects.create_user(username="ops", password="x")
    return audit_record(actor=actor, action="refund.created", target_type="order", target_id="o-1",
                        before={"status": "PAID"}, after={"status": "REFUNDED"}, note="first")


def test_an_entry_cannot_be_saved_again_or_deleted(entry):
    entry.note = "rewritten"
    with pytest.raises(AuditEntryImmutable):
        entry.save()
    with pytest.raises(AuditEntryImmutable):
        entry.delete()
    assert AuditEntry.objects.get().note == "first"


def test_bulk_updates_and_deletes_are_refused(entry):
    entry.note = "rewritten"
    with pytest.raises(AuditEntryImmutable), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(note="rewritten")
    with pytest.raises(AuditEntryImmutable), transaction.atomic():
        AuditEntry.objects.all().delete()
    with pytest.raises(AuditEntryImmutable), transaction.atomic():
        AuditEntry.objects.bulk_update([entry], ["note"])
    assert AuditEntry.objects.get().note == "first"


@pytest.mark.postgres_only
def test_postgresql_refuses_updates_and_deletes_that_bypass_the_orm(entry):
    for sql in ("UPDATE operators_auditentry SET note = 'rewritten'", "DELETE FROM operators_auditentry"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    assert AuditEntry.objects.get().note == "first"
    assert ON_POSTGRES


def test_the_admin_shows_entries_and_changes_none(admin_client, entry):
    changelist = admin_client.get("/admin/audit/auditentry/")
    change = admin_client.get(f"/admin/audit/auditentry/{entry.pk}/change/")
    post = admin_client.post(f"/admin/audit/auditentry/{entry.pk}/change/", {"note": "rewritten"})
    delete = admin_client.post(f"/admin/audit/auditentry/{entry.pk}/delete/", {"post": "yes"})

    assert changelist.status_code == 200 and b"o-1" in changelist.content
    assert change.status_code == 200 and b"Save" not in change.content  # a read-only view
    assert post.status_code == 403
    assert delete.status_code == 403
    assert admin_client.get("/admin/audit/auditentry/add/").status_code == 403
    assert AuditEntry.objects.get().note == "first"


def test_the_audit_page_filters_by_action_operator_and_target(operator):
    order = paid_order()
    operator.post(f"/orders/{order.pk}/refund/", {"amount": "1.00", "idempotency_key": "b" * 32,
                                                  "step": "confirm", "reason": "scratched"})
    other = get_user_model().objects.create_user(username="someone-else", password="x")
    audit_record(actor=other, action="api_key.revoked", target_type="api_client", target_id="c-1", note="rotated")

    everything = operator.get("/audit/").content.decode()
    by_action = operator.get("/audit/?action=refund.created").content.decode()
    by_actor = operator.get("/audit/?actor=someone-else").content.decode()
    by_target = operator.get(f"/audit/?q={str(order.pk)[:8]}").content.decode()

    assert "scratched" in everything and "rotated" in everything
    assert "scratched" in by_action and "rotated" not in by_action
    assert "rotated" in by_actor and "scratched" not in by_actor
    assert "scratched" in by_target and "rotated" not in by_target
    assert "refunded amount:</span> 0.00 USD → <strong>1.00 USD</strong>" in everything
