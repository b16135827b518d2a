"""What the payments app needs from a payment provider, and the answers it gets back.

A provider is called with no database transaction open and no row lock held. Every call carries
an idempotency key: a provider answers a repeated key with its first answer and never charges or
refunds twice, which is what lets a crashed pay resume safely.

Two-phase payments: `authorize` holds the buyer's funds, then the hold is closed once, by a
`capture` of part or all of it (the rest is released) or by a `void`. A provider without them
keeps the defaults, which refuse.

Settlement: `settlement_report` lists what the provider settled on a UTC day, charge by charge
and refund by refund with its fee (what `manage.py import_settlement` reconciles).
"""

import abc
from dataclasses import dataclass
from datetime import date, datetime


class ChargeStatus:
    SUCCEEDED = "succeeded"
    AUTHORIZED = "authorized"  # an authorization's success: funds held, nothing taken yet
    DECLINED = "declined"
    UNAVAILABLE = "unavailable"  # timed out or down: the charge may or may not have happened


class CaptureStatus:
    """How an authorization was closed, whichever call (capture or void) asked."""

    CAPTURED = "captured"
    VOIDED = "voided"
    UNAVAILABLE = "unavailable"  # timed out or down: the capture or void may or may not have happened
    REFUSED = "refused"  # no such open authorization, or a capture above it: nothing happened


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
class CaptureResult:
    status: str
    amount: int = 0  # what was captured, when it was
    reference: str = ""
    failure_reason: str = ""


@dataclass(frozen=True)
class RefundResult:
    status: str
    reference: str = ""
    failure_reason: str = ""


class SettledType:
    CHARGE = "charge"  # money taken: a charge, or the capture of an authorization
    REFUND = "refund"


@dataclass(frozen=True)
class SettledItem:
    """One line of a provider's settlement report: what it settled, for how much, at what fee."""

    provider_reference: str
    type: str  # SettledType
    amount: int
    currency: str
    fee: int
    settled_at: datetime


class PaymentProvider(abc.ABC):
    # Whether the request header X-Provider-Simulate may steer this provider (the simulator only).
    accepts_simulation = False

    @abc.abstractmethod
    def charge(self, *, idempotency_key: str, amount: int, currency: str, simulate: str | None = None) -> ChargeResult:
        """Charge the buyer once per key; a repeated key returns the first answer."""

    @abc.abstractmethod
    def lookup(self, *, idempotency_key: str) -> ChargeResult | None:
        """Return what became of an earlier charge or authorization with this key; None if the provider never saw it.

        A provider that cannot answer (down, timed out) returns a result with status UNAVAILABLE.
        """

    @abc.abstractmethod
    def refund(self, *, idempotency_key: str, charge_reference: str, amount: int) -> RefundResult:
        """Refund part or all of a charge once per key."""

    def authorize(
        self, *, idempotency_key: str, amount: int, currency: str, simulate: str | None = None
    ) -> ChargeResult:
        """Hold the buyer's funds once per key: AUTHORIZED, DECLINED or UNAVAILABLE, the first answer again after."""
        raise NotImplementedError(f"{type(self).__name__} does not support authorize and capture.")

    def capture(
        self, *, idempotency_key: str, authorization_reference: str, amount: int, simulate: str | None = None
    ) -> CaptureResult:
        """Take `amount` (at most what was authorized) of an open authorization and release the rest.

        An authorization closes once: asked again, or after a void, the answer says how it closed.
        """
        raise NotImplementedError(f"{type(self).__name__} does not support authorize and capture.")

    def void(self, *, idempotency_key: str, authorization_reference: str, simulate: str | None = None) -> CaptureResult:
        """Release an open authorization; asked again, or after a capture, the answer says how it closed."""
        raise NotImplementedError(f"{type(self).__name__} does not support authorize and capture.")

    def settlement_report(self, *, day: date) -> list[SettledItem]:
        """Return what the provider settled on the UTC day `day`, oldest first."""
        raise NotImplementedError(f"{type(self).__name__} does not produce settlement reports.")
