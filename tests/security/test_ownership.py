"""Another API client gets 404 on every route that takes an id, and moves nothing (issue 14, item 9).

The table below names every API route with a path parameter. It is checked against the URL
resolver, so a new route that takes an id fails this test until it is added here.
"""

import uuid

import pytest
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver

from events.models import Delivery, WebhookEndpoint
from events.services import event_record
from ledger.models import Account, Hold, Posting, Transaction
from mintguard_site.api.models import IdempotencyKey
from payments.models import Order, Payment, Refund

from ..payments.helpers import create_order, paid_order

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
API_PREFIX = "api/v1/"


def routes_taking_an_id() -> set[str]:
    """Return the names of the API routes whose path holds a parameter, walking the whole URLconf."""
    found = set()

    def walk(patterns, prefix: str, parameterised: bool):
        for entry in patterns:
            pattern = entry.pattern
            route = prefix + str(pattern)
            takes_id = parameterised or bool(getattr(pattern, "converters", None)) or bool(pattern.regex.groups)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, route, takes_id)
            elif isinstance(entry, URLPattern) and takes_id and route.startswith(API_PREFIX):
                assert entry.name, f"API route {route} needs a name to be listed in the ownership table"
                found.add(entry.name)

    walk(get_resolver().url_patterns, "", False)
    return found


def money_key() -> dict:
    return {"HTTP_IDEMPOTENCY_KEY": f"intruder-{uuid.uuid4()}"}


# route name -> (method, path built from client A's resources, body, headers, the 404's code)
ROUTES = {
    "account-detail": ("get", "/api/v1/accounts/{funded}", None, dict, "account_not_found"),
    "account-deposit": ("post", "/api/v1/accounts/{funded}/deposit", {"amount": 100}, money_key, "account_not_found"),
    "account-withdraw": ("post", "/api/v1/accounts/{funded}/withdraw", {"amount": 100}, money_key,
                         "account_not_found"),
    "account-statement": ("get", "/api/v1/accounts/{funded}/statement", None, dict, "account_not_found"),
    "transfer-detail": ("get", "/api/v1/transfers/{transfer}", None, dict, "transfer_not_found"),
    "transaction-reverse": ("post", "/api/v1/transactions/{transfer}/reverse", {}, money_key,
                            "transaction_not_found"),
    "hold-detail": ("get", "/api/v1/holds/{hold}", None, dict, "hold_not_found"),
    "hold-capture": ("post", "/api/v1/holds/{hold}/capture", {}, money_key, "hold_not_found"),
    "hold-void": ("post", "/api/v1/holds/{hold}/void", {}, money_key, "hold_not_found"),
    "wallet-balance": ("get", "/api/v1/wallets/{wallet_user}/balance", None, dict, "wallet_not_found"),
    "wallet-hold-capture": ("post", "/api/v1/wallets/holds/{wallet_hold}/capture", {}, money_key, "hold_not_found"),
    "wallet-hold-void": ("post", "/api/v1/wallets/holds/{wallet_hold}/void", {}, money_key, "hold_not_found"),
    "order-detail": ("get", "/api/v1/orders/{paid_order}", None, dict, "order_not_found"),
    "order-pay": ("post", "/api/v1/orders/{unpaid_order}/pay", {}, money_key, "order_not_found"),
    "order-authorize": ("post", "/api/v1/orders/{unpaid_order}/authorize", {}, money_key, "order_not_found"),
    "order-capture": ("post", "/api/v1/orders/{paid_order}/capture", {}, money_key, "order_not_found"),
    "order-void": ("post", "/api/v1/orders/{paid_order}/void", {}, money_key, "order_not_found"),
    "order-refund": ("post", "/api/v1/orders/{paid_order}/refund", {"amount": 100, "reason": "not yours"},
                     money_key, "order_not_found"),
    "order-ledger": ("get", "/api/v1/orders/{paid_order}/ledger", None, dict, "order_not_found"),
    "event-detail": ("get", "/api/v1/events/{event}", None, dict, "event_not_found"),
    "webhook-endpoint-detail": ("delete", "/api/v1/webhook-endpoints/{endpoint}", None, dict,
                                "webhook_endpoint_not_found"),
    "webhook-endpoint-rotate-secret": ("post", "/api/v1/webhook-endpoints/{endpoint}/rotate-secret", {}, dict,
                                       "webhook_endpoint_not_found"),
    "webhook-endpoint-deliveries": ("get", "/api/v1/webhook-endpoints/{endpoint}/deliveries", None, dict,
                                    "webhook_endpoint_not_found"),
    "webhook-delivery-resend": ("post", "/api/v1/webhook-endpoints/{endpoint}/deliveries/{event}/resend", {}, dict,
                                "webhook_endpoint_not_found"),
}

# Routes over the platform's own books (scope `books`), not a client's rows: every key holding `books`
# gets the same answer and a key without it 403 (docs/api.md, Settlement reconciliation).
PLATFORM_ROUTES = {"settlement-detail": "/api/v1/settlements/{run}"}


