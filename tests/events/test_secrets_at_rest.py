"""Webhook secrets at rest: stored encrypted, keys rotated by `rotate_encryption_keys`, required in production."""

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connection

from events import services
from events.models import WebhookEndpoint
from mintguard_site import secrets_at_rest
from mintguard_site.secrets_at_rest import SecretUndecryptable

from ..ops.test_settings import manage, production_env, settings_in

pytestmark = pytest.mark.django_db


def stored_columns() -> list[str]:
    """Every text the endpoints table holds, read with SQL past the ORM."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM events_webhookendpoint")
        return [str(value) for row in cursor.fetchall() for value in row]


def test_no_secret_is_stored_in_plaintext_current_or_previous(endpoint_to):
    endpoint, first = endpoint_to("http://127.0.0.1:9/hook")
    _, second = services.endpoint_rotate_secret(endpoint_id=endpoint.id, owner="client-a")

    columns = stored_columns()

    for secret in (first, second):
        assert not any(secret in column or secret.removeprefix("whsec_") in column for column in columns)
    endpoint.refresh_from_db()
    assert secrets_at_rest.decrypt(endpoint.secret_encrypted) == second
    assert secrets_at_rest.decrypt(endpoint.previous_secret_encrypted) == first


def test_rotate_encryption_keys_re_encrypts_every_secret_so_the_old_key_can_go(endpoint_to, settings, capsys):
    # given secrets stored under the old key
    old_key, new_key = settings.MINTGUARD_ENCRYPTION_KEYS[0], Fernet.generate_key().decode()
    endpoint, first = endpoint_to("http://127.0.0.1:9/hook")
    _, second = services.endpoint_rotate_secret(endpoint_id=endpoint.id, owner="client-a")
    deleted, third = endpoint_to("http://127.0.0.1:9/other")
    services.endpoint_delete(endpoint_id=deleted.id, owner="client-a")
    before = stored_columns()

    # when the new key is put first and the command runs
    settings.MINTGUARD_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("rotate_encryption_keys")

    # then every secret was rewritten, and decrypts with the new key alone
    assert "Re-encrypted 3 secrets" in capsys.readouterr().out
    settings.MINTGUARD_ENCRYPTION_KEYS = [new_key]
    rows = {row.pk: row for row in WebhookEndpoint.objects.all()}
    assert secrets_at_rest.decrypt(rows[endpoint.pk].secret_encrypted) == second
    assert secrets_at_rest.decrypt(rows[endpoint.pk].previous_secret_encrypted) == first
    assert secrets_at_rest.decrypt(rows[deleted.pk].secret_encrypted) == third
    assert rows[endpoint.pk].secret_encrypted not in before and rows[deleted.pk].secret_encrypted not in before


def test_a_secret_that_no_key_decrypts_is_refused_and_the_command_changes_nothing(endpoint_to, settings):
    endpoint_to("http://127.0.0.1:9/hook")
    before = stored_columns()
    settings.MINTGUARD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # the old key dropped too early

    with pytest.raises(CommandError, match="Nothing was changed"):
        call_command("rotate_encryption_keys")

    assert stored_columns() == before
    with pytest.raises(SecretUndecryptable):
        secrets_at_rest.decrypt(WebhookEndpoint.objects.get().secret_encrypted)


# --- the setting ------------------------------------------------------------------------


def test_production_refuses_to_start_without_encryption_keys():
    result = manage("check", env=production_env(MINTGUARD_ENCRYPTION_KEYS=None))

    assert result.returncode != 0
    assert "MINTGUARD_ENCRYPTION_KEYS must be set when DEBUG is off." in result.stderr


def test_a_key_that_is_not_a_fernet_key_stops_startup_naming_it():
    result = manage("check", env=production_env(MINTGUARD_ENCRYPTION_KEYS=f"{Fernet.generate_key().decode()},hunter2"))

    assert result.returncode != 0 and "MINTGUARD_ENCRYPTION_KEYS: key #2 is not a Fernet key" in result.stderr


def test_debug_derives_a_key_from_secret_key_and_production_takes_the_list_first_key_first():
    keys = [Fernet.generate_key().decode(), Fernet.generate_key().decode()]
    debug = production_env(DEBUG="true", MINTGUARD_ENCRYPTION_KEYS=None, SECRET_KEY="dev-secret")
    production = production_env(MINTGUARD_ENCRYPTION_KEYS=" , ".join(keys))

    assert settings_in(debug, "MINTGUARD_ENCRYPTION_KEYS") == {
        "MINTGUARD_ENCRYPTION_KEYS": [secrets_at_rest.key_derived_from("dev-secret")]}
    assert settings_in(production, "MINTGUARD_ENCRYPTION_KEYS") == {"MINTGUARD_ENCRYPTION_KEYS": keys}
    assert settings_in(production, "MINTGUARD_WEBHOOK_ALLOW_INSECURE") == {"MINTGUARD_WEBHOOK_ALLOW_INSECURE": False}
