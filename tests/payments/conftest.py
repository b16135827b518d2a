"""Fixtures of the payments tests."""

import pytest

from .helpers import WEBHOOK_SECRET


@pytest.fixture
def webhook_secret(settings) -> str:
    """Configure one Standard Webhooks secret (whsec_...) for the provider's webhooks; return it."""
    settings.MINTGUARD_PROVIDER_WEBHOOK_SECRET = WEBHOOK_SECRET
    return WEBHOOK_SECRET


@pytest.fixture(autouse=True)
def simulator_defaults(settings):
    """Start every payments test from the simulator's defaults, whatever a developer's shell exported."""
    settings.MINTGUARD_SIMULATOR_OUTAGE = False
    settings.MINTGUARD_SIMULATOR_OUTAGE_RATE = 0.0
    settings.MINTGUARD_SIMULATOR_TIMEOUT_RATE = 0.0
    settings.MINTGUARD_SIMULATOR_DECLINE_RATE = 0.0
    settings.MINTGUARD_SIMULATOR_SEED = "mintguard"
