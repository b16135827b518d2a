"""Issue 14, item 5: input PostgreSQL refuses, or Python chokes on, is a 400 everywhere, never a 500.

NUL and the other C0 control characters (and DEL) in a decoded path or query parameter are
refused by one middleware (`mintguard_site/input_guard.py`) before any view runs: API routes
answer problem+json `invalid_parameter`, dashboard and admin pages Django's 400. JSON nesting is
bounded by the parser (400 `malformed_request`), and a NUL inside a JSON string is a 422 that
stores nothing. Every case runs on SQLite and PostgreSQL.
"""

import json

import pytest

from ledger.models import Account, Posting, Transaction
from mintguard_site.api.idempotency import IdempotencyKey
from payments.models import Order
from wallets.models import Wallet

pytestmark = pytest.mark.django_db

# (name, path with "{account}" replaced by one of the client's accounts)
API_CASES = [
    ("NUL in the wallet balance path", "/api/v1/wallets/user%00ana/balance"),
    ("SOH in the wallet balance path", "/api/v1/wallets/user%01ana/balance"),
    ("DEL in the wallet balance path", "/api/v1/wallets/user%7Fana/balance"),
    ("NUL in an account id", "/api/v1/accounts/%00"),
    ("NUL in a statement path", "/api/v1/accounts/a%00b/statement"),
    ("NUL in a transfer id", "/api/v1/transfers/%00"),
    ("NUL in an order id", "/api/v1/orders/%00"),
    ("NUL in an order's ledger path", "/api/v1/orders/x%00/ledger"),
    ("NUL in ?user_id=", "/api/v1/orders?user_id=user%00ana"),
    ("NUL in ?status=", "/api/v1/orders?status=PAID%00"),
    ("NUL in ?cursor=", "/api/v1/accounts?cursor=%00"),
    ("NUL in ?limit=", "/api/v1/accounts?limit=5%00"),
    ("NUL in a query key", "/api/v1/accounts?li%00mit=5"),
    ("unit separator in ?user_id=", "/api/v1/orders?user_id=a%1Fb"),
    ("newline in ?user_id=", "/api/v1/orders?user_id=a%0Ab"),
    ("NUL in a statement's cursor", "/api/v1/accounts/{account}/statement?cursor=a%00"),
    ("NUL in the schema's query", "/api/schema/?format=%00"),
]

# (name, path), fetched by a signed-in operator
DASHBOARD_CASES = [
    ("orders search", "/orders/?q=%00"),
    ("orders search with an escape", "/orders/?q=%1B%5B2J"),
    ("orders search with a raw NUL byte", "/orders/?q=a\x00b"),
    ("orders status", "/orders/?status=PAID%00"),
    ("order detail path", "/orders/a%00b/"),
    ("pending search", "/pending/?q=%00"),
    ("refunds search and currency", "/refunds/?q=a%00&currency=US%00D"),
    ("accounts search", "/ledger/?q=%00"),
    ("accounts currency", "/ledger/?currency=%00"),
    ("account detail path", "/ledger/accounts/%00/"),
    ("transaction detail path", "/ledger/transactions/%00/"),
    ("wallets user_id", "/wallets/?user_id=user%00ana"),
    ("reconciliation run", "/reconciliation/?run=1%00"),
    ("audit actor", "/audit/?actor=%00"),
    ("audit search", "/audit/?q=%00"),
    ("api keys cursor", "/api-keys/?cursor=%00"),
    ("admin changelist search", "/admin/ledger/account/?q=%00"),
    ("admin change page path", "/admin/ledger/account/%00/change/"),
    ("admin search with DEL", "/admin/payments/order/?q=%7F"),
]


@pytest.mark.parametrize("name,path", API_CASES, ids=[case[0] for case in API_CASES])
def test_control_characters_in_an_api_path_or_query_are_a_400_problem(api, name, path):
    account = api.post("/api/v1/accounts", {"owner_name": "Target"}, format="json").json()["id"]

    response = api.get(path.replace("{account}", account))

    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_parameter"


