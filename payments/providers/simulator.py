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

Authorizations work as charges do (`authorize`, the same headers and draws), and are then closed
once: `capture` takes part or all of the hold, `void` releases it, whichever comes first (one
compare-and-set); asking again, by either call, answers how it closed. A capture or void is
unavailable only when forced (`timeout`, `outage`, or the whole provider down): its key is fixed by
its authorization, so a drawn failure would repeat on every retry. Nothing declines a capture or
void of an open authorization (the funds are held), so `decline` changes nothing there.

A charge nobody forced draws its outcome from settings, deterministically: the draw is a hash of
MINTGUARD_SIMULATOR_SEED and the charge's idempotency key, so the same attempt gets the same
outcome in every process and every run, and different attempts spread over the configured rates
(MINTGUARD_SIMULATOR_OUTAGE_RATE, ..._TIMEOUT_RATE, ..._DECLINE_RATE; success takes the rest).
MINTGUARD_SIMULATOR_OUTAGE=true takes the whole provider down: charges, lookups and refunds all
answer unavailable (a header still forces a charge's outcome: the most specific instruction wins).

Fees and settlement: what the simulator takes (a succeeded charge, a capture) is recorded with its
fee, `provider_fee` (MINTGUARD_SIMULATOR_FEE_BPS and _FEE_FIXED); a refund costs nothing. It settles
at once, so its report of a UTC day (`settlement_report`) lists every charge and capture made and
every refund sent that day, at the moment it happened.
"""

import hashlib
import time
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from mintguard_site.db import rows

from .base import (
    CaptureResult,
    CaptureStatus,
    ChargeResult,
    ChargeStatus,
    PaymentProvider,
    RefundOutcome,
    RefundResult,
    SettledItem,
    SettledType,
)
from .records import SimulatedAuthorization, SimulatedCharge, SimulatedRefund

SUCCESS, DECLINE, TIMEOUT, OUTAGE = "success", "decline", "timeout", "outage"
SIMULATIONS = frozenset({SUCCESS, DECLINE, TIMEOUT, OUTAGE})
DECLINE_REASON = "card_declined"
REFUND_COLUMNS = ("idempotency_key", "charge_reference", "amount", "reference", "created_at")
# The columns a new charge or authorization is inserted with (an authorization open: no closure yet).
CHARGE_COLUMNS = ("idempotency_key", "amount", "currency", "outcome", "reference", "failure_reason", "fee",
                  "created_at")
AUTHORIZATION_COLUMNS = (*CHARGE_COLUMNS, "closure", "closed_by_key")
Hold = SimulatedAuthorization


def _reference(prefix: str, idempotency_key: str) -> str:
    # Derived from the key, so the simulator's answers are reproducible run after run.
    return f"{prefix}_{hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]}"


def provider_fee(amount: int) -> int:
    """Return the simulator's fee on taking `amount`: floor(amount * bps / 10000) + fixed, at most the amount."""
    fee = amount * settings.MINTGUARD_SIMULATOR_FEE_BPS // 10_000 + settings.MINTGUARD_SIMULATOR_FEE_FIXED
    return min(fee, amount)


def outcome_draw(*, seed: str, idempotency_key: str) -> float:
    """Return a number in [0, 1) fixed by the seed and the key: the simulator's dice, reproducible."""
    digest = hashlib.sha256(f"{seed}\x00{idempotency_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _attempt_result(record: SimulatedCharge | SimulatedAuthorization) -> ChargeResult:
    # The outcomes are named as the answers are: succeeded, authorized, declined.
    return ChargeResult(record.outcome, record.reference, record.failure_reason)


def _recorded(model: type[SimulatedCharge | SimulatedAuthorization], idempotency_key: str) -> ChargeResult | None:
    record = model.objects.filter(idempotency_key=idempotency_key).first()
    return None if record is None else _attempt_result(record)


def _closure_result(hold: SimulatedAuthorization) -> CaptureResult:
    if hold.closure == Hold.Closure.CAPTURED:
        return CaptureResult(CaptureStatus.CAPTURED, hold.captured_amount, hold.reference)
    return CaptureResult(CaptureStatus.VOIDED, 0, hold.reference)


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

    def _unavailable(self, outcome: str) -> str:
        """Answer as an unavailable provider does: wait out the timeout if that is the outcome; return why."""
        if outcome == TIMEOUT:
            time.sleep(self.timeout_seconds())
            return "provider_timeout"
        return "provider_outage"

    def _attempt(self, model, *, idempotency_key: str, amount: int, currency: str, simulate: str | None,
                 succeeded: str, prefix: str) -> ChargeResult:
        """Charge or authorize: record the outcome once per key, the first answer wins."""
        if simulate is not None and simulate not in SIMULATIONS:
            raise ValueError(f"unknown simulation {simulate!r}")
        if simulate is None and self.is_down():
            return ChargeResult(ChargeStatus.UNAVAILABLE, failure_reason="provider_outage")
        outcome = simulate or self.default_outcome(idempotency_key=idempotency_key, amount=amount, currency=currency)
        if outcome in (TIMEOUT, OUTAGE):
            # Unavailable records nothing, but an earlier answer for this key still stands.
            existing = _recorded(model, idempotency_key)
            if existing is not None:
                return existing
            return ChargeResult(ChargeStatus.UNAVAILABLE, failure_reason=self._unavailable(outcome))
        declined = outcome == DECLINE
        record = model(
            idempotency_key=idempotency_key,
            amount=amount,
            currency=currency,
            outcome=model.Outcome.DECLINED if declined else succeeded,
            reference=_reference(prefix, idempotency_key),
            failure_reason=DECLINE_REASON if declined else "",
            # A charge takes the money now; an authorization's fee comes with its capture.
            fee=provider_fee(amount) if model is SimulatedCharge and not declined else 0,
            created_at=timezone.now(),
        )
        # One statement for a fresh key; only a key seen before is read back, and its first answer wins.
        columns = AUTHORIZATION_COLUMNS if model is Hold else CHARGE_COLUMNS
        if rows.insert_unless_conflict(record, columns, unique="idempotency_key"):
            return _attempt_result(record)
        return _recorded(model, idempotency_key)

    def charge(self, *, idempotency_key: str, amount: int, currency: str, simulate: str | None = None) -> ChargeResult:
        return self._attempt(SimulatedCharge, idempotency_key=idempotency_key, amount=amount, currency=currency,
                             simulate=simulate, succeeded=SimulatedCharge.Outcome.SUCCEEDED, prefix="sim_ch")

    def authorize(
        self, *, idempotency_key: str, amount: int, currency: str, simulate: str | None = None
    ) -> ChargeResult:
        return self._attempt(Hold, idempotency_key=idempotency_key, amount=amount, currency=currency,
                             simulate=simulate, succeeded=Hold.Outcome.AUTHORIZED, prefix="sim_au")

    def lookup(self, *, idempotency_key: str) -> ChargeResult | None:
        if self.is_down():
            return ChargeResult(ChargeStatus.UNAVAILABLE, failure_reason="provider_outage")
        return _recorded(SimulatedCharge, idempotency_key) or _recorded(Hold, idempotency_key)

    def capture(
        self, *, idempotency_key: str, authorization_reference: str, amount: int, simulate: str | None = None
    ) -> CaptureResult:
        return self._close(idempotency_key, authorization_reference, simulate, Hold.Closure.CAPTURED, amount)

    def void(self, *, idempotency_key: str, authorization_reference: str, simulate: str | None = None) -> CaptureResult:
        return self._close(idempotency_key, authorization_reference, simulate, Hold.Closure.VOIDED, None)

    def _close(self, idempotency_key: str, reference: str, simulate: str | None, closure: str,
               amount: int | None) -> CaptureResult:
        """Close the authorization `reference` once (captured or voided), or say how it was closed before."""
        if simulate is not None and simulate not in SIMULATIONS:
            raise ValueError(f"unknown simulation {simulate!r}")
        unavailable = simulate if simulate in (TIMEOUT, OUTAGE) else None
        if simulate is None and self.is_down():
            unavailable = OUTAGE
        if unavailable:
            # Unavailable records nothing, but an earlier answer for this key still stands.
            earlier = Hold.objects.filter(reference=reference, closed_by_key=idempotency_key).first()
            if earlier is not None:
                return _closure_result(earlier)
            return CaptureResult(CaptureStatus.UNAVAILABLE, failure_reason=self._unavailable(unavailable))
        # The compare-and-set: only an open hold of at least `amount` closes, so only one call closes it.
        Hold.objects.filter(
            reference=reference, outcome=Hold.Outcome.AUTHORIZED, closure=Hold.Closure.OPEN, amount__gte=amount or 0,
        ).update(closure=closure, captured_amount=amount, closed_by_key=idempotency_key, closed_at=timezone.now(),
                 fee=provider_fee(amount) if closure == Hold.Closure.CAPTURED else 0)
        hold = Hold.objects.filter(reference=reference).first()
        if hold is None or hold.outcome != Hold.Outcome.AUTHORIZED:
            return CaptureResult(CaptureStatus.REFUSED, failure_reason="authorization_not_found")
        if hold.closure == Hold.Closure.OPEN:
            return CaptureResult(CaptureStatus.REFUSED, failure_reason="capture_exceeds_authorization")
        return _closure_result(hold)

    def refund(self, *, idempotency_key: str, charge_reference: str, amount: int) -> RefundResult:
        if self.is_down():
            return RefundResult(RefundOutcome.UNAVAILABLE, failure_reason="provider_outage")
        existing = SimulatedRefund.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return RefundResult(RefundOutcome.SUCCEEDED, existing.reference)
        # What the provider took under that reference: a charge, or the capture of an authorization.
        taken = (
            SimulatedCharge.objects.filter(reference=charge_reference, outcome=SimulatedCharge.Outcome.SUCCEEDED)
            .values_list("amount", flat=True).first()
            or Hold.objects.filter(reference=charge_reference, closure=Hold.Closure.CAPTURED)
            .values_list("captured_amount", flat=True).first()
        )
        if taken is None:
            return RefundResult(RefundOutcome.FAILED, failure_reason="charge_not_found")
        refunded = (
            SimulatedRefund.objects.filter(charge_reference=charge_reference).aggregate(total=Sum("amount"))["total"]
            or 0
        )
        if refunded + amount > taken:
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

    def settlement_report(self, *, day: date) -> list[SettledItem]:
        """Return every charge and capture taken and every refund sent on the UTC day `day`, oldest first."""
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        within = {"gte": start, "lt": start + timedelta(days=1)}

        def on_day(field: str) -> dict:
            return {f"{field}__{op}": moment for op, moment in within.items()}

        items = [
            SettledItem(c.reference, SettledType.CHARGE, c.amount, c.currency, c.fee, c.created_at)
            for c in SimulatedCharge.objects.filter(outcome=SimulatedCharge.Outcome.SUCCEEDED, **on_day("created_at"))
        ]
        items += [
            SettledItem(h.reference, SettledType.CHARGE, h.captured_amount, h.currency, h.fee, h.closed_at)
            for h in Hold.objects.filter(closure=Hold.Closure.CAPTURED, **on_day("closed_at"))
        ]
        refunds = list(SimulatedRefund.objects.filter(**on_day("created_at")))
        # A refund is in the currency of what it refunds: a charge, or a captured authorization.
        taken = {refund.charge_reference for refund in refunds}
        currency_of = dict(SimulatedCharge.objects.filter(reference__in=taken).values_list("reference", "currency"))
        currency_of |= dict(Hold.objects.filter(reference__in=taken).values_list("reference", "currency"))
        items += [
            SettledItem(r.reference, SettledType.REFUND, r.amount, currency_of[r.charge_reference], 0, r.created_at)
            for r in refunds
        ]
        return sorted(items, key=lambda item: (item.settled_at, item.provider_reference))
