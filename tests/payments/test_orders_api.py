"""Creating, listing and reading orders over HTTP."""

import pytest

from payments.models import Order

from .helpers import create_order, new_key, pay

pytestmark = pytest.mark.django_db

ORDER_FIELDS = {"id", "user_id", "seller_id", "amount", "currency", "status", "refunded_amount", "paid_amount",
                "created_at", "updated_at"}


def test_create_order_returns_201_with_the_contract_fields(api):
    response = api.post(
        "/api/v1/orders",
        {"user_id": "u-1", "amount": 1200, "currency": "EUR", "seller_id": "s-1", "description": "Mug"},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert set(body) == ORDER_FIELDS
    assert body | {"id": None, "created_at": None, "updated_at": None} == {
        "id": None, "user_id": "u-1", "seller_id": "s-1", "amount": 1200, "currency": "EUR", "status": "CREATED",
        "refunded_amount": 0, "paid_amount": 0, "created_at": None, "updated_at": None,
    }
    order = Order.objects.get(pk=body["id"])
    assert order.owner == api.api_client.owner
    assert order.description == "Mug"
    assert order.buyer_trust == "standard"


def test_an_order_without_seller_has_seller_id_null_and_currency_defaults_to_usd(api):
    body = api.post("/api/v1/orders", {"user_id": "u-1", "amount": 5}, format="json").json()
    assert body["seller_id"] is None
    assert body["currency"] == "USD"


@pytest.mark.parametrize("body", [
    {"amount": 100},
    {"user_id": "u", "amount": 0},
    {"user_id": "u", "amount": -1},
    {"user_id": "u", "amount": 10.5},
    {"user_id": "u", "amount": "100"},
    {"user_id": "u", "amount": 10**15 + 1},
    {"user_id": "u", "amount": 100, "currency": "XYZ"},
    {"user_id": "u" * 65, "amount": 100},
    {"user_id": "u", "amount": 100, "seller_id": "s" * 65},
    {"user_id": "u", "amount": 100, "description": "d" * 501},
    {"user_id": "u", "amount": 100, "status": "PAID"},
])
def test_invalid_order_bodies_are_422_and_create_nothing(api, body):
    response = api.post("/api/v1/orders", body, format="json")
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "validation_error"
    assert Order.objects.count() == 0


def test_create_order_with_an_idempotency_key_replays_the_same_order(api):
    key = new_key()
    body = {"user_id": "u-1", "amount": 700}
    first = api.post("/api/v1/orders", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    second = api.post("/api/v1/orders", body, format="json", HTTP_IDEMPOTENCY_KEY=key)

    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"
    assert Order.objects.count() == 1


def test_get_order_returns_its_current_state(api):
    order = create_order(api, amount=1200)
    pay(api, order["id"])

    body = api.get(f"/api/v1/orders/{order['id']}").json()

    assert body["status"] == "PAID"
    assert body["updated_at"] > body["created_at"]


def test_list_orders_newest_first_paged_by_cursor(api):
    ids = [create_order(api, amount=100 + n)["id"] for n in range(5)]

    first = api.get("/api/v1/orders?limit=2").json()
    second = api.get(f"/api/v1/orders?limit=2&cursor={first['next_cursor']}").json()
    third = api.get(f"/api/v1/orders?limit=2&cursor={second['next_cursor']}").json()

    seen = [o["id"] for page in (first, second, third) for o in page["results"]]
    assert seen == list(reversed(ids))
    assert third["next_cursor"] is None


def test_list_orders_filters_by_status_and_user(api):
    paid = create_order(api, user_id="alice")
    pay(api, paid["id"])
    create_order(api, user_id="alice")
    bob = create_order(api, user_id="bob")

    by_status = api.get("/api/v1/orders?status=PAID").json()["results"]
    by_user = api.get("/api/v1/orders?user_id=bob").json()["results"]
    both = api.get("/api/v1/orders?status=CREATED&user_id=alice").json()["results"]

    assert [o["id"] for o in by_status] == [paid["id"]]
    assert [o["id"] for o in by_user] == [bob["id"]]
    assert len(both) == 1 and both[0]["status"] == "CREATED"


@pytest.mark.parametrize("query, code", [
    ("status=paid", "invalid_parameter"),
    ("status=SHIPPED", "invalid_parameter"),
    ("limit=0", "invalid_parameter"),
    ("limit=201", "invalid_parameter"),
    ("limit=ten", "invalid_parameter"),
    ("cursor=garbage", "invalid_cursor"),
])
def test_bad_list_parameters_are_400(api, query, code):
    response = api.get(f"/api/v1/orders?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == code


def test_a_cursor_from_another_list_is_refused(api):
    for n in range(3):
        api.post("/api/v1/accounts", {"owner_name": f"A{n}"}, format="json")
    accounts_cursor = api.get("/api/v1/accounts?limit=1").json()["next_cursor"]

    response = api.get(f"/api/v1/orders?cursor={accounts_cursor}")

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"


def test_orders_require_authentication(client):
    assert client.get("/api/v1/orders").status_code == 401
    assert client.post("/api/v1/orders", {}, content_type="application/json").status_code == 401
