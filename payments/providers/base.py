"""What the payments app needs from a payment provider, and the answers it gets back.

A provider is called with no database transaction open and no row lock held. Every call carries
an idempotency key: a provider answers a repeated key with its first answer and never charges or
refunds twice, which is what lets a crashed pay resume safely.
"""

import abc
from dataclasses import dataclass


class ChargeStatus:
    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    UNAVAILABLE = "unavailable"  # timed out or down: the charge may or may not have happened


class RefundOutcome:
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class ChargeResult:
    status: str
    reference: str = ""
    failure_reason: str = ""


@dataclass(frozen=True)
class RefundResult:
    status: str
    reference: str = ""
    failure_reason: str = ""


class PaymentProvider(abc.ABC):
    # Whether the request header X-Provider-Simulate may steer this provider (the simulator only).
    accepts_simulation = False

    @abc.abstractmethod
    def charge(self, *, idempotency_key: str, amount: int, currency: str, simulate: str | None = None) -> ChargeResult:
        """Charge the buyer once per key; a repeated key returns the first answer."""

    @abc.abstractmethod
    def lookup(self, *, idempotency_key: str) -> ChargeResult | None:
        """Return what became of an earlier charge with this key, or None if the provider never saw it.

        A provider that cannot answer (down, timed out) returns a result with status UNAVAILABLE.
        """

    @abc.abstractmethod
    def refund(self, *, idempotency_key: str, charge_reference: str, amount: int) -> RefundResult:
        """Refund part or all of a charge once per key."""
