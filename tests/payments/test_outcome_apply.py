"""payment_outcome_apply: the one door for the provider's later word (webhooks, operators, expiry)."""

import pytest

from payments import services
from payments.models import Order, Payment, PaymentConfirmation, PaymentStatus

from ..ledger.invariants import assert_ledger_consistent
from .helpers import checkout, create_order, payment_transactions, pending_order_id

pytestmark = pytest.mark.django_db


def apply(order_id, outcome, **kwargs) -> str:
    order, result = services.payment_outcome_apply(order_id=order_id, outcome=outcome,
                                                   **{"source": "operator", **kwargs})
    assert order.status == Order.objects.get(pk=order_id).status  # the order as it left it
    return result


def test_an_operator_marking_a_pending_order_paid_books_it_once_and_is_recorded(api):
    order_id = pending_order_id(api, amount=2_000)

    first = apply(order_id, "PAID", actor="ops-ann", note="Provider dashboard shows the charge")
    second = apply(order_id, "PAID", actor="ops-bob")

    assert (first, second) == ("applied", "ignored_already_paid")
    assert Order.objects.get(pk=order_id).status == "PAID"
    (txn,) = payment_transactions(order_id)
    assert txn.reference == f"payment:{Payment.objects.get(order_id=order_id).id}"
    records = list(PaymentConfirmation.objects.order_by("created_at").values_list(
        "source", "actor", "note", "result", "status_before", "status_after"))
    assert records == [
        ("operator", "ops-ann", "Provider dashboard shows the charge", "applied", "PENDING_PAYMENT", "PAID"),
        ("operator", "ops-bob", "", "ignored_already_paid", "PAID", "PAID"),
    ]
    assert_ledger_consistent()


def test_an_operator_marking_a_pending_order_failed_fails_it_and_its_payment(api):
    order_id = pending_order_id(api)

    result = apply(order_id, "FAILED", actor="ops-ann", note="Buyer cancelled")

    assert result == "applied"
    order = Order.objects.get(pk=order_id)
    assert (order.status, order.failure_reason) == ("FAILED", "operator_marked_failed")
    assert Payment.objects.get(order_id=order_id).status == PaymentStatus.FAILED
    assert apply(order_id, "FAILED") == "ignored_already_failed"
    assert payment_transactions(order_id) == []


def test_nothing_applies_to_an_order_that_was_never_attempted(api):
    order = create_order(api)

    assert apply(order["id"], "PAID") == "ignored_not_pending"
    assert apply(order["id"], "FAILED") == "ignored_not_pending"
    assert Order.objects.get(pk=order["id"]).status == "CREATED"


def test_a_late_paid_while_a_new_attempt_is_charging_is_not_applied(api):
    failed = checkout(api, simulate="outage", buyer_trust="new").json()
    services.payment_attempt_begin(order_id=failed["order_id"], idempotency_key="second-try")

    result = apply(failed["order_id"], "PAID", source="webhook")

    assert result == "ignored_payment_in_progress"
    assert Order.objects.get(pk=failed["order_id"]).status == "FAILED"
    assert payment_transactions(failed["order_id"]) == []


@pytest.mark.parametrize(("outcome", "source"), [("SUCCEEDED", "operator"), ("PAID", "martian")])
def test_an_unknown_outcome_or_source_is_a_programming_error(api, outcome, source):
    order_id = pending_order_id(api)

    with pytest.raises(ValueError):
        apply(order_id, outcome, source=source)
    assert PaymentConfirmation.objects.count() == 0
