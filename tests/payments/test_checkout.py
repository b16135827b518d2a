"""POST /api/v1/checkout: an order and its payment in one idempotent call, with the outage policy."""

import time

import pytest
from django.db import connection

from ledger.models import Direction
from mintguard_site.api.models import IdempotencyKey
from payments import services
from payments.models import Order, Payment, PaymentStatus, SimulatedCharge
from payments.providers.simulator import SimulatedProvider

from ..ledger.invariants import assert_ledger_consistent
from .helpers import checkout, checkout_body, new_key, pay, payment_transactions
from .test_recovery import abandoned_reservation

pytestmark = pytest.mark.django_db


def test_checkout_creates_the_order_pays_it_and_marks_it_ready_to_ship(api):
    response = checkout(api, amount=1200, buyer_id="buyer-7", seller_id="seller-3")

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"order_id", "status", "ready_to_ship", "failure_reason"}
    assert (body["status"], body["ready_to_ship"], body["failure_reason"]) == ("PAID", True, None)
    order = Order.objects.get(pk=body["order_id"])
    assert (order.user_id, order.seller_id, order.amount, order.currency) == ("buyer-7", "seller-3", 1200, "USD")
    assert order.owner == api.api_client.owner
    (txn,) = payment_transactions(order.id)
    assert {(p.direction, p.amount) for p in txn.postings.all()} == {(Direction.DEBIT, 1200), (Direction.CREDIT, 1200)}
    assert_ledger_consistent()


def test_the_same_key_and_body_replays_the_same_order_without_charging_again(api):
    key = new_key()
    first = checkout(api, key=key)

    again = checkout(api, key=key)

    assert again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1
    assert SimulatedCharge.objects.count() == 1
    assert len(payment_transactions(first.json()["order_id"])) == 1


def test_the_same_key_with_another_body_is_409_idempotency_key_reused(api):
    key = new_key()
    checkout(api, key=key, amount=1200)

    response = checkout(api, key=key, amount=1300)

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1


def test_two_clients_using_the_same_key_get_an_order_each(api, make_api_client):
    key = new_key()
    mine = checkout(api, key=key).json()
    theirs = checkout(make_api_client("other"), key=key).json()

    assert mine["order_id"] != theirs["order_id"]
    assert Order.objects.count() == 2


def test_checkout_without_an_idempotency_key_is_400_and_creates_nothing(api):
    response = api.post("/api/v1/checkout", checkout_body(), format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_missing"
    assert Order.objects.count() == 0


@pytest.mark.parametrize(("field", "value"), [
    ("amount", 12.5), ("amount", "1200"), ("amount", 0), ("buyer_id", "x" * 65), ("buyer_trust", "vip"),
    ("currency", "XXX"), ("surprise", 1),
])
def test_an_invalid_checkout_is_422_and_creates_nothing(api, field, value):
    response = checkout(api, **{field: value})

    assert response.status_code == 422, response.content
    assert field in response.json()["errors"]
    assert Order.objects.count() == 0


def test_buyer_trust_currency_and_seller_are_optional(api):
    response = api.post("/api/v1/checkout", {"buyer_id": "b", "amount": 500}, format="json",
                        HTTP_IDEMPOTENCY_KEY=new_key())

    assert response.status_code == 201, response.content
    order = Order.objects.get(pk=response.json()["order_id"])
    assert (order.currency, order.buyer_trust, order.seller_id) == ("USD", "standard", None)


def test_a_decline_is_201_failed_with_the_reason_and_not_ready_to_ship(api):
    response = checkout(api, simulate="decline")

    assert response.status_code == 201
    assert response.json() | {"order_id": None} == {
        "order_id": None, "status": "FAILED", "ready_to_ship": False, "failure_reason": "card_declined",
    }
    assert payment_transactions(response.json()["order_id"]) == []


# --- outage policy -------------------------------------------------------------------------


def test_an_outage_leaves_a_trusted_buyer_under_the_cap_pending_with_no_ledger_entries(api):
    response = checkout(api, simulate="outage", buyer_trust="trusted", amount=19_999)

    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["ready_to_ship"], body["failure_reason"]) == ("PENDING_PAYMENT", False, None)
    payment = Payment.objects.get(order_id=body["order_id"])
    assert payment.status == PaymentStatus.PENDING
    assert payment.ledger_transaction is None
    assert payment_transactions(body["order_id"]) == []
    assert_ledger_consistent()


@pytest.mark.parametrize("amount", [20_000, 20_001, 1_000_000])
def test_an_outage_fails_a_trusted_buyer_at_or_over_the_cap(api, amount):
    response = checkout(api, simulate="outage", buyer_trust="trusted", amount=amount)

    assert response.status_code == 201
    assert (response.json()["status"], response.json()["failure_reason"]) == ("FAILED", "provider_unavailable")
    assert Payment.objects.get(order_id=response.json()["order_id"]).failure_reason == "provider_unavailable"


