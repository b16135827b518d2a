"""A deterministic payment provider that lives in our database: not a mock, a fake provider.

Its memory (charges and refunds by idempotency key) is its own tables, written in autocommit by
the pay flow's provider step, outside our transactions, so it survives our rollbacks and crashes
and a lookup works from any process, as a real provider's would. The same key twice returns the
first answer: a charge is one INSERT ... ON CONFLICT DO NOTHING, and only a key seen before is
read back, so the simulator costs a pay one statement.

A request may force the outcome with `X-Provider-Simulate`:
- `success` / `decline`: the charge is recorded with that outcome;
- `timeout`: wait MINTGUARD_PROVIDER_TIMEOUT seconds, then report unavailable;
- `outage`: report unavailable at once.
Unavailable answers record nothing: the simulated provider never saw the charge, so a lookup
returns None and a retry with the same key may still charge.

A charge nobody forced draws its outcome from settings, deterministically: the draw is a hash of
MINTGUARD_SIMULATOR_SEED and the charge's idempotency key, so the same attempt gets the same
outcome in every process and every run, and different attempts spread over the configured rates
(MINTGUARD_SIMULATOR_OUTAGE_RATE, ..._TIMEOUT_RATE, ..._DECLINE_RATE; success takes the rest).
MINTGUARD_SIMULATOR_OUTAGE=true takes the whole provider down: charges, lookups and refunds all
answer unavailable (a header still forces a charge's outcome: the most specific instruction wins).
"""

import hashlib
import time

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from .. import rows
from ..models import SimulatedCharge, SimulatedRefund
from .base import ChargeResult, ChargeStatus, PaymentProvider, RefundOutcome, RefundResult

SUCCESS, DECLINE, TIMEOUT, OUTAGE = "success", "decline", "timeout", "outage"
SIMULATIONS = frozenset({SUCCESS, DECLINE, TIMEOUT, OUTAGE})
DECLINE_REASON = "card_declined"
REFUND_COLUMNS = ("idempotency_key", "charge_reference", "amount", "reference", "created_at")
CHARGE_COLUMNS = ("idempotency_key", "amount", "currency", "outcome", "reference", "failure_reason", "created_at")


def _reference(prefix: str, idempotency_key: str) -> str:
    # Derived from the key, so the simulator's answers are reproducible run after run.
    return f"{prefix}_{hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]}"


def outcome_draw(*, seed: str, idempotency_key: str) -> float:
    """Return a number in [0, 1) fixed by the seed and the key: the simulator's dice, reproducible."""
    digest = hashlib.sha256(f"{seed}\x00{idempotency_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _charge_result(charge: SimulatedCharge) -> ChargeResult:
    if charge.outcome == SimulatedCharge.Outcome.SUCCEEDED:
        return ChargeResult(ChargeStatus.SUCCEEDED, charge.reference)
    return ChargeResult(ChargeStatus.DECLINED, charge.reference, charge.failure_reason)


class SimulatedProvider(PaymentProvider):
    accepts_simulation = True

    def default_outcome(self, *, idempotency_key: str, amount: int, currency: str) -> str:
        """Return the outcome of a charge nobody forced: forced outage, else the seeded draw over the rates."""
        if self.is_down():
            return OUTAGE
        draw = outcome_draw(seed=settings.MINTGUARD_SIMULATOR_SEED, idempotency_key=idempotency_key)
        threshold = 0.0
        for outcome, rate in (
            (OUTAGE, settings.MINTGUARD_SIMULATOR_OUTAGE_RATE),
            (TIMEOUT, settings.MINTGUARD_SIMULATOR_TIMEOUT_RATE),
            (DECLINE, settings.MINTGUARD_SIMULATOR_DECLINE_RATE),
        ):
            threshold += rate
            if draw < threshold:
                return outcome
        return SUCCESS

    def is_down(self) -> bool:
        return settings.MINTGUARD_SIMULATOR_OUTAGE

    def timeout_seconds(self) -> float:
        return settings.MINTGUARD_PROVIDER_TIMEOUT

    def charge(self, *, idempotency_key: str, amount: int, currency: str, simulate: str | None = None) -> ChargeResult:
        if simulate is not None and simulate not in SIMULATIONS:
            raise ValueError(f"unknown simulation {simulate!r}")
        if simulate is None and self.is_down():
            return ChargeResult(ChargeStatus.UNAVAILABLE, failure_reason="provider_outage")
        outcome = simulate or self.default_outcome(idempotency_key=idempotency_key, amount=amount, currency=currency)
        if outcome in (TIMEOUT, OUTAGE):
            # Unavailable records nothing, but an earlier answer for this key still stands.
            existing = self._recorded(idempotency_key)
            if existing is not None:
                return existing
            if outcome == TIMEOUT:
                time.sleep(self.timeout_seconds())
                return ChargeResult(ChargeStatus.UNAVAILABLE, failure_reason="provider_timeout")
            return ChargeResult(ChargeStatus.UNAVAILABLE, failure_reason="provider_outage")
        declined = outcome == DECLINE
        charge = SimulatedCharge(
            idempotency_key=idempotency_key,
            amount=amount,
            currency=currency,
            outcome=SimulatedCharge.Outcome.DECLINED if declined else SimulatedCharge.Outcome.SUCCEEDED,
            reference=_reference("sim_ch", idempotency_key),
            failure_reason=DECLINE_REASON if declined else "",
            created_at=timezone.now(),
        )
        # One statement for a fresh key; only a key charged before is read back, and its first answer wins.
        if rows.insert_unless_conflict(charge, CHARGE_COLUMNS, unique="idempotency_key"):
            return _charge_result(charge)
        return self._recorded(idempotency_key)

    def lookup(self, *, idempotency_key: str) -> ChargeResult | None:
        if self.is_down():
            return ChargeResult(ChargeStatus.UNAVAILABLE, failure_reason="provider_outage")
        return self._recorded(idempotency_key)

    def _recorded(self, idempotency_key: str) -> ChargeResult | None:
        charge = SimulatedCharge.objects.filter(idempotency_key=idempotency_key).first()
        return None if charge is None else _charge_result(charge)

    def refund(self, *, idempotency_key: str, charge_reference: str, amount: int) -> RefundResult:
        if self.is_down():
            return RefundResult(RefundOutcome.UNAVAILABLE, failure_reason="provider_outage")
        existing = SimulatedRefund.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return RefundResult(RefundOutcome.SUCCEEDED, existing.reference)
        charge = SimulatedCharge.objects.filter(
            reference=charge_reference, outcome=SimulatedCharge.Outcome.SUCCEEDED
        ).first()
        if charge is None:
            return RefundResult(RefundOutcome.FAILED, failure_reason="charge_not_found")
        refunded = (
            SimulatedRefund.objects.filter(charge_reference=charge_reference).aggregate(total=Sum("amount"))["total"]
            or 0
        )
        if refunded + amount > charge.amount:
            return RefundResult(RefundOutcome.FAILED, failure_reason="refund_exceeds_charge")
        refund = SimulatedRefund(
            idempotency_key=idempotency_key,
            charge_reference=charge_reference,
            amount=amount,
            reference=_reference("sim_re", idempotency_key),
            created_at=timezone.now(),
        )
        # A twin with the same key that got there first recorded the same reference: derived from the key.
        rows.insert_unless_conflict(refund, REFUND_COLUMNS, unique="idempotency_key")
        return RefundResult(RefundOutcome.SUCCEEDED, refund.reference)
