"""Response shapes rendered by one serializer built at import (mintguard_site.api.serializers.representation)."""

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

from ledger.api.serializers import AccountSerializer
from mintguard_site.api.serializers import representation
from payments.api.serializers import OrderSerializer


def an_order(**fields) -> SimpleNamespace:
    order = {
        "id": uuid.uuid4(), "user_id": "user-1", "seller_id": None, "amount": 1200, "currency": "USD",
        "status": "CREATED", "refunded_amount": 0, "paid_amount": 0, "created_at": datetime(2026, 1, 15, 10, 0, tzinfo=UTC),
        "updated_at": datetime(2026, 1, 15, 10, 0, 0, 123456, tzinfo=UTC),
    }
    return SimpleNamespace(**{**order, **fields})


def test_a_shared_serializer_renders_each_instance_exactly_like_a_fresh_one():
    # given two different orders, one after the other through the same serializer
    orders = [an_order(), an_order(seller_id="seller-7", status="PAID", amount=1, user_id="user-2")]
    order_body = representation(OrderSerializer)

    # when / then: nothing of the first leaks into the second, and the body is what `.data` gives
    assert [order_body(order) for order in orders] == [OrderSerializer(order).data for order in orders]
    assert order_body(orders[0])["seller_id"] is None and order_body(orders[1])["seller_id"] == "seller-7"


def test_a_shared_serializer_keeps_sources_and_formats():
    account = SimpleNamespace(id=uuid.uuid4(), name="Rent", currency="EUR", balance=-5, available=-7,
                              created_at=datetime(2026, 2, 1, tzinfo=UTC))

    body = representation(AccountSerializer)(account)

    assert body == {"id": str(account.id), "owner_name": "Rent", "currency": "EUR", "balance": -5, "available": -7,
                    "created_at": "2026-02-01T00:00:00Z"}
