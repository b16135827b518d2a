"""Issue 14, item 8 (first half): one id, one spelling.

Every client identifier (`user_id`, `seller_id`, `buyer_id`, the provider's `event_id` and
`order_id`) is stored in Unicode NFC and refuses characters Python does not call printable
(control, zero-width and other format characters, separators other than the space), with a 422
naming the field. A `reference_id` and an `Idempotency-Key` stay printable ASCII. The wallet
balance path (404 for an id no wallet can have), the orders list's `?user_id=` (400) and the
dashboard's wallet lookup compare ids the same way. Display names (`owner_name`) are not ids.
"""

import json
from urllib.parse import quote

import pytest

from mintguard_site.api.serializers import normalise_identifier
from payments.models import Order, WebhookEvent, WebhookResult
from wallets.models import Wallet

from ..payments.helpers import deliver, signed_headers

pytestmark = pytest.mark.django_db

DECOMPOSED, COMPOSED = "cafe\u0301", "caf\u00e9"

REFUSED_IDS = {
    "zero-width space": "user-cai\u200b",
    "leading zero-width space": "\u200buser-cai",
    "zero-width joiner": "user\u200dcai",
    "byte order mark": "\ufeffuser-cai",
    "right-to-left override": "user-\u202eiac",
    "no-break space": "user\u00a0cai",
    "line separator": "user\u2028cai",
    "soft hyphen": "user\u00adcai",
    "control character": "user\x01cai",
    "tab": "user\tcai",
    "newline": "user\ncai",
    "delete": "user\x7fcai",
    "C1 control (NEL)": "user\x85cai",
    "private use": "user\ue000",
}

# (route, body without the identifier, the identifier's field)
IDENTIFIER_FIELDS = [
    ("/api/v1/wallets/topup", {"amount": 100, "reference_id": "ref-1"}, "user_id"),
    ("/api/v1/wallets/bonus", {"amount": 100, "reference_id": "ref-1"}, "user_id"),
    ("/api/v1/wallets/spend", {"amount": 100, "reference_id": "ref-1"}, "user_id"),
    ("/api/v1/orders", {"amount": 100}, "user_id"),
    ("/api/v1/orders", {"user_id": "buyer", "amount": 100}, "seller_id"),
    ("/api/v1/checkout", {"amount": 100}, "buyer_id"),
    ("/api/v1/checkout", {"buyer_id": "buyer", "amount": 100}, "seller_id"),
]


@pytest.mark.parametrize("name", REFUSED_IDS)
@pytest.mark.parametrize("path,body,field", IDENTIFIER_FIELDS,
                         ids=[f"{path} {field}" for path, _, field in IDENTIFIER_FIELDS])
def test_an_identifier_with_an_invisible_or_control_character_is_a_422_naming_the_field(api, path, body, field,
                                                                                        name):
    response = api.post(path, {**body, field: REFUSED_IDS[name]}, format="json", HTTP_IDEMPOTENCY_KEY=f"k-{field}")

    assert response.status_code == 422, response.content[:300]
    assert response.json()["code"] == "validation_error"
    assert list(response.json()["errors"]) == [field]
    assert Wallet.objects.count() == 0
    assert Order.objects.count() == 0


@pytest.mark.parametrize("path,body,field", IDENTIFIER_FIELDS,
                         ids=[f"{path} {field}" for path, _, field in IDENTIFIER_FIELDS])
def test_an_identifier_is_stored_in_nfc(api, path, body, field):
    if path.endswith("/spend"):  # something to spend, under the composed spelling
        api.post("/api/v1/wallets/topup", {"user_id": COMPOSED, "amount": 100, "reference_id": "fund"}, format="json")

    response = api.post(path, {**body, field: DECOMPOSED}, format="json", HTTP_IDEMPOTENCY_KEY=f"nfc-{field}")

    assert response.status_code == 201, response.content[:300]
    if path.startswith("/api/v1/wallets/"):
        assert response.json()["user_id"] == COMPOSED
        assert Wallet.objects.get().user_id == COMPOSED
    else:
        order = Order.objects.get()
        stored = order.user_id if field in ("user_id", "buyer_id") else order.seller_id
        assert stored == COMPOSED


def test_user_cai_with_a_zero_width_space_cannot_open_a_second_wallet(api):
    first = api.post("/api/v1/wallets/topup", {"user_id": "user-cai", "amount": 500, "reference_id": "t-1"},
                     format="json")

    lookalike = api.post("/api/v1/wallets/topup", {"user_id": "user-cai\u200b", "amount": 500, "reference_id": "t-2"},
                         format="json")

    assert (first.status_code, lookalike.status_code) == (201, 422)
    assert lookalike.json()["errors"]["user_id"]
    assert list(Wallet.objects.values_list("user_id", flat=True)) == ["user-cai"]


def test_a_decomposed_and_a_composed_user_id_reach_the_same_wallet(api):
    decomposed = api.post("/api/v1/wallets/topup", {"user_id": DECOMPOSED, "amount": 500, "reference_id": "t-1"},
                          format="json")
    composed = api.post("/api/v1/wallets/topup", {"user_id": COMPOSED, "amount": 300, "reference_id": "t-2"},
                        format="json")
    spend = api.post("/api/v1/wallets/spend", {"user_id": DECOMPOSED, "amount": 800, "reference_id": "s-1"},
                     format="json")

    assert (decomposed.status_code, composed.status_code, spend.status_code) == (201, 201, 201)
    assert composed.json()["balance_after"] == 800
    assert spend.json()["balance_after"] == 0
    assert Wallet.objects.count() == 1


