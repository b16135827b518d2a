"""Every dashboard page and action checks a Django permission on the server, per role."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from audit.models import AuditEntry
from ledger.models import Account, ReconciliationRun
from mintguard_site.api.models import ApiClient
from mintguard_site.api.services import api_client_create
from payments.models import Order, Refund

from ..dashboard_helpers import htmx
from .factories import paid_order, pending_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def rows(settings):
    settings.MINTGUARD_RECONCILIATION_IN_BACKGROUND = False
    order = paid_order()
    pending = pending_order()
    client, _ = api_client_create(name="checkout")
    account = Account.objects.filter(is_system=True).first()
    return {
        "order": order,
        "pending": pending,
        "api_client": client,
        "account": account,
        "transaction": order.payments.get().ledger_transaction_id,
    }


def pages(rows) -> list[str]:
    return [
        "/",
        "/orders/",
        "/orders/?q=buyer&status=PAID",
        f"/orders/{rows['order'].pk}/",
        "/pending/",
        "/refunds/",
        "/ledger/",
        f"/ledger/accounts/{rows['account'].pk}/",
        f"/ledger/transactions/{rows['transaction']}/",
        "/wallets/",
        "/wallets/?user_id=nobody",
        "/reconciliation/",
        "/reconciliation/status/",
        "/audit/",
        "/events/",
        "/events/endpoints/",
    ]


def actions(rows) -> dict[str, dict]:
    """Every POST the dashboard accepts, with a body that would succeed for an allowed user."""
    order, pending, client = rows["order"], rows["pending"], rows["api_client"]
    return {
        f"/orders/{order.pk}/refund/": {"amount": "1.00", "reason": "forged", "idempotency_key": "a" * 32,
                                         "step": "confirm"},
        f"/pending/{pending.pk}/resolve/": {"outcome": "PAID", "note": "forged", "step": "confirm"},
        "/reconciliation/run/": {},
        "/api-keys/new/": {"name": "forged-client"},
        f"/api-keys/{client.pk}/revoke/": {"step": "confirm"},
    }


def state(rows) -> tuple:
    """Everything a forged action could change."""
    return (
        Refund.objects.count(),
        AuditEntry.objects.count(),
        Order.objects.get(pk=rows["pending"].pk).status,
        ReconciliationRun.objects.count(),
        sorted(ApiClient.objects.values_list("name", "is_active")),
    )


def test_anonymous_users_are_sent_to_the_login_page_from_every_page_and_action(client, rows):
    for url in pages(rows) + ["/api-keys/"]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/login/?next="), url
    before = state(rows)
    for url, body in actions(rows).items():
        response = client.post(url, body)
        assert response.status_code == 302 and response["Location"].startswith("/login/"), url
    assert state(rows) == before


def test_an_anonymous_htmx_request_is_redirected_by_the_client_not_inside_a_fragment(client, rows):
    response = client.get("/orders/?q=x", **htmx(current_url="http://testserver/orders/"))

    assert response.status_code == 200
    assert response["HX-Redirect"] == "/login/?next=/orders/"


def test_a_viewer_reads_every_page_but_not_the_api_keys(viewer, rows):
    for url in pages(rows):
        assert viewer.get(url).status_code == 200, url
    assert viewer.get("/api-keys/").status_code == 403


def test_every_action_posted_by_a_viewer_is_403_and_changes_nothing(viewer, rows):
    before = state(rows)
    for url, body in actions(rows).items():
        assert viewer.post(url, body).status_code == 403, url
        assert viewer.post(url, body, **htmx()).status_code == 403, url
    assert state(rows) == before


def test_an_operator_may_not_manage_api_keys(operator, rows):
    before = state(rows)
    assert operator.get("/api-keys/").status_code == 403
    assert operator.post("/api-keys/new/", {"name": "sneaky"}).status_code == 403
    assert operator.post(f"/api-keys/{rows['api_client'].pk}/revoke/").status_code == 403
    assert state(rows) == before


def test_a_signed_in_user_without_a_role_sees_nothing(as_role, rows):
    nobody = as_role(None)
    for url in pages(rows) + ["/api-keys/"]:
        assert nobody.get(url).status_code == 403, url


def test_a_superuser_passes_every_check_without_any_group(as_role, rows):
    root = as_role(None, is_superuser=True)
    for url in pages(rows) + ["/api-keys/"]:
        assert root.get(url).status_code == 200, url
    response = root.post(f"/pending/{rows['pending'].pk}/resolve/", {"outcome": "PAID", "note": "checked",
                                                                       "step": "confirm"})
    assert response.status_code == 302
    assert Order.objects.get(pk=rows["pending"].pk).status == "PAID"


def test_pages_show_only_the_actions_the_role_may_take(viewer, operator, admin_role, rows):
    order_url = f"/orders/{rows['order'].pk}/"
    assert b'data-testid="refund-panel"' not in viewer.get(order_url).content
    assert b'data-testid="refund-panel"' in operator.get(order_url).content
    assert b"Mark paid" not in viewer.get("/pending/").content
    assert b"Mark paid" in operator.get("/pending/").content
    assert b"Run reconciliation now" not in viewer.get("/reconciliation/").content
    assert b'href="/api-keys/"' not in operator.get("/").content
    assert b'href="/api-keys/"' in admin_role.get("/").content


def test_the_roles_migration_grants_reading_to_viewers_and_actions_by_role(db):
    def perms(role):
        group = Group.objects.get(name=role)
        return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}

    viewer, operator, admin = perms("viewer"), perms("operator"), perms("admin")
    assert {"payments.view_order", "payments.view_refund", "payments.view_webhookevent", "ledger.view_account",
            "ledger.view_transaction", "wallets.view_wallet", "events.view_event", "events.view_webhookendpoint",
            "events.view_delivery", "audit.view_auditentry"} <= viewer
    assert all(p.split(".")[1].startswith("view_") for p in viewer)
    assert operator - viewer == {"payments.refund_order", "payments.resolve_pending", "ledger.run_reconciliation",
                                 "ledger.void_hold", "events.resend_delivery", "events.change_endpoint_state",
                                 "payments.import_settlement", "payments.resolve_settlement_break"}
    assert admin - operator == {"api.view_apiclient", "api.add_apiclient", "api.change_apiclient",
                                "ledger.reverse_transaction"}
    # Nobody can be granted a change to the audit log: the permissions do not exist.
    assert not Permission.objects.filter(
        content_type__app_label="audit", codename__in=["add_auditentry", "change_auditentry", "delete_auditentry"]
    ).exists()


# The migrations of the move, and the last migration of each app before it (the previous release).
BEFORE_THE_MOVE = [
    ("operators", "0002_roles_and_append_only_audit"),
    ("audit", None),
    ("ledger", "0007_posting_function_by_index"),
    ("payments", "0003_refused_webhook_bodies_bounded"),
]
OLD_DASHBOARD_PERMISSIONS = ("refund_order", "resolve_pending", "run_reconciliation")


def perm_names(permissions) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in permissions.select_related("content_type")}


@pytest.mark.django_db(transaction=True)
def test_an_upgraded_database_keeps_its_audit_log_and_every_grant_of_the_moved_permissions():
    # given: a database as the previous release left it: permissions on operators' models, an entry
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE_THE_MOVE)
    old = executor.loader.project_state(BEFORE_THE_MOVE[0]).apps
    OldContentType, OldPermission = old.get_model("contenttypes", "ContentType"), old.get_model("auth", "Permission")
    OldContentType.objects.filter(app_label="audit").delete()
    OldPermission.objects.filter(codename__in=OLD_DASHBOARD_PERMISSIONS).delete()
    dashboard, _ = OldContentType.objects.get_or_create(app_label="operators", model="dashboardpermission")
    audit_log, _ = OldContentType.objects.get_or_create(app_label="operators", model="auditentry")
    old_perms = {codename: OldPermission.objects.create(content_type=dashboard, codename=codename, name=codename)
                 for codename in OLD_DASHBOARD_PERMISSIONS}
    old_perms["view_auditentry"], _ = OldPermission.objects.get_or_create(
        content_type=audit_log, codename="view_auditentry", defaults={"name": "Can view audit entry"})
    OldGroup = old.get_model("auth", "Group")
    OldGroup.objects.get(name="viewer").permissions.add(old_perms["view_auditentry"])
    OldGroup.objects.get(name="operator").permissions.add(*old_perms.values())
    OldGroup.objects.create(name="auditors").permissions.add(old_perms["view_auditentry"])
    OldUser = old.get_model("auth", "User")
    clerk = OldUser.objects.create(username="clerk")
    clerk.user_permissions.add(old_perms["refund_order"])
    old.get_model("operators", "AuditEntry").objects.create(
        actor=clerk, actor_name="clerk", action="refund.created", target_type="order", target_id="o-1", note="kept")

    # when: it is migrated to this release
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    ContentType.objects.clear_cache()

    # then: the entry is still there, and every group and user holds the same rights, under the apps' names
    assert AuditEntry.objects.get().note == "kept"
    assert perm_names(Group.objects.get(name="viewer").permissions) >= {"audit.view_auditentry"}
    assert perm_names(Group.objects.get(name="operator").permissions) >= {
        "audit.view_auditentry", "payments.refund_order", "payments.resolve_pending", "ledger.run_reconciliation"}
    assert perm_names(Group.objects.get(name="auditors").permissions) == {"audit.view_auditentry"}
    assert get_user_model().objects.get(username="clerk").has_perm("payments.refund_order")
    assert not ContentType.objects.filter(app_label="operators").exists()
    assert not Permission.objects.filter(content_type__app_label="operators").exists()
