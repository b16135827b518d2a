"""docs/security.md "Rotating secrets": API keys and SECRET_KEY are replaced without losing anything.

A rotated client keeps its id, so the new key sees its accounts; the old key works only for the
grace period, and revoking the client ends both at once.
"""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from mintguard_site.api.models import ApiClient
from mintguard_site.api.services import api_client_revoke, api_key_rotate

pytestmark = pytest.mark.django_db


def caller(key: str) -> APIClient:
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return http


@pytest.fixture
def account(api):
    response = api.post("/api/v1/accounts", {"owner_name": "Rotating", "currency": "USD"}, format="json")
    assert response.status_code == 201
    return response.json()


def test_a_rotated_key_sees_what_the_old_key_made_and_the_old_key_works_during_the_grace(api, account):
    client, new_key = api_key_rotate(client_id=api.api_client.pk)

    assert caller(new_key).get(f"/api/v1/accounts/{account['id']}").status_code == 200
    assert caller(api.api_key).get(f"/api/v1/accounts/{account['id']}").status_code == 200
    assert client.pk == api.api_client.pk
    assert timedelta(hours=23) < client.previous_key_expires_at - timezone.now() <= timedelta(hours=24)


def test_the_old_key_stops_when_its_grace_ends(api, account):
    client, new_key = api_key_rotate(client_id=api.api_client.pk)
    ApiClient.objects.filter(pk=client.pk).update(previous_key_expires_at=timezone.now() - timedelta(seconds=1))

    response = caller(api.api_key).get(f"/api/v1/accounts/{account['id']}")

    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"
    assert caller(new_key).get(f"/api/v1/accounts/{account['id']}").status_code == 200


def test_a_rotation_with_no_grace_retires_the_old_key_at_once(api, account):
    _, new_key = api_key_rotate(client_id=api.api_client.pk, grace=timedelta(0))

    assert caller(api.api_key).get("/api/v1/accounts").status_code == 401
    assert caller(new_key).get("/api/v1/accounts").status_code == 200


def test_revoking_a_rotated_client_ends_both_keys(api):
    client, new_key = api_key_rotate(client_id=api.api_client.pk)

    api_client_revoke(client=client)

    assert caller(new_key).get("/api/v1/accounts").status_code == 401
    assert caller(api.api_key).get("/api/v1/accounts").status_code == 401
    assert ApiClient.objects.get(pk=client.pk).previous_key_hash is None


def test_the_rotate_api_key_command_prints_the_new_key_alone_on_the_last_line(api, account):
    out = StringIO()

    call_command("rotate_api_key", "--name", api.api_client.name, "--grace-hours", "1", stdout=out)

    new_key = out.getvalue().strip().splitlines()[-1]
    assert new_key.startswith("mg_") and new_key != api.api_key
    assert caller(new_key).get(f"/api/v1/accounts/{account['id']}").status_code == 200


def test_the_rotate_api_key_command_refuses_an_unknown_or_revoked_client(api):
    api_client_revoke(client=api.api_client)

    with pytest.raises(CommandError, match="No active API client"):
        call_command("rotate_api_key", "--name", api.api_client.name, stdout=StringIO())
    with pytest.raises(CommandError, match="No active API client"):
        call_command("rotate_api_key", "--name", "nobody", stdout=StringIO())


def test_a_list_cursor_signed_with_the_previous_secret_key_still_pages_during_a_rotation(api, settings):
    for name in ("one", "two"):
        api.post("/api/v1/accounts", {"owner_name": name, "currency": "USD"}, format="json")
    old_key = settings.SECRET_KEY
    cursor = api.get("/api/v1/accounts?limit=1").json()["next_cursor"]

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "a-new-secret-key-" + "x" * 40, [old_key]
    during = api.get(f"/api/v1/accounts?limit=1&cursor={cursor}")
    settings.SECRET_KEY_FALLBACKS = []
    after = api.get(f"/api/v1/accounts?limit=1&cursor={cursor}")

    assert during.status_code == 200 and during.json()["results"][0]["owner_name"] == "one"
    assert after.status_code == 400 and after.json()["code"] == "invalid_cursor"
