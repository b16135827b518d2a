"""Authorize now, capture later, over HTTP: authorize, capture (all or part), void, and every refusal."""

import pytest

from ledger.models import Posting, Transaction
from payments.models import (
    Order,
    Payment,
    PaymentStatus,
    Refund,
    SimulatedAuthorization,
    SimulatedCharge,
    SimulatedRefund,
)
from payments.providers import get_provider

from ..ledger.invariants import assert_ledger_consistent
from .helpers import (
    authorize,
    authorized_order,
    capture,
    create_order,
    new_key,
    paid_order,
    pay,
    payment_transactions,
    refund,
    refund_transactions,
    send_webhook,
    void,
)

pytestmark = pytest.mark.django_db


def legs(transaction: Transaction) -> list[tuple[str, str, int]]:
    return sorted((p.account.name, p.direction, p.amount) for p in transaction.postings.select_related("account"))


def problem_code(response) -> tuple[int, str]:
    return response.status_code, response.json()["code"]


# --- authorize ---------------------------------------------------------------------------


def test_authorize_holds_the_funds_and_books_nothing(api):
    order = create_order(api, amount=1_200)
    transactions_before = Transaction.objects.count()

    response = authorize(api, order["id"])

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["order"]["status"], body["order"]["paid_amount"], body["order"]["refunded_amount"]) == (
        "AUTHORIZED", 0, 0)
    assert (body["payment"]["status"], body["payment"]["amount"]) == ("AUTHORIZED", 1_200)
    assert body["payment"]["provider_reference"].startswith("sim_au_")
    assert body["payment"]["failure_reason"] is None
    assert Transaction.objects.count() == transactions_before
    hold = SimulatedAuthorization.objects.get()
    assert (hold.amount, hold.outcome, hold.closure) == (1_200, "authorized", "")
    assert SimulatedCharge.objects.count() == 0
    assert api.get(f"/api/v1/orders/{order['id']}/ledger").json()["entries"] == []


def test_authorize_replayed_with_the_same_key_returns_identical_bytes_and_authorizes_once(api):
    order = create_order(api)
    key = new_key()

    first, replay = authorize(api, order["id"], key=key), authorize(api, order["id"], key=key)

    assert first.status_code == replay.status_code == 201
    assert replay.content == first.content and replay["Idempotent-Replayed"] == "true"
    assert Payment.objects.filter(order_id=order["id"]).count() == 1
    assert SimulatedAuthorization.objects.count() == 1


def test_authorize_without_an_idempotency_key_is_400(api):
    order = create_order(api)

    response = api.post(f"/api/v1/orders/{order['id']}/authorize", {}, format="json")

    assert problem_code(response) == (400, "idempotency_key_missing")
    assert Payment.objects.count() == 0


def test_a_declined_authorization_is_201_failed_and_the_order_can_be_authorized_again(api):
    order = create_order(api, amount=1_200)

    declined = authorize(api, order["id"], simulate="decline")

    assert declined.status_code == 201
    body = declined.json()
    assert (body["order"]["status"], body["payment"]["status"], body["payment"]["failure_reason"]) == (
        "FAILED", "FAILED", "card_declined")
    again = authorize(api, order["id"])
    assert again.status_code == 201 and again.json()["order"]["status"] == "AUTHORIZED"
    assert sorted(Payment.objects.filter(order_id=order["id"]).values_list("status", flat=True)) == [
        "AUTHORIZED", "FAILED"]
    assert Transaction.objects.filter(kind="payment").count() == 0


@pytest.mark.parametrize("simulate", ["outage", "timeout"])
def test_an_unavailable_provider_fails_the_authorization_of_a_buyer_who_is_not_trusted(api, settings, simulate):
    settings.MINTGUARD_PROVIDER_TIMEOUT = 0.01
    order = create_order(api, amount=1_200)

    response = authorize(api, order["id"], simulate=simulate, body={"buyer_trust": "new"})

    assert response.status_code == 201
    body = response.json()
    assert (body["order"]["status"], body["payment"]["status"], body["payment"]["failure_reason"]) == (
        "FAILED", "FAILED", "provider_unavailable")
    assert SimulatedAuthorization.objects.count() == 0


