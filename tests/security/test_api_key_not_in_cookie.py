"""Issue 14 item 6: an API key made in the Django admin is shown once, in the body, never in a cookie."""

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from mintguard_site.api.models import ApiClient, all_scopes

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(django_user_model):
    user = django_user_model.objects.create_superuser(username="root", password="root-password-123")
    client = Client()
    client.force_login(user)
    return client


def admin_add(admin_client, name: str):
    return admin_client.post("/admin/api/apiclient/add/", {"name": name, "scopes": all_scopes(), "_save": "Save"})


def shown_key(response) -> str:
    body = response.content.decode()
    field = body.index('id="new-api-key"')
    return body[body.rindex('value="', 0, field) + len('value="'):].split('"', 1)[0]


def test_the_admin_add_response_carries_the_key_in_its_body_and_in_no_cookie(admin_client):
    response = admin_add(admin_client, "Shop backend")

    assert response.status_code == 201
    client = ApiClient.objects.get(name="Shop backend")
    key = shown_key(response)
    assert key.startswith(client.prefix) and len(key) > len(client.prefix)
    assert "no-store" in response["Cache-Control"]
    # Neither a Set-Cookie header nor the messages storage carries it.
    assert all(key not in morsel.OutputString() for morsel in response.cookies.values())
    assert all(key not in str(message) for message in get_messages(response.wsgi_request))
    assert all(key not in value for value in admin_client.cookies.values())


def test_the_key_works_for_the_api_and_is_not_shown_again(admin_client):
    key = shown_key(admin_add(admin_client, "Shop backend"))

    assert Client().get("/api/v1/accounts", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200
    client = ApiClient.objects.get(name="Shop backend")
    later = admin_client.get(f"/admin/api/apiclient/{client.pk}/change/")
    assert later.status_code == 200 and key not in later.content.decode()
    assert key not in admin_client.get("/admin/api/apiclient/").content.decode()
