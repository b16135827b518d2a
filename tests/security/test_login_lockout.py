"""Issue 14 item 1: one login throttle (django-axes) guards every way in.

Six wrong passwords then the right one, on the dashboard, the admin and the browsable API's login:
each is locked out (429 with Retry-After, no session). Lockouts count per username across
addresses and per address across usernames; the client address is the one the API throttle uses.
"""

import pytest
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from django.contrib.auth import SESSION_KEY
from django.test import Client

from ..role_helpers import PASSWORD, user_with_role

pytestmark = pytest.mark.django_db

LOGIN_PATHS = ["/login/", "/admin/login/", "/api-auth/login/"]


def sign_in(client: Client, path: str, username: str, password: str, ip: str = "203.0.113.10", **extra):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=ip, **extra)


def signed_in(client: Client) -> bool:
    return SESSION_KEY in client.session


def assert_locked_out(response):
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= django_settings.MINTGUARD_LOGIN_COOLOFF
    assert b"Too many failed sign-in attempts" in response.content


@pytest.mark.parametrize("path", LOGIN_PATHS)
def test_six_wrong_passwords_lock_out_the_right_one_on_every_login_form(path):
    user_with_role("admin", username="ada", is_staff=True)
    client = Client()
    statuses = [sign_in(client, path, "ada", f"guess-{n}").status_code for n in range(6)]

    response = sign_in(client, path, "ada", PASSWORD)

    limit = django_settings.MINTGUARD_LOGIN_FAILURE_LIMIT
    assert statuses == [200] * (limit - 1) + [429] * (6 - limit + 1)
    assert_locked_out(response)
    assert not signed_in(client)
    assert client.get("/").status_code == 302  # the dashboard still sends it to the login page


def test_failures_on_one_login_form_lock_out_the_others():
    user_with_role("admin", username="ada", is_staff=True)
    client = Client()
    for n, path in enumerate(LOGIN_PATHS * 2):
        sign_in(client, path, "ada", f"guess-{n}")

    for path in LOGIN_PATHS:
        assert_locked_out(sign_in(Client(), path, "ada", PASSWORD))


def test_a_username_is_locked_out_across_addresses():
    user_with_role("viewer", username="vera")
    for n in range(django_settings.MINTGUARD_LOGIN_FAILURE_LIMIT):
        sign_in(Client(), "/login/", "vera", "guess", ip=f"198.51.100.{n + 1}")

    client = Client()
    assert_locked_out(sign_in(client, "/login/", "vera", PASSWORD, ip="192.0.2.200"))
    assert not signed_in(client)


def test_an_address_is_locked_out_across_usernames():
    user_with_role("viewer", username="vera")
    for n in range(django_settings.MINTGUARD_LOGIN_FAILURE_LIMIT):
        sign_in(Client(), "/login/", f"nobody-{n}", "guess", ip="198.51.100.7")

    locked = Client()
    assert_locked_out(sign_in(locked, "/login/", "vera", PASSWORD, ip="198.51.100.7"))
    assert not signed_in(locked)
    elsewhere = Client()
    assert sign_in(elsewhere, "/login/", "vera", PASSWORD, ip="198.51.100.8").status_code == 302
    assert signed_in(elsewhere)


def test_a_correct_login_before_the_limit_works_and_forgets_the_failures():
    user_with_role("viewer", username="vera")
    for _ in range(django_settings.MINTGUARD_LOGIN_FAILURE_LIMIT - 1):
        assert sign_in(Client(), "/login/", "vera", "guess").status_code == 200

    client = Client()
    response = sign_in(client, "/login/", "vera", PASSWORD)

    assert response.status_code == 302 and signed_in(client)
    assert not AccessAttempt.objects.filter(username="vera").exists()  # AXES_RESET_ON_SUCCESS


def test_every_locked_out_attempt_is_429_with_retry_after_and_records_nothing_more():
    user_with_role("viewer", username="vera")
    for _ in range(django_settings.MINTGUARD_LOGIN_FAILURE_LIMIT):
        sign_in(Client(), "/login/", "vera", "guess")
    recorded = list(AccessAttempt.objects.values_list("failures_since_start", "attempt_time"))

    for path in LOGIN_PATHS * 3:
        assert_locked_out(sign_in(Client(), path, "vera", "guess-again"))

    # Hammering a locked door writes nothing, so the lockout ends when Retry-After said.
    assert list(AccessAttempt.objects.values_list("failures_since_start", "attempt_time")) == recorded


def test_behind_a_proxy_the_lockout_counts_the_real_client_address(settings):
    settings.MINTGUARD_PROXY_HOPS = 1
    user_with_role("viewer", username="vera")
    for n in range(settings.MINTGUARD_LOGIN_FAILURE_LIMIT):
        sign_in(Client(), "/login/", f"nobody-{n}", "guess", ip="10.9.9.9", HTTP_X_FORWARDED_FOR="198.51.100.1")

    assert_locked_out(sign_in(Client(), "/login/", "vera", PASSWORD, ip="10.9.9.9",
                              HTTP_X_FORWARDED_FOR="198.51.100.1"))
    other = sign_in(Client(), "/login/", "vera", PASSWORD, ip="10.9.9.9", HTTP_X_FORWARDED_FOR="198.51.100.2")
    assert other.status_code == 302


def test_a_forwarded_address_that_is_not_an_ip_is_a_plain_failure_not_a_500(settings):
    settings.MINTGUARD_PROXY_HOPS = 1
    user_with_role("viewer", username="vera")

    response = sign_in(Client(), "/login/", "vera", "guess", HTTP_X_FORWARDED_FOR="not-an-ip\x00")

    assert response.status_code == 200
    assert AccessAttempt.objects.get(username="vera").ip_address is None


def test_the_browsable_api_links_to_the_guarded_login(operator_user):
    response = Client().get("/api/v1/accounts", HTTP_ACCEPT="text/html")

    assert response.status_code in (401, 403)
    assert b'href=\'/api-auth/login/?next=/api/v1/accounts\'' in response.content
