"""The payment provider behind an interface; the simulator is the default.

`MINTGUARD_PAYMENT_PROVIDER` names the provider class by dotted path
(default `payments.providers.simulator.SimulatedProvider`).
"""

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string

from .base import ChargeResult, ChargeStatus, PaymentProvider, RefundOutcome, RefundResult

DEFAULT_PROVIDER = "payments.providers.simulator.SimulatedProvider"

__all__ = [
    "ChargeResult", "ChargeStatus", "PaymentProvider", "RefundOutcome", "RefundResult", "get_provider",
]


@cache
def _provider(path: str) -> PaymentProvider:
    return import_string(path)()


def get_provider() -> PaymentProvider:
    """Return the configured payment provider."""
    return _provider(getattr(settings, "MINTGUARD_PAYMENT_PROVIDER", DEFAULT_PROVIDER))
