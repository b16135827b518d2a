"""Every payments constraint refuses a bad row by itself, on SQLite and on PostgreSQL.

The services check each rule first; these tests bypass them (raw ORM writes on rows the factories
made through the services) to prove that the database is the last word. Each test is named after
the constraint it hits, and the refusal must name that constraint.
"""

import uuid

import pytest
from django.utils import timezone

from ledger.models import Transaction
from ledger.services import deposit
from payments.models import (
    Order,
    Payment,
    PaymentConfirmation,
    PaymentStatus,
    Refund,
    SimulatedAuthorization,
    SimulatedCharge,
    SimulatedRefund,
    WebhookEvent,
)
from payments.services import order_capture, payment_attempt_begin
from payments.webhooks import REFUSED_BODY_PREFIX

from ..constraints import constraints_without_a_test, refused_by
from ..ledger.factories import AccountFactory
from .factories import AuthorizationFactory, OrderFactory, PaymentFactory, RefundFactory

pytestmark = pytest.mark.django_db


def raw_order(**fields) -> Order:
    return Order.objects.create(**{"owner": "client-a", "user_id": "buyer", "amount": 4_800, "currency": "USD",
                                   **fields})


def raw_payment(order: Order, **fields) -> Payment:
    return Payment.objects.create(**{"order": order, "amount": order.amount, "idempotency_key": "raw",
                                     "status": PaymentStatus.FAILED, **fields})


def another_booking() -> Transaction:
    """A real, balanced ledger transaction that no payment or refund carries yet."""
    return deposit(account_id=AccountFactory().id, amount=1, reference=f"booking-{uuid.uuid4()}", owner="client-a")


# --- orders --------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [0, -4_800])
def test_payments_order_amount_positive(amount):
    with refused_by(Order, "payments_order_amount_positive"):
        raw_order(amount=amount)


def test_payments_order_checkout_key_unique():
    OrderFactory(owner="client-a", checkout_key="checkout-1")
    with refused_by(Order, "payments_order_checkout_key_unique"):
        raw_order(owner="client-a", checkout_key="checkout-1")
    # another owner's key, and orders made outside a checkout (no key), are not the same
    assert raw_order(owner="client-b", checkout_key="checkout-1").checkout_key == "checkout-1"
    assert raw_order().checkout_key is raw_order().checkout_key is None


@pytest.mark.parametrize("refunded", [-1, 4_801])
def test_payments_order_refunded_within_paid(refunded):
    order = PaymentFactory(order__amount=4_800).order
    with refused_by(Order, "payments_order_refunded_within_paid"):
        Order.objects.filter(pk=order.pk).update(refunded_amount=refunded)
    assert Order.objects.get(pk=order.pk).refunded_amount == 0


def test_payments_order_refunded_within_paid_measures_a_partial_capture():
    # given 3,000 captured of an order of 4,800
    order = AuthorizationFactory(order__amount=4_800).order
    order_capture(order_id=order.pk, amount=3_000)
    # then refunding more than was captured is refused, though the order's amount would allow it
    with refused_by(Order, "payments_order_refunded_within_paid"):
        Order.objects.filter(pk=order.pk).update(refunded_amount=3_001)
    assert Order.objects.filter(pk=order.pk).update(refunded_amount=3_000) == 1


@pytest.mark.parametrize(("status", "paid"), [("PAID", 0), ("PAID", 4_801), ("REFUNDED", 4_801), ("AUTHORIZED", 1),
                                              ("CREATED", 4_800)])
def test_payments_order_paid_within_amount(status, paid):
    order = PaymentFactory(order__amount=4_800).order
    with refused_by(Order, "payments_order_paid_within_amount"):
        Order.objects.filter(pk=order.pk).update(status=status, paid_amount=paid)
    assert Order.objects.get(pk=order.pk).paid_amount == 4_800


def test_payments_order_status_valid():
    order = OrderFactory()
    with refused_by(Order, "payments_order_status_valid"):
        Order.objects.filter(pk=order.pk).update(status="SHIPPED")
    assert Order.objects.get(pk=order.pk).status == "CREATED"


def test_payments_order_buyer_trust_valid():
    order = OrderFactory()
    with refused_by(Order, "payments_order_buyer_trust_valid"):
        Order.objects.filter(pk=order.pk).update(buyer_trust="vip")


# --- payments ------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [0, -1])
def test_payments_payment_amount_positive(amount):
    with refused_by(Payment, "payments_payment_amount_positive"):
        raw_payment(OrderFactory(), amount=amount)


def test_payments_payment_status_valid():
    declined = PaymentFactory(simulate="decline")
    with refused_by(Payment, "payments_payment_status_valid"):
        Payment.objects.filter(pk=declined.pk).update(status="REFUNDED")


def test_payments_payment_key_unique():
    # given a declined attempt under the client's key "pay-1"
    declined = PaymentFactory(idempotency_key="pay-1", simulate="decline")
    # then a second attempt of that order under that key is refused; under another key it is not
    with refused_by(Payment, "payments_payment_key_unique"):
        raw_payment(declined.order, idempotency_key="pay-1")
    assert raw_payment(declined.order, idempotency_key="pay-2").status == PaymentStatus.FAILED