@pytest.mark.parametrize("spelling", [DECOMPOSED, COMPOSED])
def test_the_balance_path_finds_the_wallet_under_either_spelling(api, spelling):
    api.post("/api/v1/wallets/topup", {"user_id": COMPOSED, "amount": 500, "reference_id": "t-1"}, format="json")

    response = api.get(f"/api/v1/wallets/{quote(spelling)}/balance")

    assert response.status_code == 200, response.content[:300]
    assert response.json()["user_id"] == COMPOSED
    assert response.json()["totals"] == {"USD": 500}


@pytest.mark.parametrize("name", [name for name, value in REFUSED_IDS.items() if value.isascii() is False])
def test_a_balance_path_with_an_invisible_character_is_a_404_as_no_wallet_can_have_it(api, name):
    api.post("/api/v1/wallets/topup", {"user_id": "user-cai", "amount": 500, "reference_id": "t-1"}, format="json")

    response = api.get(f"/api/v1/wallets/{quote(REFUSED_IDS[name])}/balance")

    assert response.status_code == 404
    assert response.json()["code"] == "wallet_not_found"


def test_the_orders_user_id_filter_matches_either_spelling(api):
    api.post("/api/v1/orders", {"user_id": COMPOSED, "amount": 100}, format="json")
    api.post("/api/v1/orders", {"user_id": "someone-else", "amount": 100}, format="json")

    found = api.get("/api/v1/orders", {"user_id": DECOMPOSED})

    assert found.status_code == 200
    assert [order["user_id"] for order in found.json()["results"]] == [COMPOSED]


def test_an_orders_user_id_filter_with_an_invisible_character_is_a_400(api):
    response = api.get("/api/v1/orders", {"user_id": "user-cai\u200b"})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_parameter"


@pytest.mark.parametrize("spelling", [DECOMPOSED, COMPOSED])
def test_the_dashboard_wallet_lookup_finds_the_wallet_under_either_spelling(api, client, operator_user, spelling):
    api.post("/api/v1/wallets/topup", {"user_id": COMPOSED, "amount": 500, "reference_id": "t-1"}, format="json")
    client.force_login(operator_user("viewer"))

    response = client.get("/wallets/", {"user_id": spelling})

    assert response.status_code == 200
    assert response.context["balances"].totals == {"USD": 500}


def test_the_dashboard_wallet_lookup_of_an_invisible_character_finds_nothing(api, client, operator_user):
    api.post("/api/v1/wallets/topup", {"user_id": "user-cai", "amount": 500, "reference_id": "t-1"}, format="json")
    client.force_login(operator_user("viewer"))

    response = client.get("/wallets/", {"user_id": "user-cai\u200b"})

    assert response.status_code == 200
    assert response.context["balances"] is None and response.context["not_found"]


@pytest.mark.parametrize("field", ["event_id", "order_id"])
def test_a_provider_event_with_an_invisible_character_in_an_id_is_a_422_and_recorded_as_invalid(field, webhook_secret):
    event = {"event_id": "evt_1", "order_id": "order-1", "outcome": "PAID", field: "evt\u200b_1"}
    body = json.dumps(event).encode()

    response = deliver(body, signed_headers(body))

    assert response.status_code == 422
    assert list(response.json()["errors"]) == [field]
    assert WebhookEvent.objects.get().result == WebhookResult.REJECTED_INVALID


@pytest.mark.parametrize("reference_id", ["ref\u200b", "réf", "ref\x01", "ref\u00a0"])
def test_a_reference_id_stays_printable_ascii(api, reference_id):
    response = api.post("/api/v1/wallets/topup", {"user_id": "ana", "amount": 5, "reference_id": reference_id},
                        format="json")

    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["reference_id"]
    assert Wallet.objects.count() == 0


@pytest.mark.parametrize("key", ["key\u200b", "clé", "key\x01", "key\x7f", "", "k" * 256])
def test_an_idempotency_key_stays_printable_ascii(api, key):
    response = api.post("/api/v1/wallets/topup", {"user_id": "ana", "amount": 5, "reference_id": "r-1"},
                        format="json", HTTP_IDEMPOTENCY_KEY=key)

    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_invalid"
    assert Wallet.objects.count() == 0


def test_an_account_owner_name_is_display_text_and_kept_as_sent(api):
    response = api.post("/api/v1/accounts", {"owner_name": DECOMPOSED}, format="json")

    assert response.status_code == 201
    assert response.json()["owner_name"] == DECOMPOSED


@pytest.mark.parametrize("value,expected", [
    ("user-ana", "user-ana"), (DECOMPOSED, COMPOSED), ("user ana", "user ana"), ("北京-7", "北京-7"), ("💸", "💸"),
    ("user-cai\u200b", None), ("a\x00", None), ("\u212b", "\u00c5"),
])
def test_the_identifier_rule(value, expected):
    assert normalise_identifier(value) == expected
