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