def test_payments_payment_one_success():
    paid = PaymentFactory()
    assert paid.status == PaymentStatus.SUCCEEDED
    with refused_by(Payment, "payments_payment_one_success"):
        raw_payment(paid.order, idempotency_key="charge-again", status=PaymentStatus.SUCCEEDED,
                    ledger_transaction=another_booking(), captured_amount=paid.amount)
    assert Payment.objects.filter(order=paid.order).count() == 1


@pytest.mark.parametrize("status", [PaymentStatus.PROCESSING, PaymentStatus.PENDING])
def test_payments_payment_one_in_flight(status):
    order = OrderFactory()
    processing, _ = payment_attempt_begin(order_id=order.id, idempotency_key="first")
    assert processing.status == PaymentStatus.PROCESSING
    with refused_by(Payment, "payments_payment_one_in_flight"):
        raw_payment(order, idempotency_key="second", status=status)


@pytest.mark.parametrize("status", [PaymentStatus.PROCESSING, PaymentStatus.AUTHORIZED, PaymentStatus.VOIDING])
def test_payments_payment_one_in_flight_counts_a_live_authorization(status):
    authorization = AuthorizationFactory()
    assert authorization.status == PaymentStatus.AUTHORIZED
    with refused_by(Payment, "payments_payment_one_in_flight"):
        raw_payment(authorization.order, idempotency_key="second", status=status, kind="authorization",
                    authorized_at=timezone.now())


def test_payments_payment_succeeded_is_booked_refuses_a_success_without_its_booking():
    processing, _ = payment_attempt_begin(order_id=OrderFactory().id, idempotency_key="first")
    with refused_by(Payment, "payments_payment_succeeded_is_booked"):
        Payment.objects.filter(pk=processing.pk).update(status=PaymentStatus.SUCCEEDED, captured_amount=4_800)


def test_payments_payment_succeeded_is_booked_refuses_a_booking_on_a_failed_payment():
    declined = PaymentFactory(simulate="decline")
    with refused_by(Payment, "payments_payment_succeeded_is_booked"):
        Payment.objects.filter(pk=declined.pk).update(ledger_transaction=another_booking())


@pytest.mark.parametrize("captured", [None, 0, 4_801])
def test_payments_payment_captured_within_amount(captured):
    paid = PaymentFactory(order__amount=4_800)
    assert paid.captured_amount == 4_800
    with refused_by(Payment, "payments_payment_captured_within_amount"):
        Payment.objects.filter(pk=paid.pk).update(captured_amount=captured)


def test_payments_payment_captured_within_amount_refuses_an_amount_on_a_payment_that_took_nothing():
    declined = PaymentFactory(simulate="decline")
    with refused_by(Payment, "payments_payment_captured_within_amount"):
        Payment.objects.filter(pk=declined.pk).update(captured_amount=1)


def test_payments_payment_kind_valid():
    declined = PaymentFactory(simulate="decline")
    with refused_by(Payment, "payments_payment_kind_valid"):
        Payment.objects.filter(pk=declined.pk).update(kind="layaway")


@pytest.mark.parametrize("change", [{"kind": "charge"}, {"authorized_at": None}])
def test_payments_payment_authorization_statuses(change):
    authorization = AuthorizationFactory()
    with refused_by(Payment, "payments_payment_authorization_statuses"):
        Payment.objects.filter(pk=authorization.pk).update(**change)
    # a charge never reaches an authorization's statuses
    with refused_by(Payment, "payments_payment_authorization_statuses"):
        Payment.objects.filter(pk=PaymentFactory(simulate="decline").pk).update(status=PaymentStatus.VOIDED)


# --- refunds -------------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [0, -1])
def test_payments_refund_amount_positive(amount):
    paid = PaymentFactory()
    with refused_by(Refund, "payments_refund_amount_positive"):
        Refund.objects.create(order=paid.order, payment=paid, amount=amount, created_by="client-a",
                              ledger_transaction=another_booking())


def test_payments_refund_status_valid():
    refund = RefundFactory(amount=100)
    with refused_by(Refund, "payments_refund_status_valid"):
        Refund.objects.filter(pk=refund.pk).update(status="REVERSED")


def test_payments_refund_key_unique():
    # given a refund under the caller's key "r-1"
    refund = RefundFactory(amount=100, created_by="client-a", idempotency_key="r-1")

    def second_refund(**fields) -> Refund:
        return Refund.objects.create(**{"order": refund.order, "payment": refund.payment, "amount": 100,
                                        "ledger_transaction": another_booking(), **fields})

    # then the same caller's key is refused; another caller's same key is not
    with refused_by(Refund, "payments_refund_key_unique"):
        second_refund(created_by="client-a", idempotency_key="r-1")
    assert second_refund(created_by="operator:1", idempotency_key="r-1").idempotency_key == "r-1"


# --- the simulated provider ----------------------------------------------------------------