def test_a_trusted_buyers_authorization_left_pending_by_an_outage_is_held_once_the_provider_confirms(
        api, webhook_secret):
    # given an authorization the provider could not answer, pending as a pay would be
    order = create_order(api, amount=1_200)
    pending = authorize(api, order["id"], simulate="outage", body={"buyer_trust": "trusted"})
    assert (pending.json()["order"]["status"], pending.json()["payment"]["status"]) == ("PENDING_PAYMENT", "PENDING")

    # when the provider's webhook says it went through (the provider held the funds after all)
    payment = Payment.objects.get(order_id=order["id"])
    held = get_provider().authorize(idempotency_key=payment.provider_key, amount=1_200, currency="USD")
    assert send_webhook(order_id=order["id"], outcome="PAID").status_code == 200

    # then the funds are held, and nothing is booked until a capture
    row = Order.objects.get(pk=order["id"])
    assert (row.status, row.paid_amount) == ("AUTHORIZED", 0)
    assert Payment.objects.get(order_id=order["id"]).status == PaymentStatus.AUTHORIZED
    assert payment_transactions(order["id"]) == []
    # and the capture finds the provider's reference, which the webhook did not carry
    captured = capture(api, order["id"])
    assert captured.status_code == 201, captured.content
    assert captured.json()["payment"]["provider_reference"] == held.reference
    assert len(payment_transactions(order["id"])) == 1


@pytest.mark.parametrize("state", ["authorized", "canceled"])
@pytest.mark.parametrize("route", [pay, authorize])
def test_paying_or_authorizing_an_authorized_or_canceled_order_is_409_order_not_payable(api, state, route):
    order = authorized_order(api)
    if state == "canceled":
        assert void(api, order["id"]).status_code == 200

    response = route(api, order["id"])

    assert problem_code(response) == (409, "order_not_payable")
    assert Payment.objects.filter(order_id=order["id"]).count() == 1
    assert SimulatedCharge.objects.count() == 0 and SimulatedAuthorization.objects.count() == 1


def test_a_key_that_started_a_pay_cannot_start_an_authorization_of_the_order():
    from payments.exceptions import PaymentKeyConflict
    from payments.services import order_authorize, order_pay

    from .factories import OrderFactory

    order = OrderFactory()
    order_pay(order_id=order.id, idempotency_key="k-1", simulate="decline")

    with pytest.raises(PaymentKeyConflict) as refused:
        order_authorize(order_id=order.id, idempotency_key="k-1")
    assert refused.value.code == "idempotency_key_reused"


# --- capture -----------------------------------------------------------------------------


def test_capturing_all_books_the_authorized_amount_as_a_payment_and_marks_the_order_paid(api):
    order = authorized_order(api, amount=1_200)

    response = capture(api, order["id"])

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["order"]["status"], body["order"]["paid_amount"], body["payment"]["status"]) == (
        "PAID", 1_200, "SUCCEEDED")
    (txn,) = payment_transactions(order["id"])
    assert legs(txn) == [("cash", "DEBIT", 1_200), ("revenue", "CREDIT", 1_200)]
    payment = Payment.objects.get(order_id=order["id"])
    assert (payment.captured_amount, payment.ledger_transaction_id) == (1_200, txn.id)
    assert txn.reference == f"payment:{payment.id}"
    assert SimulatedAuthorization.objects.get().captured_amount == 1_200
    assert_ledger_consistent()


def test_a_partial_capture_books_only_what_was_captured_split_as_a_payment_is(api, settings):
    settings.MINTGUARD_PLATFORM_FEE_BPS = 250
    order = authorized_order(api, amount=1_200, seller_id="seller-7")

    response = capture(api, order["id"], amount=800)

    assert response.status_code == 201, response.content
    assert (response.json()["order"]["status"], response.json()["order"]["paid_amount"]) == ("PAID", 800)
    (txn,) = payment_transactions(order["id"])
    # the fee is floor(800 * 250 / 10000) = 20, as pay would take on a sale of 800
    assert legs(txn) == [("cash", "DEBIT", 800), ("revenue", "CREDIT", 20), ("seller_payable", "CREDIT", 780)]
    hold = SimulatedAuthorization.objects.get()
    assert (hold.closure, hold.captured_amount) == ("captured", 800)  # the other 400 is released
    entries = api.get(f"/api/v1/orders/{order['id']}/ledger").json()["entries"]
    assert sum(e["amount"] for e in entries if e["direction"] == "DR") == 800
    assert_ledger_consistent()