def resources_of(api) -> dict:
    """Create, through client A's own API, one resource of every kind a route addresses by id."""
    def account(name: str) -> str:
        response = api.post("/api/v1/accounts", {"owner_name": name}, format="json")
        assert response.status_code == 201, response.content
        return response.json()["id"]

    funded, other = account("Alice"), account("Alice's savings")
    deposited = api.post(f"/api/v1/accounts/{funded}/deposit", {"amount": 10_000}, format="json",
                         HTTP_IDEMPOTENCY_KEY="fund")
    assert deposited.status_code == 201, deposited.content
    transfer = api.post("/api/v1/transfers", {"source_account_id": funded, "destination_account_id": other,
                                              "amount": 2_500}, format="json", HTTP_IDEMPOTENCY_KEY="move")
    assert transfer.status_code == 201, transfer.content
    hold = api.post("/api/v1/holds", {"source_account_id": funded, "destination_account_id": other, "amount": 300},
                    format="json", HTTP_IDEMPOTENCY_KEY="reserve")
    assert hold.status_code == 201, hold.content
    topup = api.post("/api/v1/wallets/topup", {"user_id": "user-alice", "amount": 700, "reference_id": "top"},
                     format="json")
    assert topup.status_code == 201, topup.content
    wallet_hold = api.post("/api/v1/wallets/hold", {"user_id": "user-alice", "amount": 200, "reference_id": "hold"},
                           format="json")
    assert wallet_hold.status_code == 201, wallet_hold.content
    with override_settings(MINTGUARD_WEBHOOK_ALLOW_INSECURE=True):  # a loopback URL; nothing is sent to it here
        endpoint = api.post("/api/v1/webhook-endpoints", {"url": "http://127.0.0.1:9/hook", "events": ["*"]},
                            format="json")
    assert endpoint.status_code == 201, endpoint.content
    event = event_record(type="account.deposit", owner=api.api_client.owner, data=deposited.json())
    return {
        "funded": funded, "transfer": transfer.json()["id"], "hold": hold.json()["id"], "wallet_user": "user-alice",
        "wallet_hold": wallet_hold.json()["id"],
        "paid_order": paid_order(api, amount=1_200)["id"], "unpaid_order": create_order(api, amount=900)["id"],
        "endpoint": endpoint.json()["id"], "event": event.id,
    }


def books() -> dict:
    """Everything a request could have moved or stored: balances, ledger rows, orders, payments, keys."""
    return {
        "balances": sorted(Account.objects.with_balance().values_list("id", "balance", "available")),
        "transactions": Transaction.objects.count(),
        "postings": Posting.objects.count(),
        "orders": sorted(Order.objects.values_list("id", "status", "refunded_amount")),
        "payments": Payment.objects.count(),
        "refunds": Refund.objects.count(),
        "holds": sorted(Hold.objects.values_list("id", "status", "captured_amount")),
        "idempotency_keys": IdempotencyKey.objects.count(),
        "webhook_endpoints": sorted(WebhookEndpoint.objects.values_list("id", "enabled", "secret_encrypted",
                                                                        "deleted_at")),
        "deliveries": sorted(Delivery.objects.values_list("id", "status", "next_attempt_at")),
    }


def test_another_client_gets_404_on_every_route_that_takes_an_id_and_moves_nothing(make_api_client):
    # given client A's accounts, transfer, wallet and orders, and client B with its own key
    alice, intruder = make_api_client("alice"), make_api_client("intruder")
    ids = resources_of(alice)
    assert set(ROUTES) | set(PLATFORM_ROUTES) == routes_taking_an_id(), (
        "every API route with a path parameter belongs in ROUTES (or, for the platform's books, PLATFORM_ROUTES)")
    before = books()

    # when B addresses each of A's resources by id
    answers = {}
    for name, (method, template, body, headers, _) in ROUTES.items():
        path = template.format(**ids)
        answers[name] = getattr(intruder, method)(path, body, format="json", **headers())

    # then every answer is 404 problem+json with the resource's not-found code, and nothing moved or was stored
    outcomes = {name: (r.status_code, r["Content-Type"], r.json().get("code")) for name, r in answers.items()}
    assert outcomes == {name: (404, PROBLEM, code) for name, (*_, code) in ROUTES.items()}
    assert books() == before
    # and A still sees its own resources
    assert alice.get(f"/api/v1/accounts/{ids['funded']}").json()["balance"] == 7_500
    assert alice.get(f"/api/v1/transfers/{ids['transfer']}").status_code == 200


def test_a_platform_books_route_answers_every_client_alike(make_api_client):
    # given a settlement run, which belongs to the platform, not to a client
    from payments.services.settlements import settlement_import

    run = settlement_import(content=b"provider_reference,type,amount,currency,fee,settled_at\n",
                            file_name="empty.csv", created_by="test").run
    alice, intruder = make_api_client("alice"), make_api_client("intruder")

    # when two clients with every scope ask for it by id
    answers = [client.get(PLATFORM_ROUTES["settlement-detail"].format(run=run.pk)) for client in (alice, intruder)]

    # then both get the same run
    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json() == answers[1].json() and answers[0].json()["id"] == str(run.pk)
