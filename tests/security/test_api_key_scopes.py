"""API key scopes (issue 14, item 3): a key reaches only its scopes, and every route declares one.

docs/api.md, "Authentication and API-key scopes": `accounts`, `wallets`, `payments`, `webhooks`, `books`;
a route outside the key's scopes is 403 `scope_denied`; `GET /api/v1/ledger/summary` needs `books`.
"""

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver, path
from rest_framework.permissions import AllowAny
from rest_framework.test import APIClient

from audit.models import AuditAction, AuditEntry
from ledger.api.views import AccountListCreate
from ledger.models import Transaction
from mintguard_site.api.models import ApiClient, IdempotencyKey, Scope
from mintguard_site.api.services import api_client_create

from ..payments.helpers import paid_order

pytestmark = pytest.mark.django_db

# One route of each scope that has routes today, and its answer within the scope (a fresh client has
# no wallet: 404 from the view, past the scope check). `webhooks` has no route yet: its key reaches none.
ROUTE_OF_SCOPE = {
    Scope.ACCOUNTS: ("/api/v1/accounts", 200),
    Scope.WALLETS: ("/api/v1/wallets/user-1/balance", 404),
    Scope.PAYMENTS: ("/api/v1/orders", 200),
    Scope.BOOKS: ("/api/v1/ledger/summary", 200),
}
UNSCOPED_ROUTES = {"api/v1/webhooks/provider"}  # signed by the provider, called with no API key


def key_with(*scopes: str, name: str = "scoped") -> APIClient:
    client, key = api_client_create(name=name, scopes=scopes)
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    http.api_client = client
    return http


def assert_scope_denied(response, scope: str) -> None:
    assert response.status_code == 403, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "scope_denied" and f"'{scope}'" in body["detail"]


# --- the ledger summary ------------------------------------------------------------------


def test_a_key_without_books_gets_403_scope_denied_on_the_ledger_summary_and_sees_no_figure(api):
    paid_order(api, amount=98_765)
    payments_only = key_with(Scope.ACCOUNTS, Scope.WALLETS, Scope.PAYMENTS, Scope.WEBHOOKS)

    response = payments_only.get("/api/v1/ledger/summary")

    assert_scope_denied(response, "books")
    assert b"98765" not in response.content and b"currencies" not in response.content


def test_a_key_with_books_gets_the_ledger_summary(api):
    paid_order(api, amount=98_765)

    response = key_with(Scope.BOOKS).get("/api/v1/ledger/summary")

    assert response.status_code == 200
    assert response.json()["currencies"]["USD"]["debits"] == 98_765


# --- every scope against every other ------------------------------------------------------


@pytest.mark.parametrize("held", Scope.values)
def test_a_key_with_one_scope_reaches_its_routes_and_gets_scope_denied_on_every_other(held):
    http = key_with(held)

    for scope, (route, status) in ROUTE_OF_SCOPE.items():
        response = http.get(route)
        if scope == held:
            assert response.status_code == status and response.json().get("code") != "scope_denied", route
        else:
            assert_scope_denied(response, scope)


def test_a_write_outside_the_keys_scopes_is_refused_before_it_reserves_a_key_or_moves_money():
    http = key_with(Scope.WALLETS)

    response = http.post("/api/v1/transfers", {
        "source_account_id": "00000000-0000-0000-0000-000000000001",
        "destination_account_id": "00000000-0000-0000-0000-000000000002", "amount": 100,
    }, format="json", HTTP_IDEMPOTENCY_KEY="transfer-1")

    assert_scope_denied(response, "accounts")
    assert not IdempotencyKey.objects.exists() and not Transaction.objects.exists()


def test_checking_the_scope_costs_no_query_once_the_key_is_cached():
    http = key_with(Scope.PAYMENTS)
    http.get("/api/v1/orders")  # reads the key (cached from now on) and writes last_used_at

    with CaptureQueriesContext(connection) as captured:
        response = http.get("/api/v1/ledger/summary")

    assert_scope_denied(response, "books")
    assert captured.captured_queries == []


def test_the_browsable_api_answers_scope_denied_with_403_not_a_crash():
    response = key_with(Scope.PAYMENTS).get("/api/v1/accounts", HTTP_ACCEPT="text/html")

    assert response.status_code == 403


def test_operators_are_not_bound_by_scopes_and_keep_their_permissions(operator_user):
    operator = APIClient()
    operator.force_login(operator_user("viewer"))

    assert operator.get("/api/v1/ledger/summary").status_code == 200
    assert operator.post("/api/v1/accounts", {"name": "x", "currency": "USD"}, format="json",
                         HTTP_IDEMPOTENCY_KEY="a-1").status_code == 403


# --- failing closed --------------------------------------------------------------------------


