"""The simulated provider's authorizations: one answer per key, closed once by a capture or a void."""

import pytest
from django.test import override_settings

from payments.models import SimulatedAuthorization, SimulatedRefund
from payments.providers import CaptureStatus, ChargeStatus, RefundOutcome
from payments.providers.simulator import SimulatedProvider

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider():
    return SimulatedProvider()


@pytest.fixture
def hold(provider):
    """An authorization of 1,000 USD: its reference."""
    result = provider.authorize(idempotency_key="payment:a", amount=1_000, currency="USD")
    assert result.status == ChargeStatus.AUTHORIZED
    return result.reference


def test_authorizing_the_same_key_twice_returns_the_first_answer(provider):
    first = provider.authorize(idempotency_key="k", amount=100, currency="USD", simulate="decline")
    second = provider.authorize(idempotency_key="k", amount=100, currency="USD", simulate="success")

    assert first == second
    assert (first.status, first.failure_reason) == (ChargeStatus.DECLINED, "card_declined")
    assert SimulatedAuthorization.objects.count() == 1
    assert provider.lookup(idempotency_key="k") == first


def test_an_authorization_has_a_reference_derived_from_its_key_and_is_looked_up_like_a_charge(provider, hold):
    assert hold.startswith("sim_au_")
    assert provider.lookup(idempotency_key="payment:a").reference == hold
    assert SimulatedProvider().authorize(idempotency_key="payment:a", amount=1_000, currency="USD").reference == hold


def test_an_outage_records_no_authorization_and_the_key_may_authorize_later(provider):
    assert provider.authorize(idempotency_key="k", amount=1, currency="USD", simulate="outage").status == (
        ChargeStatus.UNAVAILABLE)
    assert provider.lookup(idempotency_key="k") is None
    assert provider.authorize(idempotency_key="k", amount=1, currency="USD").status == ChargeStatus.AUTHORIZED


@override_settings(MINTGUARD_SIMULATOR_DECLINE_RATE=1.0)
def test_authorizations_draw_their_outcome_from_the_rates_like_charges(provider):
    assert provider.authorize(idempotency_key="k", amount=1, currency="USD").status == ChargeStatus.DECLINED


def test_a_capture_takes_part_of_the_hold_once_and_every_later_close_says_so(provider, hold):
    captured = provider.capture(idempotency_key="capture:a", authorization_reference=hold, amount=600)
    again = provider.capture(idempotency_key="capture:a", authorization_reference=hold, amount=1_000)
    other_key = provider.capture(idempotency_key="capture:b", authorization_reference=hold, amount=100)
    void = provider.void(idempotency_key="void:a", authorization_reference=hold)

    assert (captured.status, captured.amount, captured.reference) == (CaptureStatus.CAPTURED, 600, hold)
    assert captured == again == other_key == void
    row = SimulatedAuthorization.objects.get()
    assert (row.closure, row.captured_amount, row.closed_by_key) == ("captured", 600, "capture:a")


def test_a_void_releases_the_hold_once_and_a_later_capture_learns_it(provider, hold):
    voided = provider.void(idempotency_key="void:a", authorization_reference=hold)
    late = provider.capture(idempotency_key="capture:a", authorization_reference=hold, amount=1)

    assert voided == late and voided.status == CaptureStatus.VOIDED
    assert SimulatedAuthorization.objects.get().captured_amount is None


def test_a_capture_above_the_hold_or_of_an_unknown_authorization_is_refused_and_closes_nothing(provider, hold):
    over = provider.capture(idempotency_key="capture:a", authorization_reference=hold, amount=1_001)
    unknown = provider.capture(idempotency_key="capture:x", authorization_reference="sim_au_nope", amount=1)

    assert (over.status, over.failure_reason) == (CaptureStatus.REFUSED, "capture_exceeds_authorization")
    assert (unknown.status, unknown.failure_reason) == (CaptureStatus.REFUSED, "authorization_not_found")
    assert SimulatedAuthorization.objects.get().closure == ""


@pytest.mark.parametrize("simulate", ["outage", "timeout"])
@override_settings(MINTGUARD_PROVIDER_TIMEOUT=0.01)
def test_a_forced_outage_leaves_the_hold_open_but_repeats_an_earlier_answer(provider, hold, simulate):
    down = provider.capture(idempotency_key="capture:a", authorization_reference=hold, amount=5, simulate=simulate)
    assert down.status == CaptureStatus.UNAVAILABLE
    assert SimulatedAuthorization.objects.get().closure == ""

    captured = provider.capture(idempotency_key="capture:a", authorization_reference=hold, amount=5)
    assert provider.capture(idempotency_key="capture:a", authorization_reference=hold, amount=5,
                            simulate=simulate) == captured


def test_decline_changes_nothing_for_a_capture_and_the_drawn_rates_never_fail_one(provider, hold):
    with override_settings(MINTGUARD_SIMULATOR_DECLINE_RATE=0.5, MINTGUARD_SIMULATOR_OUTAGE_RATE=0.5):
        result = provider.capture(idempotency_key="capture:a", authorization_reference=hold, amount=10,
                                  simulate="decline")
    assert result.status == CaptureStatus.CAPTURED


@override_settings(MINTGUARD_SIMULATOR_OUTAGE=True)
def test_a_provider_down_answers_captures_and_voids_unavailable(provider):
    with override_settings(MINTGUARD_SIMULATOR_OUTAGE=False):
        reference = provider.authorize(idempotency_key="payment:a", amount=10, currency="USD").reference

    assert provider.capture(idempotency_key="c", authorization_reference=reference, amount=1).status == (
        CaptureStatus.UNAVAILABLE)
    assert provider.void(idempotency_key="v", authorization_reference=reference).status == CaptureStatus.UNAVAILABLE
    # the most specific instruction wins, as for charges
    assert provider.void(idempotency_key="v", authorization_reference=reference, simulate="success").status == (
        CaptureStatus.VOIDED)


def test_refunds_of_a_captured_authorization_are_capped_by_what_was_captured(provider, hold):
    provider.capture(idempotency_key="capture:a", authorization_reference=hold, amount=600)

    first = provider.refund(idempotency_key="refund:1", charge_reference=hold, amount=600)
    over = provider.refund(idempotency_key="refund:2", charge_reference=hold, amount=1)

    assert first.status == RefundOutcome.SUCCEEDED and first.reference.startswith("sim_re_")
    assert (over.status, over.failure_reason) == (RefundOutcome.FAILED, "refund_exceeds_charge")
    assert SimulatedRefund.objects.count() == 1


def test_an_authorization_never_captured_cannot_be_refunded(provider, hold):
    assert provider.refund(idempotency_key="refund:1", charge_reference=hold, amount=1).failure_reason == (
        "charge_not_found")
