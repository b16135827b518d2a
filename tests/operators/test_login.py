"""Signing in and out of the dashboard (lockouts: tests/security/test_login_lockout.py)."""

import pytest

from ..role_helpers import PASSWORD, user_with_role

pytestmark = pytest.mark.django_db


def test_signing_in_goes_to_the_page_asked_for(client):
    user_with_role("viewer", username="vera")

    response = client.post("/login/", {"username": "vera", "password": PASSWORD, "next": "/orders/"})

    assert response.status_code == 302 and response["Location"] == "/orders/"
    assert client.get("/orders/").status_code == 200


def test_a_wrong_password_is_refused_on_the_form(client):
    user_with_role("viewer", username="vera")

    response = client.post("/login/", {"username": "vera", "password": "wrong"})

    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    assert client.get("/").status_code == 302


def test_next_never_leads_off_site(client):
    user_with_role("viewer", username="vera")

    response = client.post("/login/", {"username": "vera", "password": PASSWORD, "next": "https://evil.example/"})

    assert response["Location"] == "/"


def test_an_inactive_user_cannot_sign_in(client):
    user_with_role("operator", username="gone", is_active=False)

    response = client.post("/login/", {"username": "gone", "password": PASSWORD})

    assert response.status_code == 200 and client.get("/").status_code == 302


def test_too_many_wrong_passwords_refuse_even_the_right_one_with_retry_after(client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    user_with_role("viewer", username="vera")
    for _ in range(2):
        assert client.post("/login/", {"username": "vera", "password": "guess"}).status_code == 200
    assert client.post("/login/", {"username": "vera", "password": "guess"}).status_code == 429

    response = client.post("/login/", {"username": "vera", "password": PASSWORD})

    assert response.status_code == 429
    assert settings.MINTGUARD_LOGIN_COOLOFF - 5 <= int(response["Retry-After"]) <= settings.MINTGUARD_LOGIN_COOLOFF
    assert b"Too many failed sign-in attempts" in response.content
    assert client.get("/").status_code == 302  # still signed out


def test_the_login_page_is_never_cached(client):
    assert client.get("/login/")["Cache-Control"].count("no-store") == 1


def test_signing_out_is_a_post(viewer):
    assert viewer.get("/logout/").status_code == 405
    assert viewer.get("/").status_code == 200

    response = viewer.post("/logout/")

    assert response.status_code == 302 and response["Location"] == "/login/"
    assert viewer.get("/").status_code == 302


def test_the_login_page_redirects_a_signed_in_user(viewer):
    assert viewer.get("/login/?next=/ledger/")["Location"] == "/ledger/"
