"""The simulated provider behaves like a real one: one answer per key, unavailable leaves no trace."""

import time

import pytest
from django.test import override_settings

from payments.models import SimulatedCharge, SimulatedRefund
from payments.providers import ChargeStatus, RefundOutcome, get_provider
from payments.providers.base import ChargeResult, PaymentProvider
from payments.providers.simulator import SimulatedProvider

from .helpers import create_order, pay

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider():
    return SimulatedProvider()


def test_the_simulator_is_the_default_provider():
    assert isinstance(get_provider(), SimulatedProvider)


def test_charging_the_same_key_twice_returns_the_first_answer(provider):
    first = provider.charge(idempotency_key="k", amount=100, currency="USD", simulate="decline")
    second = provider.charge(idempotency_key="k", amount=100, currency="USD", simulate="success")

    assert first == second
    assert first.status == ChargeStatus.DECLINED and first.failure_reason == "card_declined"
    assert SimulatedCharge.objects.count() == 1
    assert provider.lookup(idempotency_key="k") == first


def test_the_default_outcome_is_success_with_a_reference_derived_from_the_key(provider):
    result = provider.charge(idempotency_key="k-1", amount=100, currency="USD")
    assert result.status == ChargeStatus.SUCCEEDED
    assert result.reference == SimulatedProvider().lookup(idempotency_key="k-1").reference
    assert result.reference.startswith("sim_ch_")


def test_an_outage_answers_unavailable_at_once_and_records_nothing(provider):
    result = provider.charge(idempotency_key="k", amount=100, currency="USD", simulate="outage")
    assert result.status == ChargeStatus.UNAVAILABLE
    assert provider.lookup(idempotency_key="k") is None
    # the provider never saw it, so the same key may still be charged later
    assert provider.charge(idempotency_key="k", amount=100, currency="USD").status == ChargeStatus.SUCCEEDED


@override_settings(MINTGUARD_PROVIDER_TIMEOUT=0.2)
def test_a_timeout_waits_out_the_configured_timeout_then_answers_unavailable(provider):
    started = time.monotonic()
    result = provider.charge(idempotency_key="k", amount=100, currency="USD", simulate="timeout")
    assert time.monotonic() - started >= 0.2
    assert result.status == ChargeStatus.UNAVAILABLE
    assert SimulatedCharge.objects.count() == 0


def test_refunds_are_once_per_key_and_never_exceed_the_charge(provider):
    charge = provider.charge(idempotency_key="c", amount=100, currency="USD")

    first = provider.refund(idempotency_key="r1", charge_reference=charge.reference, amount=60)
    again = provider.refund(idempotency_key="r1", charge_reference=charge.reference, amount=60)
    too_much = provider.refund(idempotency_key="r2", charge_reference=charge.reference, amount=41)
    unknown = provider.refund(idempotency_key="r3", charge_reference="sim_ch_nope", amount=1)

    assert first == again and first.status == RefundOutcome.SUCCEEDED
    assert too_much.status == RefundOutcome.FAILED and too_much.failure_reason == "refund_exceeds_charge"
    assert unknown.status == RefundOutcome.FAILED
    assert SimulatedRefund.objects.count() == 1


def test_a_booked_refund_is_sent_to_the_provider_after_commit(api, django_capture_on_commit_callbacks):
    from payments.models import Refund

    from .helpers import paid_order, refund

    order = paid_order(api, amount=1000)
    with django_capture_on_commit_callbacks(execute=True):
        response = refund(api, order["id"], amount=400)

    assert response.status_code == 201
    sent = Refund.objects.get()
    assert sent.provider_reference.startswith("sim_re_")
    assert SimulatedRefund.objects.get().amount == 400


class RecordingProvider(PaymentProvider):
    """A stand-in for a real provider: never steered by request headers."""

    calls: list = []

    def charge(self, *, idempotency_key, amount, currency, simulate=None):
        self.calls.append(simulate)
        return ChargeResult(ChargeStatus.SUCCEEDED, f"real_{idempotency_key}")

    def lookup(self, *, idempotency_key):
        return None

    def refund(self, *, idempotency_key, charge_reference, amount):
        raise NotImplementedError