def test_refunds_of_a_partial_capture_are_capped_by_what_was_captured(api):
    order = authorized_order(api, amount=1_200)
    capture(api, order["id"], amount=800)

    too_much = refund(api, order["id"], amount=801)
    some = refund(api, order["id"], amount=300)
    rest = refund(api, order["id"])

    assert problem_code(too_much) == (409, "refund_exceeds_remaining")
    assert some.status_code == 201 and some.json()["order"]["status"] == "PARTIALLY_REFUNDED"
    assert rest.status_code == 201, rest.content
    assert rest.json()["refund"]["amount"] == 500
    assert (rest.json()["order"]["status"], rest.json()["order"]["refunded_amount"]) == ("REFUNDED", 800)
    assert sum(legs(t)[0][2] for t in refund_transactions(order["id"])) == 800
    assert problem_code(refund(api, order["id"], amount=1)) == (409, "order_not_refundable")
    assert_ledger_consistent()


def test_a_refund_of_a_captured_authorization_reaches_the_provider(api, django_capture_on_commit_callbacks):
    order = authorized_order(api, amount=1_200)
    capture(api, order["id"], amount=800)

    with django_capture_on_commit_callbacks(execute=True):
        response = refund(api, order["id"], amount=300)

    assert response.status_code == 201
    assert Refund.objects.get().provider_reference.startswith("sim_re_")
    assert SimulatedRefund.objects.get().amount == 300


def test_a_normal_pay_sets_paid_amount_to_the_order_amount(api):
    order = paid_order(api, amount=1_500)

    assert order["paid_amount"] == 1_500
    assert Payment.objects.get(order_id=order["id"]).captured_amount == 1_500


def test_capture_replayed_with_the_same_key_returns_identical_bytes_and_books_once(api):
    order = authorized_order(api)
    key = new_key()

    first, replay = capture(api, order["id"], key=key, amount=700), capture(api, order["id"], key=key, amount=700)

    assert first.status_code == replay.status_code == 201
    assert replay.content == first.content and replay["Idempotent-Replayed"] == "true"
    assert len(payment_transactions(order["id"])) == 1


def test_a_second_capture_with_another_key_is_409_order_not_capturable(api):
    order = authorized_order(api)
    assert capture(api, order["id"]).status_code == 201

    response = capture(api, order["id"])

    assert problem_code(response) == (409, "order_not_capturable")
    assert len(payment_transactions(order["id"])) == 1


def test_capturing_more_than_was_authorized_is_409_and_changes_nothing(api):
    order = authorized_order(api, amount=1_200)

    response = capture(api, order["id"], amount=1_201)

    assert problem_code(response) == (409, "capture_exceeds_authorization")
    assert Payment.objects.get(order_id=order["id"]).status == PaymentStatus.AUTHORIZED
    assert SimulatedAuthorization.objects.get().closure == ""
    assert capture(api, order["id"], amount=1_200).status_code == 201  # the authorization still stands


@pytest.mark.parametrize("amount", [0, -1, 10.5, "800", None])
def test_a_capture_amount_that_is_not_a_positive_integer_is_422(api, amount):
    order = authorized_order(api)

    response = capture(api, order["id"], amount=amount)

    assert problem_code(response) == (422, "validation_error")
    assert Payment.objects.get(order_id=order["id"]).status == PaymentStatus.AUTHORIZED


def test_capture_without_an_idempotency_key_is_400(api):
    order = authorized_order(api)

    response = api.post(f"/api/v1/orders/{order['id']}/capture", {}, format="json")

    assert problem_code(response) == (400, "idempotency_key_missing")


