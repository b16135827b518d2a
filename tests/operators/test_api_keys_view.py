"""API keys from the dashboard (admin role): created once-visible, revoked at once, both audited."""

import pytest

from audit.models import AuditAction, AuditEntry
from mintguard_site.api.models import ApiClient, hash_api_key
from mintguard_site.api.services import api_client_create

from ..dashboard_helpers import htmx

pytestmark = pytest.mark.django_db


def test_an_admin_creates_a_key_that_is_shown_once_and_stored_hashed(admin_role):
    response = admin_role.post("/api-keys/new/", {"name": "checkout-service", "scopes": ["payments"]}, **htmx())

    assert response.status_code == 201
    client = ApiClient.objects.get(name="checkout-service")
    key = response.content.decode().split('<div class="secret">')[1].split("</div>")[0]
    assert client.key_hash == hash_api_key(key)
    assert key not in admin_role.get("/api-keys/").content.decode()
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.target_id, entry.after["name"]) == (AuditAction.API_KEY_CREATED, str(client.pk),
                                                                    "checkout-service")
    assert key not in str(entry.after)


def test_a_duplicate_name_is_refused_inline(admin_role):
    api_client_create(name="checkout-service")

    response = admin_role.post("/api-keys/new/", {"name": "checkout-service", "scopes": ["payments"]}, **htmx())

    assert response.status_code == 422 and b"exists already" in response.content
    assert b'aria-invalid="true" aria-describedby="id_name_error"' in response.content  # tied to its field
    assert AuditEntry.objects.count() == 0


def test_a_twin_that_takes_the_name_after_the_form_checked_it_gets_422_not_500(admin_role, monkeypatch):
    """The database's unique name decides a race the form's check cannot see."""
    from operators.forms import ApiKeyCreateForm

    api_client_create(name="checkout-service")
    monkeypatch.setattr(ApiKeyCreateForm, "clean_name", lambda form: form.cleaned_data["name"])

    response = admin_role.post("/api-keys/new/", {"name": "checkout-service", "scopes": ["payments"]}, **htmx())

    assert response.status_code == 422 and b"exists already" in response.content
    assert AuditEntry.objects.count() == 0


@pytest.mark.parametrize("step", [None, "review"])
def test_revoke_first_asks_which_key_stops_working_and_revokes_nothing(admin_role, step):
    client, _ = api_client_create(name="old-service")

    response = admin_role.post(f"/api-keys/{client.pk}/revoke/", {"step": step} if step else {}, **htmx())

    html = response.content.decode()
    assert response.status_code == 200
    assert f"Revoke the key of old-service (starts <span class=\"mono\">{client.prefix}…</span>)?" in html
    assert 'name="step" value="confirm"' in html and "hx-confirm" not in html
    client.refresh_from_db()
    assert client.is_active and AuditEntry.objects.count() == 0


def test_an_admin_revokes_a_key_once(admin_role):
    client, _ = api_client_create(name="old-service")

    first = admin_role.post(f"/api-keys/{client.pk}/revoke/", {"step": "confirm"})
    second = admin_role.post(f"/api-keys/{client.pk}/revoke/", {"step": "confirm"})

    assert first.status_code == second.status_code == 302
    client.refresh_from_db()
    assert not client.is_active and client.revoked_at is not None
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.before["is_active"], entry.after["is_active"]) == (
        AuditAction.API_KEY_REVOKED, True, False)