@pytest.mark.parametrize("trust", ["standard", "new"])
def test_an_outage_fails_a_buyer_who_is_not_trusted_even_for_a_small_amount(api, trust):
    response = checkout(api, simulate="outage", buyer_trust=trust, amount=100)

    assert (response.json()["status"], response.json()["ready_to_ship"]) == ("FAILED", False)
    assert response.json()["failure_reason"] == "provider_unavailable"
    assert payment_transactions(response.json()["order_id"]) == []


def test_the_cap_is_per_currency(api, settings):
    settings.MINTGUARD_OUTAGE_PENDING_CAP = "USD:20000,EUR:15000"

    eur_over = checkout(api, simulate="outage", currency="EUR", amount=15_000).json()
    eur_under = checkout(api, simulate="outage", currency="EUR", amount=14_999).json()
    usd = checkout(api, simulate="outage", currency="USD", amount=19_000).json()

    assert (eur_over["status"], eur_under["status"], usd["status"]) == ("FAILED", "PENDING_PAYMENT", "PENDING_PAYMENT")


def test_a_provider_timeout_waits_out_the_budget_then_behaves_as_an_outage(api, settings):
    settings.MINTGUARD_PROVIDER_TIMEOUT = 0.2

    started = time.monotonic()
    trusted = checkout(api, simulate="timeout", buyer_trust="trusted").json()
    elapsed = time.monotonic() - started
    untrusted = checkout(api, simulate="timeout", buyer_trust="new").json()

    assert elapsed >= 0.2
    assert trusted["status"] == "PENDING_PAYMENT"
    assert (untrusted["status"], untrusted["failure_reason"]) == ("FAILED", "provider_unavailable")
    assert SimulatedCharge.objects.count() == 0


def test_a_forced_outage_in_settings_applies_without_any_header(api, settings):
    settings.MINTGUARD_SIMULATOR_OUTAGE = True

    response = checkout(api, buyer_trust="trusted")

    assert response.json()["status"] == "PENDING_PAYMENT"


def test_paying_a_pending_order_again_is_409_order_not_payable(api):
    order_id = checkout(api, simulate="outage").json()["order_id"]

    response = pay(api, order_id)

    assert response.status_code == 409
    assert response.json()["code"] == "order_not_payable"
    assert Payment.objects.filter(order_id=order_id).count() == 1


def test_pay_applies_the_outage_policy_with_the_buyer_trust_it_is_given(api):
    order_id = checkout(api, simulate="decline", buyer_trust="new").json()["order_id"]

    response = pay(api, order_id, simulate="outage", body={"buyer_trust": "trusted"})

    assert response.status_code == 201
    assert response.json()["order"]["status"] == "PENDING_PAYMENT"
    assert response.json()["payment"]["status"] == "PENDING"
    assert Order.objects.get(pk=order_id).buyer_trust == "trusted"


# --- recovery --------------------------------------------------------------------------------


def test_a_retry_after_a_crash_resumes_the_committed_order_and_charges_once(api):
    # given a checkout that committed its order and payment attempt, then died before the provider call
    key = new_key()
    attempt, _ = services.checkout_begin(
        owner=api.api_client.owner, checkout_key=key, buyer_id="buyer-1", seller_id="seller-1", amount=1200,
        currency="USD", buyer_trust="trusted",
    )
    abandoned_reservation(owner=api.api_client.owner, key=key, path="/api/v1/checkout", body=checkout_body())

    # when the client retries with the same key and body
    response = checkout(api, key=key)

    # then it finishes that order: no second order, one charge, one ledger transaction
    assert response.status_code == 201, response.content
    assert response.json()["order_id"] == str(attempt.order_id)
    assert response.json()["status"] == "PAID"
    assert Order.objects.count() == 1
    assert Payment.objects.count() == 1
    assert SimulatedCharge.objects.filter(idempotency_key=attempt.provider_key).count() == 1
    assert len(payment_transactions(attempt.order_id)) == 1


def test_a_key_whose_record_expired_cannot_create_an_order_with_other_terms(api):
    key = new_key()
    first = checkout(api, key=key, amount=1200).json()
    IdempotencyKey.objects.filter(key=key).delete()  # purged after its TTL

    same = checkout(api, key=key, amount=1200)
    other = checkout(api, key=key, amount=9999)

    assert same.status_code == 201 and same.json()["order_id"] == first["order_id"]
    assert other.status_code == 409
    assert other.json()["code"] == "idempotency_key_reused"
    assert Order.objects.count() == 1
    assert SimulatedCharge.objects.count() == 1


class TransactionWatchingProvider(SimulatedProvider):
    """The simulator, noting whether a database transaction was open while it was asked to charge."""

    seen: list = []

    def charge(self, **kwargs):
        self.seen.append(connection.in_atomic_block)
        return super().charge(**kwargs)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("simulate", ["success", "timeout"])
def test_the_provider_is_called_with_no_database_transaction_open(api, settings, simulate):
    settings.MINTGUARD_PAYMENT_PROVIDER = "tests.payments.test_checkout.TransactionWatchingProvider"
    settings.MINTGUARD_PROVIDER_TIMEOUT = 0.05
    TransactionWatchingProvider.seen = []

    response = checkout(api, simulate=simulate)

    assert response.status_code == 201
    assert TransactionWatchingProvider.seen == [False]