def api_v1_patterns(resolver=None, prefix=""):
    """Yield (route, URLPattern) for every pattern of the project's URLconf under api/v1/."""
    for pattern in (resolver or get_resolver()).url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from api_v1_patterns(pattern, route)
        elif isinstance(pattern, URLPattern) and route.startswith("api/v1/"):
            yield route, pattern


def test_every_api_route_declares_a_known_scope_except_the_provider_webhook():
    routes = dict(api_v1_patterns())

    undeclared = [route for route, pattern in routes.items()
                  if route not in UNSCOPED_ROUTES and getattr(pattern.callback, "required_scope", None) not in Scope]

    assert len(routes) >= 20 and not undeclared, undeclared
    webhook = routes["api/v1/webhooks/provider"].callback.cls
    assert webhook.permission_classes == [AllowAny] and webhook.authentication_classes == []


def test_the_ledger_summary_is_declared_books_and_the_accounts_routes_accounts():
    routes = dict(api_v1_patterns())

    assert routes["api/v1/ledger/summary"].callback.required_scope == Scope.BOOKS
    assert {routes[r].callback.required_scope for r in routes if r.startswith(("api/v1/accounts", "api/v1/transfers"))} \
        == {Scope.ACCOUNTS}


# A route wired without `scoped(...)`: what a future route that forgot its scope looks like.
urlpatterns = [path("api/v1/forgotten", AccountListCreate.as_view())]


@pytest.mark.urls(__name__)
def test_a_route_that_declares_no_scope_refuses_a_key_with_every_scope(operator_user):
    response = key_with(*Scope.values).get("/api/v1/forgotten")

    assert response.status_code == 403 and response.json()["code"] == "scope_denied"
    operator = APIClient()
    operator.force_login(operator_user("viewer"))
    assert operator.get("/api/v1/forgotten").status_code == 200


# --- creating scoped keys -------------------------------------------------------------------


def test_keys_created_without_scopes_have_every_scope(make_api_client):
    assert make_api_client().api_client.scopes == Scope.values
    assert api_client_create(name="plain")[0].scopes == Scope.values


def test_create_api_key_with_scopes_prints_a_key_limited_to_them(capsys):
    call_command("create_api_key", "--name", "books-reader", "--scopes", " books, payments,books")

    key = capsys.readouterr().out.strip().splitlines()[-1]
    assert ApiClient.objects.get(name="books-reader").scopes == ["payments", "books"]
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert http.get("/api/v1/ledger/summary").status_code == 200
    assert_scope_denied(http.get("/api/v1/accounts"), "accounts")


@pytest.mark.parametrize("scopes", ["accounts,ledger", "BOOKS", "", " , "])
def test_create_api_key_refuses_an_unknown_or_empty_scope_list_and_creates_nothing(scopes):
    with pytest.raises(CommandError, match="--scopes"):
        call_command("create_api_key", "--name", "bad-scopes", "--scopes", scopes)

    assert not ApiClient.objects.exists()


def test_the_dashboard_creates_a_key_with_the_scopes_ticked_and_lists_them(operator_user, client):
    client.force_login(operator_user("admin"))

    form = client.get("/api-keys/").content.decode()
    response = client.post("/api-keys/new/", {"name": "wallet-service", "scopes": ["wallets", "accounts"]})

    assert form.count('type="checkbox" name="scopes"') == len(Scope.values) == form.count("checked")
    assert response.status_code == 201
    created = ApiClient.objects.get(name="wallet-service")
    assert created.scopes == ["accounts", "wallets"]
    entry = AuditEntry.objects.get(action=AuditAction.API_KEY_CREATED)
    assert entry.after["scopes"] == ["accounts", "wallets"]
    key = response.content.decode().split('<div class="secret">')[1].split("</div>")[0]
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert http.get("/api/v1/accounts").status_code == 200
    assert_scope_denied(http.get("/api/v1/orders"), "payments")
    listing = client.get("/api-keys/").content.decode()
    assert '<span class="badge">wallets</span>' in listing


@pytest.mark.parametrize("scopes", [[], ["wallets", "root"]])
def test_the_dashboard_refuses_no_scope_or_an_unknown_one_and_creates_nothing(operator_user, client, scopes):
    client.force_login(operator_user("admin"))

    response = client.post("/api-keys/new/", {"name": "nothing", "scopes": scopes})

    assert response.status_code == 422
    assert not ApiClient.objects.exists() and not AuditEntry.objects.exists()


def test_the_django_admin_creates_a_key_with_the_scopes_ticked(admin_client):
    form = admin_client.get("/admin/api/apiclient/add/").content.decode()

    admin_client.post("/admin/api/apiclient/add/", {"name": "admin-made", "scopes": ["books"]})

    assert form.count('type="checkbox" name="scopes"') == len(Scope.values)
    assert ApiClient.objects.get(name="admin-made").scopes == ["books"]
