"""A pay sends few statements, and its compare-and-set writes keep a twin request from booking twice."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ledger.models import Transaction
from payments import services
from payments.models import Order, Payment, PaymentStatus, SimulatedCharge
from payments.providers import ChargeResult, ChargeStatus
from payments.providers.simulator import SimulatedProvider

from ..ledger.invariants import assert_ledger_consistent
from .helpers import create_order, new_key, pay, payment_transactions


def payments_statements(call) -> list[str]:
    """The statements `call` sends to the payments app's own tables, as "VERB table"."""
    with CaptureQueriesContext(connection) as captured:
        call()
    sent = [query["sql"] for query in captured.captured_queries]
    return [f"{sql.split(' ', 1)[0]} {sql.split(chr(34))[1]}" for sql in sent if '"payments_' in sql]


@pytest.mark.django_db(transaction=True)
def test_a_pay_sends_five_statements_of_its_own(api):
    warm_up, order = create_order(api), create_order(api)
    pay(api, warm_up["id"])  # the first payment in a currency creates the system accounts

    sent = payments_statements(lambda: pay(api, order["id"], simulate="success"))

    assert sent == [
        "SELECT payments_order",            # step 1: find, check the owner and lock the order
        "INSERT payments_payment",          # the recovery point, unless an attempt exists
        "INSERT payments_simulatedcharge",  # step 2: the provider's one statement
        "UPDATE payments_order",            # step 3: compare-and-set, queued on the order's lock
        "UPDATE payments_payment",          # compare-and-set on PROCESSING, with the ledger transaction
    ]
    assert Order.objects.get(pk=order["id"]).status == "PAID"
    assert len(payment_transactions(order["id"])) == 1


@pytest.mark.django_db
def test_a_fresh_charge_is_one_statement_and_a_repeated_key_reads_the_first_answer():
    provider = SimulatedProvider()
    with CaptureQueriesContext(connection) as fresh:
        first = provider.charge(idempotency_key="k", amount=100, currency="USD", simulate="decline")
    with CaptureQueriesContext(connection) as repeated:
        second = provider.charge(idempotency_key="k", amount=100, currency="USD", simulate="success")

    assert len(fresh.captured_queries) == 1
    assert len(repeated.captured_queries) == 2
    assert second == first and first.status == ChargeStatus.DECLINED
    assert SimulatedCharge.objects.get().outcome == SimulatedCharge.Outcome.DECLINED


@pytest.mark.django_db
def test_a_twin_finishing_after_the_attempt_failed_gets_the_failure_and_books_nothing(api):
    # given one attempt read twice, as two requests with the same key would read it
    order = create_order(api, amount=1200)
    key = new_key()
    first, _ = services.payment_attempt_begin(order_id=order["id"], idempotency_key=key)
    twin, resumed = services.payment_attempt_begin(order_id=order["id"], idempotency_key=key)
    assert resumed and twin.status == PaymentStatus.PROCESSING
    services.payment_attempt_finish(payment=first, result=ChargeResult(ChargeStatus.UNAVAILABLE))

    # when the twin finishes with a success
    outcome = services.payment_attempt_finish(
        payment=twin, result=ChargeResult(ChargeStatus.SUCCEEDED, reference="sim_ch_twin")
    )

    # then the first outcome stands: nothing booked, nothing rewritten
    assert outcome.status == PaymentStatus.FAILED and outcome.failure_reason == "provider_unavailable"
    assert outcome.order.status == "FAILED"
    assert Payment.objects.get(pk=first.pk).provider_reference == ""
    assert Order.objects.get(pk=order["id"]).status == "FAILED"
    assert not Transaction.objects.filter(kind="payment").exists()


@pytest.mark.django_db
def test_a_twin_finishing_after_the_attempt_was_paid_books_it_once(api):
    order = create_order(api, amount=1200)
    key = new_key()
    first, _ = services.payment_attempt_begin(order_id=order["id"], idempotency_key=key)
    twin, _ = services.payment_attempt_begin(order_id=order["id"], idempotency_key=key)
    charged = ChargeResult(ChargeStatus.SUCCEEDED, reference="sim_ch_first")
    services.payment_attempt_finish(payment=first, result=charged)

    outcome = services.payment_attempt_finish(payment=twin, result=charged)

    assert outcome.status == PaymentStatus.SUCCEEDED and outcome.order.status == "PAID"
    (txn,) = payment_transactions(order["id"])
    assert outcome.ledger_transaction_id == txn.id
    assert sum(p.amount for p in txn.postings.all() if p.direction == "DEBIT") == 1200
    assert_ledger_consistent()


@pytest.mark.django_db
def test_a_new_buyer_trust_is_written_with_the_attempt_and_decides_the_outage_outcome(api):
    order = create_order(api, amount=1200)

    response = pay(api, order["id"], simulate="outage", body={"buyer_trust": "trusted"})

    assert response.status_code == 201
    assert response.json()["order"]["status"] == "PENDING_PAYMENT"
    assert response.json()["payment"]["status"] == "PENDING"
    stored = Order.objects.get(pk=order["id"])
    assert (stored.buyer_trust, stored.status) == ("trusted", "PENDING_PAYMENT")
    assert response.json()["order"]["updated_at"] == stored.updated_at.isoformat().replace("+00:00", "Z")