def test_a_real_provider_ignores_the_simulation_header(api, settings):
    settings.MINTGUARD_PAYMENT_PROVIDER = "tests.payments.test_simulator.RecordingProvider"
    RecordingProvider.calls.clear()
    order = create_order(api)

    response = pay(api, order["id"], simulate="decline")

    assert response.json()["payment"]["status"] == "SUCCEEDED"
    assert RecordingProvider.calls == [None]
    assert SimulatedCharge.objects.count() == 0


# --- configurable, seeded behaviour ------------------------------------------------------------


def outcomes(keys, **settings_overrides) -> list[str]:
    with override_settings(**settings_overrides):
        provider = SimulatedProvider()
        return [provider.default_outcome(idempotency_key=key, amount=100, currency="USD") for key in keys]


KEYS = [f"payment:{n}" for n in range(1_000)]


def test_the_same_seed_and_key_always_draw_the_same_outcome():
    rates = {"MINTGUARD_SIMULATOR_DECLINE_RATE": 0.5, "MINTGUARD_SIMULATOR_SEED": "s1"}

    first, second = outcomes(KEYS[:200], **rates), outcomes(KEYS[:200], **rates)
    reseeded = outcomes(KEYS[:200], **{**rates, "MINTGUARD_SIMULATOR_SEED": "s2"})

    assert first == second
    assert first != reseeded  # another seed deals other cards


def test_the_draw_does_not_depend_on_the_process():
    # sha256 of seed and key, not Python's per-process salted hash(): a pinned value proves it
    from payments.providers.simulator import outcome_draw

    assert outcome_draw(seed="mintguard", idempotency_key="payment:1") == pytest.approx(0.5164918, abs=1e-6)


def test_a_decline_rate_of_30_percent_declines_about_30_percent_of_1000_charges():
    drawn = outcomes(KEYS, MINTGUARD_SIMULATOR_DECLINE_RATE=0.3, MINTGUARD_SIMULATOR_SEED="rates")

    assert 260 <= drawn.count("decline") <= 340
    assert drawn.count("success") == 1_000 - drawn.count("decline")


def test_outage_timeout_and_decline_rates_split_the_charges_between_them():
    drawn = outcomes(KEYS, MINTGUARD_SIMULATOR_OUTAGE_RATE=0.1, MINTGUARD_SIMULATOR_TIMEOUT_RATE=0.2,
                     MINTGUARD_SIMULATOR_DECLINE_RATE=0.3, MINTGUARD_SIMULATOR_SEED="split")

    assert 70 <= drawn.count("outage") <= 130
    assert 160 <= drawn.count("timeout") <= 240
    assert 250 <= drawn.count("decline") <= 350
    assert 340 <= drawn.count("success") <= 460


def test_with_no_rates_every_charge_succeeds():
    assert set(outcomes(KEYS)) == {"success"}


@override_settings(MINTGUARD_SIMULATOR_DECLINE_RATE=1.0)
def test_a_rate_from_settings_decides_an_api_payment(api):
    order = create_order(api)

    response = pay(api, order["id"])

    assert response.json()["payment"]["status"] == "FAILED"
    assert response.json()["payment"]["failure_reason"] == "card_declined"


@override_settings(MINTGUARD_SIMULATOR_TIMEOUT_RATE=1.0, MINTGUARD_PROVIDER_TIMEOUT=0.1)
def test_a_timeout_rate_makes_real_waits(provider):
    started = time.monotonic()
    result = provider.charge(idempotency_key="slow", amount=100, currency="USD")

    assert time.monotonic() - started >= 0.1
    assert result.status == ChargeStatus.UNAVAILABLE


@override_settings(MINTGUARD_SIMULATOR_OUTAGE=True)
def test_a_forced_outage_takes_charges_lookups_and_refunds_down(provider):
    assert provider.charge(idempotency_key="k", amount=100, currency="USD").status == ChargeStatus.UNAVAILABLE
    assert provider.lookup(idempotency_key="k").status == ChargeStatus.UNAVAILABLE
    assert provider.refund(idempotency_key="r", charge_reference="x", amount=1).status == RefundOutcome.UNAVAILABLE
    # a request's header is the most specific instruction and still wins
    assert provider.charge(idempotency_key="k", amount=100, currency="USD", simulate="success").status == "succeeded"
    assert SimulatedCharge.objects.count() == 1
