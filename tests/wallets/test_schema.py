"""The OpenAPI schema documents every wallet route with its request, response and errors."""

import pytest
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def paths():
    return SchemaGenerator().get_schema(request=None, public=True)["paths"]


@pytest.mark.parametrize("route", ["topup", "bonus", "spend"])
def test_wallet_operations_document_body_201_errors_and_an_example(paths, route):
    operation = paths[f"/api/v1/wallets/{route}"]["post"]

    body = operation["requestBody"]["content"]["application/json"]
    assert body["schema"]["$ref"] == "#/components/schemas/WalletOperationRequest"
    assert body["examples"]
    created = operation["responses"]["201"]["content"]["application/json"]
    assert created["schema"]["$ref"] == "#/components/schemas/WalletTransaction"
    assert created["examples"]
    assert {"400", "401", "409", "422"} <= set(operation["responses"])
    assert not next(p for p in operation["parameters"] if p["name"] == "Idempotency-Key").get("required", False)


def test_wallet_balance_documents_its_shape_and_404(paths):
    operation = paths["/api/v1/wallets/{user_id}/balance"]["get"]

    ok = operation["responses"]["200"]["content"]["application/json"]
    assert ok["schema"]["$ref"] == "#/components/schemas/WalletBalance"
    assert ok["examples"]
    assert "404" in operation["responses"]


def idempotency_key_required(operation) -> bool:
    return next(p for p in operation["parameters"] if p["name"] == "Idempotency-Key").get("required", False)


def test_wallet_hold_documents_its_body_the_hold_and_its_errors(paths):
    operation = paths["/api/v1/wallets/hold"]["post"]

    body = operation["requestBody"]["content"]["application/json"]
    assert body["schema"]["$ref"] == "#/components/schemas/WalletHoldCreateRequest"
    assert body["examples"]
    created = operation["responses"]["201"]["content"]["application/json"]
    assert created["schema"]["$ref"] == "#/components/schemas/Hold"
    assert created["examples"]
    assert {"400", "401", "403", "409", "422"} <= set(operation["responses"])
    assert "insufficient_funds" in str(operation["responses"]["409"])
    assert not idempotency_key_required(operation)


def test_wallet_hold_capture_and_void_document_their_shapes_and_errors(paths):
    capture = paths["/api/v1/wallets/holds/{hold_id}/capture"]["post"]
    void = paths["/api/v1/wallets/holds/{hold_id}/void"]["post"]

    assert capture["responses"]["201"]["content"]["application/json"]["schema"]["$ref"] == (
        "#/components/schemas/WalletHoldCaptureResult")
    assert void["responses"]["200"]["content"]["application/json"]["schema"]["$ref"] == (
        "#/components/schemas/HoldVoidResult")
    for operation, codes in ((capture, ["idempotency_key_missing", "hold_not_found", "hold_not_active",
                                        "capture_exceeds_hold"]),
                             (void, ["hold_not_found", "hold_not_active"])):
        assert {"400", "401", "403", "404", "409"} <= set(operation["responses"])
        assert all(code in str(operation["responses"]) for code in codes)
    assert idempotency_key_required(capture) and not idempotency_key_required(void)


def test_the_wallet_balance_documents_available_amounts():
    schemas = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]

    assert "available_totals" in schemas["WalletBalance"]["properties"]
    assert "available" in schemas["WalletAccount"]["properties"]
    assert schemas["WalletHoldCaptureResult"]["properties"]["transaction"]["allOf"][0]["$ref"] == (
        "#/components/schemas/WalletTransaction")