def test_payments_simcharge_amount_positive():
    with refused_by(SimulatedCharge, "payments_simcharge_amount_positive"):
        SimulatedCharge.objects.create(idempotency_key="payment:1", amount=0, currency="USD",
                                       outcome=SimulatedCharge.Outcome.SUCCEEDED, reference="sim_ch_1")


def test_payments_simauth_amount_positive():
    with refused_by(SimulatedAuthorization, "payments_simauth_amount_positive"):
        SimulatedAuthorization.objects.create(idempotency_key="payment:1", amount=0, currency="USD",
                                              outcome="authorized", reference="sim_au_1")


@pytest.mark.parametrize("closed", [
    {"closure": "captured", "captured_amount": 0}, {"closure": "captured", "captured_amount": 1_001},
    {"closure": "captured", "captured_amount": None}, {"closure": "voided", "captured_amount": 5},
    {"closure": "", "captured_amount": 5},
])
def test_payments_simauth_closed_within_amount(closed):
    hold = SimulatedAuthorization.objects.create(idempotency_key="payment:1", amount=1_000, currency="USD",
                                                 outcome="authorized", reference="sim_au_1")
    with refused_by(SimulatedAuthorization, "payments_simauth_closed_within_amount"):
        SimulatedAuthorization.objects.filter(pk=hold.pk).update(**closed)
    # a declined authorization never closes
    declined = SimulatedAuthorization.objects.create(idempotency_key="payment:2", amount=1_000, currency="USD",
                                                     outcome="declined", reference="sim_au_2")
    with refused_by(SimulatedAuthorization, "payments_simauth_closed_within_amount"):
        SimulatedAuthorization.objects.filter(pk=declined.pk).update(closure="voided")


def test_payments_simcharge_fee_not_negative():
    with refused_by(SimulatedCharge, "payments_simcharge_fee_not_negative"):
        SimulatedCharge.objects.create(idempotency_key="payment:1", amount=1_000, currency="USD", fee=-1,
                                       outcome=SimulatedCharge.Outcome.SUCCEEDED, reference="sim_ch_1")


def test_payments_simauth_fee_not_negative():
    with refused_by(SimulatedAuthorization, "payments_simauth_fee_not_negative"):
        SimulatedAuthorization.objects.create(idempotency_key="payment:1", amount=1_000, currency="USD", fee=-1,
                                              outcome="authorized", reference="sim_au_1")


def test_payments_simrefund_amount_positive():
    with refused_by(SimulatedRefund, "payments_simrefund_amount_positive"):
        SimulatedRefund.objects.create(idempotency_key="refund:1", charge_reference="sim_ch_1", amount=0,
                                       reference="sim_re_1")


# --- confirmations and webhooks ------------------------------------------------------------


def confirmation(**fields) -> PaymentConfirmation:
    return PaymentConfirmation.objects.create(**{
        "order": OrderFactory(), "outcome": "PAID", "source": "webhook", "result": "applied",
        "status_before": "PENDING_PAYMENT", "status_after": "PAID", **fields,
    })


def test_payments_confirmation_outcome_valid():
    assert confirmation().outcome == "PAID"
    with refused_by(PaymentConfirmation, "payments_confirmation_outcome_valid"):
        confirmation(outcome="MAYBE")


def test_payments_confirmation_source_valid():
    with refused_by(PaymentConfirmation, "payments_confirmation_source_valid"):
        confirmation(source="email")


def test_payments_webhook_event_once():
    WebhookEvent.objects.create(event_id="evt_1", result="applied")
    with refused_by(WebhookEvent, "payments_webhook_event_once"):
        WebhookEvent.objects.create(event_id="evt_1", result="applied")
    # its later deliveries are stored as duplicates, and unsigned ones carry no event id
    assert WebhookEvent.objects.create(event_id="evt_1", is_duplicate=True, result="duplicate").is_duplicate
    assert [WebhookEvent.objects.create(result="rejected_signature").event_id for _ in range(2)] == ["", ""]


def test_payments_webhook_result_valid():
    with refused_by(WebhookEvent, "payments_webhook_result_valid"):
        WebhookEvent.objects.create(event_id="evt_1", result="lost")


def test_payments_webhook_refused_body_bounded():
    prefix = "x" * REFUSED_BODY_PREFIX
    assert WebhookEvent.objects.create(result="rejected_signature", body=prefix).body == prefix
    with refused_by(WebhookEvent, "payments_webhook_refused_body_bounded"):
        WebhookEvent.objects.create(result="rejected_signature", body=prefix + "x")
    # a delivery that passed the signature check keeps its whole body
    assert WebhookEvent.objects.create(event_id="evt_2", result="applied", body=prefix + "x").body == prefix + "x"


def test_every_payments_constraint_has_a_test_named_after_it():
    models = (Order, Payment, Refund, SimulatedCharge, SimulatedRefund, SimulatedAuthorization, PaymentConfirmation,
              WebhookEvent)
    assert constraints_without_a_test(*models, tests=globals()) == []