@pytest.mark.parametrize("order_kind", ["created", "paid", "declined"])
def test_capturing_or_voiding_an_order_that_holds_no_authorization_is_409(api, order_kind):
    if order_kind == "paid":
        order = paid_order(api)
    else:
        order = create_order(api)
        if order_kind == "declined":
            authorize(api, order["id"], simulate="decline")

    assert problem_code(capture(api, order["id"])) == (409, "order_not_capturable")
    assert problem_code(void(api, order["id"])) == (409, "order_not_voidable")


@pytest.mark.parametrize("simulate", ["outage", "timeout"])
def test_a_capture_the_provider_cannot_answer_is_409_and_a_retry_captures(api, settings, simulate):
    settings.MINTGUARD_PROVIDER_TIMEOUT = 0.01
    order = authorized_order(api, amount=1_200)

    down = capture(api, order["id"], simulate=simulate, amount=500)

    assert problem_code(down) == (409, "provider_unavailable")
    payment = Payment.objects.get(order_id=order["id"])
    assert (payment.status, payment.captured_amount) == (PaymentStatus.AUTHORIZED, None)  # the claim handed back
    assert payment_transactions(order["id"]) == []
    retried = capture(api, order["id"], amount=500)
    assert retried.status_code == 201 and retried.json()["order"]["paid_amount"] == 500


def test_another_clients_authorize_capture_and_void_are_404_and_change_nothing(api, make_api_client):
    mine, unpaid = authorized_order(api), create_order(api)
    intruder = make_api_client("intruder")

    answers = [authorize(intruder, unpaid["id"]), capture(intruder, mine["id"]), void(intruder, mine["id"])]

    assert [problem_code(r) for r in answers] == [(404, "order_not_found")] * 3
    assert Order.objects.get(pk=mine["id"]).status == "AUTHORIZED"
    assert Order.objects.get(pk=unpaid["id"]).status == "CREATED"
    assert SimulatedAuthorization.objects.get().closure == ""


# --- void --------------------------------------------------------------------------------


def test_void_releases_the_hold_cancels_the_order_and_books_nothing(api):
    order = authorized_order(api, amount=1_200)
    postings_before = Posting.objects.count()

    response = void(api, order["id"])

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["order"]["status"], body["order"]["paid_amount"], body["payment"]["status"]) == (
        "CANCELED", 0, "VOIDED")
    assert SimulatedAuthorization.objects.get().closure == "voided"
    assert Posting.objects.count() == postings_before
    assert problem_code(refund(api, order["id"])) == (409, "order_not_refundable")


def test_a_void_sent_with_a_key_is_replayed_and_without_one_is_refused_the_second_time(api):
    order = authorized_order(api)
    key = new_key()

    first, replay = void(api, order["id"], key=key), void(api, order["id"], key=key)
    again = void(api, order["id"])

    assert first.status_code == replay.status_code == 200 and replay.content == first.content
    assert replay["Idempotent-Replayed"] == "true"
    assert problem_code(again) == (409, "order_not_voidable")


def test_void_after_capture_is_409_order_not_voidable(api):
    order = authorized_order(api)
    capture(api, order["id"], amount=600)

    response = void(api, order["id"])

    assert problem_code(response) == (409, "order_not_voidable")
    row = Order.objects.get(pk=order["id"])
    assert (row.status, row.paid_amount) == ("PAID", 600)
    assert SimulatedAuthorization.objects.get().closure == "captured"


def test_capture_after_void_is_409_order_not_capturable(api):
    order = authorized_order(api)
    void(api, order["id"])

    response = capture(api, order["id"])

    assert problem_code(response) == (409, "order_not_capturable")
    assert payment_transactions(order["id"]) == []
    assert Order.objects.get(pk=order["id"]).status == "CANCELED"


def test_a_void_the_provider_cannot_answer_is_409_and_changes_nothing(api):
    order = authorized_order(api)

    response = void(api, order["id"], simulate="outage")

    assert problem_code(response) == (409, "provider_unavailable")
    assert Payment.objects.get(order_id=order["id"]).status == PaymentStatus.AUTHORIZED
    assert void(api, order["id"]).status_code == 200