def test_control_characters_in_an_api_path_are_refused_before_anything_is_stored(api):
    account = api.post("/api/v1/accounts", {"owner_name": "Target"}, format="json").json()["id"]

    deposit = api.post(f"/api/v1/accounts/{account}%00/deposit", {"amount": 500}, format="json",
                       HTTP_IDEMPOTENCY_KEY="nul-in-path")
    topup = api.post("/api/v1/wallets/topup?note=%00", {"user_id": "ana", "amount": 500, "reference_id": "t-1"},
                     format="json")

    assert (deposit.status_code, topup.status_code) == (400, 400)
    assert Posting.objects.count() == 0
    assert IdempotencyKey.objects.count() == 0
    assert Wallet.objects.count() == 0


@pytest.mark.parametrize("name,path", DASHBOARD_CASES, ids=[case[0] for case in DASHBOARD_CASES])
def test_control_characters_in_a_dashboard_path_or_query_are_a_400(client, operator_user, name, path):
    operator = operator_user("admin")
    if path.startswith("/admin/"):  # the Django admin wants staff; a superuser passes its every check
        operator.is_staff = operator.is_superuser = True
        operator.save()
    client.force_login(operator)

    response = client.get(path)

    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"].startswith("text/html")  # Django's 400 page, not the API's problem


def test_control_characters_are_refused_before_login_too(client):
    response = client.get("/login/?next=/orders/%00")

    assert response.status_code == 400


def test_a_clean_request_passes_the_guard(api, client, operator_user):
    client.force_login(operator_user("viewer"))

    assert api.get("/api/v1/orders?user_id=user-ana&limit=5").status_code == 200
    assert client.get("/wallets/?user_id=caf%C3%A9").status_code == 200
    assert client.get("/ledger/?q=%25%30%30").status_code == 200  # "%00" as text, not a NUL


# --- JSON bodies ------------------------------------------------------------------------------


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("path", ["/api/v1/accounts", "/api/v1/transfers", "/api/v1/transfers/batch",
                                  "/api/v1/wallets/topup", "/api/v1/orders", "/api/v1/checkout"])
def test_a_thousand_nested_brackets_are_a_400_malformed_request(api, path):
    response = api.post(path, data=nested(1000), content_type="application/json",
                        HTTP_IDEMPOTENCY_KEY="deep-nesting")

    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "malformed_request"
    assert Transaction.objects.count() == 0


def test_nesting_far_beyond_the_recursion_limit_is_a_400_not_a_500(api):
    body = '{"transfers": ' + nested(200_000) + "}"

    response = api.post("/api/v1/transfers/batch", data=body, content_type="application/json",
                        HTTP_IDEMPOTENCY_KEY="very-deep-nesting")

    assert response.status_code == 400
    assert response.json()["code"] == "malformed_request"


def test_64_levels_of_nesting_are_parsed_and_65_are_refused(api):
    deepest_allowed = api.post("/api/v1/accounts", data=nested(64), content_type="application/json")
    too_deep = api.post("/api/v1/accounts", data=nested(65), content_type="application/json")

    assert (deepest_allowed.status_code, deepest_allowed.json()["code"]) == (422, "validation_error")
    assert (too_deep.status_code, too_deep.json()["code"]) == (400, "malformed_request")


