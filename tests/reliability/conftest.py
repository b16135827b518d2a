"""Fixtures of the reliability tests: the simulator at its defaults and a Standard Webhooks secret."""

import pytest

from ..payments.helpers import WEBHOOK_SECRET


@pytest.fixture(autouse=True)
def simulator_defaults(settings):
    """Start from the simulator's defaults, whatever a developer's shell exported."""
    settings.MINTGUARD_SIMULATOR_OUTAGE = False
    settings.MINTGUARD_SIMULATOR_OUTAGE_RATE = 0.0
    settings.MINTGUARD_SIMULATOR_TIMEOUT_RATE = 0.0
    settings.MINTGUARD_SIMULATOR_DECLINE_RATE = 0.0
    settings.MINTGUARD_SIMULATOR_SEED = "mintguard"


@pytest.fixture
def webhook_secret(settings) -> str:
    settings.MINTGUARD_PROVIDER_WEBHOOK_SECRET = WEBHOOK_SECRET
    return WEBHOOK_SECRET
