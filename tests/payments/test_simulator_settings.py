"""The simulator's settings are read from the environment and refused at startup when malformed."""

import pytest

from ..ops.test_settings import manage, production_env, settings_in


def test_the_simulator_settings_are_read_from_the_environment():
    env = production_env(MINTGUARD_SIMULATOR_DECLINE_RATE="0.3", MINTGUARD_SIMULATOR_TIMEOUT_RATE="0.05",
                         MINTGUARD_SIMULATOR_OUTAGE="true", MINTGUARD_SIMULATOR_SEED="demo-seed")

    values = settings_in(env, "MINTGUARD_SIMULATOR_DECLINE_RATE", "MINTGUARD_SIMULATOR_TIMEOUT_RATE",
                         "MINTGUARD_SIMULATOR_OUTAGE_RATE", "MINTGUARD_SIMULATOR_OUTAGE", "MINTGUARD_SIMULATOR_SEED")

    assert values == {"MINTGUARD_SIMULATOR_DECLINE_RATE": 0.3, "MINTGUARD_SIMULATOR_TIMEOUT_RATE": 0.05,
                      "MINTGUARD_SIMULATOR_OUTAGE_RATE": 0.0, "MINTGUARD_SIMULATOR_OUTAGE": True,
                      "MINTGUARD_SIMULATOR_SEED": "demo-seed"}


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("MINTGUARD_SIMULATOR_DECLINE_RATE", "lots", "MINTGUARD_SIMULATOR_DECLINE_RATE must be a number"),
    ("MINTGUARD_SIMULATOR_TIMEOUT_RATE", "1.5", "MINTGUARD_SIMULATOR_TIMEOUT_RATE must be from 0 to 1"),
    ("MINTGUARD_SIMULATOR_OUTAGE_RATE", "-0.1", "MINTGUARD_SIMULATOR_OUTAGE_RATE must be from 0 to 1"),
])
def test_a_malformed_rate_stops_startup_with_its_name(variable, value, message):
    result = manage("check", env=production_env(**{variable: value}))

    assert result.returncode != 0
    assert message in result.stderr


def test_rates_adding_up_to_more_than_one_stop_startup():
    result = manage("check", env=production_env(MINTGUARD_SIMULATOR_DECLINE_RATE="0.6",
                                                MINTGUARD_SIMULATOR_TIMEOUT_RATE="0.5"))

    assert result.returncode != 0
    assert "must add up to at most 1" in result.stderr


def test_a_webhook_secret_that_is_not_base64_after_whsec_fails_the_system_check():
    result = manage("check", env=production_env(MINTGUARD_PROVIDER_WEBHOOK_SECRET="whsec_not*base64"))

    assert result.returncode != 0
    assert "payments.E001" in result.stderr
