"""Every dashboard page and action checks a Django permission on the server, per role."""

import pytest
from django.contrib.auth.models import Group, Permission

from ledger.models import Account, ReconciliationRun
from mintguard_site.api.models import ApiClient
from mintguard_site.api.services import api_client_create
from operators.models import AuditEntry
from payments.models import Order, Refund

from .conftest import htmx
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
    ]


def actions(rows) -> dict[str, dict]:
    """Every POST the dashboard accepts, with a body that would succeed for an allowed user."""
    order, pending, client = rows["order"], rows["pending"], rows["api_client"]
    return {
        f"/orders/{order.pk}/refund/": {"amount": "1.00", "reason": "forged", "idempotency_key": "a" * 32,
                                         "step": "confirm"},
        f"/pending/{pending.pk}/resolve/": {"outcome": "PAID", "note": "forged"},
        "/reconciliation/run/": {},
        "/api-keys/new/": {"name": "forged-client"},
        f"/api-keys/{client.pk}/revoke/": {},
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
    response = root.post(f"/pending/{rows['pending'].pk}/resolve/", {"outcome": "PAID", "note": "checked"})
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
            "ledger.view_transaction", "wallets.view_wallet", "operators.view_auditentry"} <= viewer
    assert all(p.split(".")[1].startswith("view_") for p in viewer)
    assert operator - viewer == {"operators.refund_order", "operators.resolve_pending", "operators.run_reconciliation"}
    assert admin - operator == {"api.view_apiclient", "api.add_apiclient", "api.change_apiclient"}
    # Nobody can be granted a change to the audit log: the permissions do not exist.
    assert not Permission.objects.filter(
        content_type__app_label="operators", codename__in=["add_auditentry", "change_auditentry", "delete_auditentry"]
    ).exists()
