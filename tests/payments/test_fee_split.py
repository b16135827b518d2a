"""Seller orders: the platform fee goes to revenue, and refunds reverse each part in proportion."""

import random

import pytest

from ledger.models import Direction
from payments import services
from payments.models import Order, Payment

from ..ledger.invariants import assert_ledger_consistent
from .helpers import create_order, paid_order, pay, refund, refund_transactions

pytestmark = pytest.mark.django_db


def legs_of(txn) -> dict[tuple[str, str], int]:
    return {(p.account.name, p.direction): p.amount for p in txn.postings.select_related("account")}


def test_fee_of_250_bps_on_1001_with_refunds_333_333_335_rounds_down_and_the_last_takes_the_rest(api, settings):
    # given a seller order of 1001 paid with a 2.5% platform fee: floor(25.025) = 25
    settings.MINTGUARD_PLATFORM_FEE_BPS = 250
    order = paid_order(api, amount=1001, seller_id="seller-1")
    payment = Payment.objects.get(order_id=order["id"], status="SUCCEEDED")
    assert legs_of(payment.ledger_transaction) == {
        ("cash", Direction.DEBIT): 1001,
        ("seller_payable", Direction.CREDIT): 976,
        ("revenue", Direction.CREDIT): 25,
    }

    # when it is refunded 333 + 333 + 335
    for amount in (333, 333, 335):
        assert refund(api, order["id"], amount=amount).status_code == 201

    # then each refund's revenue part is rounded down and the last takes exactly what remains
    parts = [legs_of(txn) for txn in sorted(refund_transactions(order["id"]), key=lambda t: t.created_at)]
    assert parts == [
        {("seller_payable", Direction.DEBIT): 325, ("revenue", Direction.DEBIT): 8, ("cash", Direction.CREDIT): 333},
        {("seller_payable", Direction.DEBIT): 325, ("revenue", Direction.DEBIT): 8, ("cash", Direction.CREDIT): 333},
        {("seller_payable", Direction.DEBIT): 326, ("revenue", Direction.DEBIT): 9, ("cash", Direction.CREDIT): 335},
    ]
    entries = api.get(f"/api/v1/orders/{order['id']}/ledger").json()["entries"]
    net: dict[str, int] = {}
    for entry in entries:
        net[entry["account"]] = net.get(entry["account"], 0) + (entry["amount"] if entry["direction"] == "DR"
                                                                else -entry["amount"])
    assert net == {"cash": 0, "seller_payable": 0, "revenue": 0}
    assert Order.objects.get(pk=order["id"]).status == "REFUNDED"
    summary = api.get("/api/v1/ledger/summary").json()
    assert summary["balanced"] is True
    assert {a["name"]: a["balance"] for a in summary["currencies"]["USD"]["accounts"]} == {
        "cash": 0, "revenue": 0, "seller_payable": 0,
    }
    assert_ledger_consistent()


def test_a_seller_order_without_a_configured_fee_credits_seller_payable_only(api, settings):
    settings.MINTGUARD_PLATFORM_FEE_BPS = 0
    order = paid_order(api, amount=500, seller_id="seller-1")
    payment = Payment.objects.get(order_id=order["id"], status="SUCCEEDED")
    assert legs_of(payment.ledger_transaction) == {
        ("cash", Direction.DEBIT): 500, ("seller_payable", Direction.CREDIT): 500,
    }
    assert refund(api, order["id"], amount=200).status_code == 201
    (txn,) = refund_transactions(order["id"])
    assert legs_of(txn) == {("seller_payable", Direction.DEBIT): 200, ("cash", Direction.CREDIT): 200}


def test_a_fee_too_small_to_round_to_a_cent_posts_no_revenue_leg(api, settings):
    settings.MINTGUARD_PLATFORM_FEE_BPS = 250
    order = paid_order(api, amount=39, seller_id="seller-1")  # floor(0.975) = 0
    payment = Payment.objects.get(order_id=order["id"], status="SUCCEEDED")
    assert legs_of(payment.ledger_transaction) == {
        ("cash", Direction.DEBIT): 39, ("seller_payable", Direction.CREDIT): 39,
    }


def test_the_fee_is_read_when_paying_so_a_later_setting_change_does_not_skew_refunds(api, settings):
    settings.MINTGUARD_PLATFORM_FEE_BPS = 1000
    order = paid_order(api, amount=1000, seller_id="seller-1")
    settings.MINTGUARD_PLATFORM_FEE_BPS = 0

    refund(api, order["id"], amount=1000)

    (txn,) = refund_transactions(order["id"])
    assert legs_of(txn) == {
        ("seller_payable", Direction.DEBIT): 900, ("revenue", Direction.DEBIT): 100, ("cash", Direction.CREDIT): 1000,
    }


@pytest.mark.parametrize("seed", range(6))
def test_random_partial_refunds_never_take_more_of_an_account_than_the_payment_gave(api, settings, seed):
    # given a seller order with a high fee, where rounding each refund alone would overdraw one side
    rng = random.Random(seed)
    settings.MINTGUARD_PLATFORM_FEE_BPS = rng.choice([250, 3333, 9000, 9999])
    amount = rng.randint(2, 60)
    order = create_order(api, amount=amount, seller_id="seller-1")
    pay(api, order["id"])
    given = legs_of(Payment.objects.get(order_id=order["id"], status="SUCCEEDED").ledger_transaction)
    fee, seller = given.get(("revenue", "CREDIT"), 0), given.get(("seller_payable", "CREDIT"), 0)

    # when it is refunded in random slices until nothing remains
    refunded_fee = refunded_seller = remaining = 0
    remaining = amount
    while remaining:
        slice_ = rng.randint(1, remaining)
        refund_obj, _ = services.refund_create(order_id=order["id"], amount=slice_, created_by="test")
        legs = legs_of(refund_obj.ledger_transaction)
        refunded_fee += legs.get(("revenue", "DEBIT"), 0)
        refunded_seller += legs.get(("seller_payable", "DEBIT"), 0)
        remaining -= slice_
        # then no side is ever refunded beyond what it received, and each slice stays proportional
        assert refunded_fee <= fee and refunded_seller <= seller
        assert refunded_fee == (amount - remaining) * fee // amount

    assert (refunded_fee, refunded_seller) == (fee, seller)
    assert_ledger_consistent()
