"""The payment provider behind an interface; the simulator is the default.

`MINTGUARD_PAYMENT_PROVIDER` (settings.py) is `simulator` or the provider class's dotted path; it
defaults to `simulator` with DEBUG on and must be set with DEBUG off.
"""

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from .base import (
    CaptureResult,
    CaptureStatus,
    ChargeResult,
    ChargeStatus,
    PaymentProvider,
    RefundOutcome,
    RefundResult,
)

SIMULATOR = "payments.providers.simulator.SimulatedProvider"

__all__ = [
    "CaptureResult", "CaptureStatus", "ChargeResult", "ChargeStatus", "PaymentProvider", "RefundOutcome",
    "RefundResult", "get_provider",
]


@cache
def _provider(name: str) -> PaymentProvider:
    return import_string(SIMULATOR if name == "simulator" else name)()


def get_provider() -> PaymentProvider:
    """Return the configured payment provider."""
    return _provider(settings.MINTGUARD_PAYMENT_PROVIDER)