def test_nested_objects_are_bounded_like_nested_lists(api):
    body = '{"a": ' * 100 + "1" + "}" * 100

    response = api.post("/api/v1/accounts", data=body, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "malformed_request"


def test_brackets_inside_a_json_string_are_not_nesting(api):
    response = api.post("/api/v1/accounts", {"owner_name": "[" * 60, "currency": "USD"}, format="json")

    assert response.status_code == 201
    assert Account.objects.filter(name="[" * 60).exists()


def test_a_thousand_transfers_in_a_batch_are_not_too_deep(api):
    source = api.post("/api/v1/accounts", {"owner_name": "Source"}, format="json").json()["id"]
    destination = api.post("/api/v1/accounts", {"owner_name": "Destination"}, format="json").json()["id"]
    funded = api.post(f"/api/v1/accounts/{source}/deposit", {"amount": 1000}, format="json", HTTP_IDEMPOTENCY_KEY="fund")
    assert funded.status_code == 201, funded.content
    transfers = [{"source_account_id": source, "destination_account_id": destination, "amount": 1}] * 1000

    response = api.post("/api/v1/transfers/batch", {"transfers": transfers}, format="json",
                        HTTP_IDEMPOTENCY_KEY="batch")

    assert response.status_code == 201, response.content[:300]
    assert response.json()["count"] == 1000


# (path, body with the NUL in one text field); "{account}" is one of the client's accounts.
NUL_IN_TEXT_FIELDS = [
    ("/api/v1/accounts", {"owner_name": "Ana\u0000"}),
    ("/api/v1/accounts/{account}/deposit", {"amount": 5, "description": "a\u0000b"}),
    ("/api/v1/accounts/{account}/withdraw", {"amount": 5, "description": "\u0000"}),
    ("/api/v1/transfers", {"source_account_id": "{account}", "destination_account_id": "{other}", "amount": 5,
                           "description": "rent\u0000"}),
    ("/api/v1/wallets/topup", {"user_id": "ana\u0000", "amount": 5, "reference_id": "r-1"}),
    ("/api/v1/wallets/topup", {"user_id": "ana", "amount": 5, "reference_id": "r-\u0000"}),
    ("/api/v1/wallets/bonus", {"user_id": "ana", "amount": 5, "reference_id": "r-2", "description": "\u0000"}),
    ("/api/v1/wallets/spend", {"user_id": "\u0000", "amount": 5, "reference_id": "r-3"}),
    ("/api/v1/orders", {"user_id": "ana\u0000", "amount": 5}),
    ("/api/v1/orders", {"user_id": "ana", "amount": 5, "seller_id": "s\u0000"}),
    ("/api/v1/orders", {"user_id": "ana", "amount": 5, "description": "mug\u0000"}),
    ("/api/v1/checkout", {"buyer_id": "\u0000ana", "amount": 5}),
    ("/api/v1/checkout", {"buyer_id": "ana", "seller_id": "\u0000", "amount": 5}),
    ("/api/v1/accounts/{account}/deposit", {"amount": 5, "descr\u0000iption": "x"}),
]


@pytest.mark.parametrize("path,body", NUL_IN_TEXT_FIELDS, ids=[f"{p} {sorted(b)}" for p, b in NUL_IN_TEXT_FIELDS])
def test_a_nul_in_a_json_text_field_is_a_422_and_stores_nothing(api, path, body):
    account = api.post("/api/v1/accounts", {"owner_name": "Target"}, format="json").json()["id"]
    other = api.post("/api/v1/accounts", {"owner_name": "Other"}, format="json").json()["id"]
    accounts_before = Account.objects.count()
    text = json.dumps(body).replace("{account}", account).replace("{other}", other)

    response = api.post(path.replace("{account}", account), data=text, content_type="application/json",
                        HTTP_IDEMPOTENCY_KEY=f"nul-{len(text)}")

    assert response.status_code == 422, response.content[:300]
    assert response.json()["code"] == "validation_error"
    assert Account.objects.count() == accounts_before
    assert Transaction.objects.count() == 0
    assert Order.objects.count() == 0
    assert Wallet.objects.count() == 0


# --- non-ASCII digits -------------------------------------------------------------------------


@pytest.mark.parametrize("run", ["²", "٣", "１", "99999999999999999999999", "-1", "1.0"])
def test_a_reconciliation_run_that_is_not_ascii_digits_is_ignored_with_a_clean_200(client, operator_user, run):
    client.force_login(operator_user("viewer"))

    response = client.get("/reconciliation/", {"run": run})

    assert response.status_code == 200
    assert response.context["selected"] is None


@pytest.mark.parametrize("limit", ["²", "٣", "１", "99999999999999999999999"])
def test_a_limit_that_is_not_ascii_digits_is_a_400(api, limit):
    response = api.get("/api/v1/accounts", {"limit": limit})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_parameter"
