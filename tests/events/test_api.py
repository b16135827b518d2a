"""The events and webhook endpoints API: every route, its refusals, ownership and scope."""

import base64

import pytest
import standardwebhooks
from django_tasks_db.models import DBTaskResult

from events import tasks
from events.models import Delivery, DeliveryStatus, WebhookEndpoint
from events.services import event_record
from mintguard_site.api.models import Scope

from ..security.test_api_key_scopes import assert_scope_denied, key_with

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
ENDPOINTS = "/api/v1/webhook-endpoints"


def create_endpoint(api, url: str, events=("*",), **extra):
    return api.post(ENDPOINTS, {"url": url, "events": list(events), **extra}, format="json")


def endpoint_of(api, url: str, **extra) -> dict:
    response = create_endpoint(api, url, **extra)
    assert response.status_code == 201, response.content
    return response.json()


def event_of(api, event_type: str = "order.paid", **data):
    return event_record(type=event_type, owner=api.api_client.owner, data={"id": "o-1", **data})


def assert_problem(response, status: int, code: str) -> dict:
    assert (response.status_code, response["Content-Type"]) == (status, PROBLEM), response.content
    body = response.json()
    assert body["code"] == code, body
    return body


# --- endpoints ---------------------------------------------------------------------------


def test_creating_an_endpoint_answers_201_with_its_secret_once(api, insecure, receiver):
    response = create_endpoint(api, receiver.url, events=["order.paid", "order.refunded", "order.paid"],
                               description="Fulfilment")

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "url", "events", "description", "enabled", "created_at", "updated_at", "secret"}
    assert (body["url"], body["events"], body["enabled"]) == (receiver.url, ["order.paid", "order.refunded"], True)
    # a Standard Webhooks secret: whsec_ + base64 of 24 random bytes, which the reference library accepts
    assert body["secret"].startswith("whsec_") and len(base64.b64decode(body["secret"][6:])) == 24
    standardwebhooks.Webhook(body["secret"])
    # and it is never shown again
    assert "secret" not in api.get(f"{ENDPOINTS}/{body['id']}").json()
    assert all("secret" not in e for e in api.get(ENDPOINTS).json()["results"])


def test_subscribing_to_star_keeps_only_the_star(api, insecure, receiver):
    assert endpoint_of(api, receiver.url, events=["order.paid", "*"])["events"] == ["*"]


def test_endpoints_list_newest_first_in_cursor_pages_and_get_one(api, insecure, receiver):
    ids = [endpoint_of(api, f"{receiver.url}&n={n}")["id"] for n in range(3)]

    first = api.get(f"{ENDPOINTS}?limit=2").json()
    second = api.get(f"{ENDPOINTS}?limit=2&cursor={first['next_cursor']}").json()

    assert [e["id"] for e in first["results"] + second["results"]] == ids[::-1]
    assert second["next_cursor"] is None
    assert api.get(f"{ENDPOINTS}/{ids[0]}").json()["url"] == f"{receiver.url}&n=0"


def test_patch_changes_the_url_the_event_types_and_the_switch(api, insecure, receiver):
    endpoint = endpoint_of(api, receiver.url)

    response = api.patch(f"{ENDPOINTS}/{endpoint['id']}", {"url": f"{receiver.url}&v=2", "events": ["hold.created"],
                                                            "enabled": False}, format="json")

    assert response.status_code == 200, response.content
    assert {k: response.json()[k] for k in ("url", "events", "enabled")} == {
        "url": f"{receiver.url}&v=2", "events": ["hold.created"], "enabled": False}
    assert api.patch(f"{ENDPOINTS}/{endpoint['id']}", {}, format="json").json()["enabled"] is False


def test_delete_hides_the_endpoint_and_keeps_its_deliveries(api, insecure, receiver):
    endpoint = endpoint_of(api, receiver.url)
    tasks.event_dispatch.call(str(event_of(api).id))

    assert api.delete(f"{ENDPOINTS}/{endpoint['id']}").status_code == 204

    assert_problem(api.get(f"{ENDPOINTS}/{endpoint['id']}"), 404, "webhook_endpoint_not_found")
    assert api.get(ENDPOINTS).json()["results"] == []
    assert_problem(api.delete(f"{ENDPOINTS}/{endpoint['id']}"), 404, "webhook_endpoint_not_found")
    stored = WebhookEndpoint.objects.get()
    assert stored.deleted_at is not None and not stored.enabled and Delivery.objects.count() == 1


def test_rotate_secret_answers_a_new_secret_and_the_old_one_keeps_signing(api, insecure, receiver):
    endpoint = endpoint_of(api, receiver.url)

    response = api.post(f"{ENDPOINTS}/{endpoint['id']}/rotate-secret", {}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["secret"].startswith("whsec_") and response.json()["secret"] != endpoint["secret"]
    tasks.event_dispatch.call(str(event_of(api).id))
    tasks.delivery_attempt.call(Delivery.objects.get().pk)
    [request] = receiver.received
    for secret in (endpoint["secret"], response.json()["secret"]):
        standardwebhooks.Webhook(secret).verify(request.body, request.headers)


def test_deliveries_lists_the_attempts_newest_first(api, insecure, receiver):
    receiver.answer(500)
    endpoint = endpoint_of(api, receiver.url)
    event = event_of(api)
    tasks.event_dispatch.call(str(event.id))
    delivery = Delivery.objects.get()
    tasks.delivery_attempt.call(delivery.pk)
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)  # due again now
    tasks.delivery_attempt.call(delivery.pk)

    body = api.get(f"{ENDPOINTS}/{endpoint['id']}/deliveries?limit=1").json()
    rest = api.get(f"{ENDPOINTS}/{endpoint['id']}/deliveries?cursor={body['next_cursor']}").json()

    attempts = body["results"] + rest["results"]
    assert [(a["event_id"], a["attempt"], a["status_code"], a["error"]) for a in attempts] == [
        (str(event.id), 2, 204, ""), (str(event.id), 1, 500, "")]
    assert set(attempts[0]) == {"event_id", "attempt", "status_code", "error", "duration_ms", "created_at"}
    assert rest["next_cursor"] is None


def test_resend_delivers_an_event_again_now(api, insecure, receiver):
    endpoint = endpoint_of(api, receiver.url)
    event = event_of(api)
    tasks.event_dispatch.call(str(event.id))
    tasks.delivery_attempt.call(Delivery.objects.get().pk)
    DBTaskResult.objects.all().delete()

    response = api.post(f"{ENDPOINTS}/{endpoint['id']}/deliveries/{event.id}/resend", {}, format="json")

    assert response.status_code == 202, response.content
    assert response.json()["event_id"] == str(event.id) and response.json()["status"] == "PENDING"
    [task] = DBTaskResult.objects.all()
    assert task.task_path == "events.tasks.delivery_attempt"
    assert tasks.delivery_attempt.call(*task.args_kwargs["args"]) == "DELIVERED"
    assert len(receiver.received) == 2 and Delivery.objects.get().status == DeliveryStatus.DELIVERED


def test_resend_of_an_event_the_endpoint_never_had_creates_its_delivery(api, insecure, receiver):
    endpoint = endpoint_of(api, receiver.url, events=["order.refunded"])
    event = event_of(api, "order.paid")

    response = api.post(f"{ENDPOINTS}/{endpoint['id']}/deliveries/{event.id}/resend", format="json")

    assert response.status_code == 202 and Delivery.objects.get().event_id == event.id


def test_resend_to_a_disabled_endpoint_is_409(api, insecure, receiver):
    endpoint = endpoint_of(api, receiver.url)
    api.patch(f"{ENDPOINTS}/{endpoint['id']}", {"enabled": False}, format="json")

    response = api.post(f"{ENDPOINTS}/{endpoint['id']}/deliveries/{event_of(api).id}/resend", format="json")

    assert_problem(response, 409, "webhook_endpoint_disabled")


# --- refusals ----------------------------------------------------------------------------


@pytest.mark.parametrize("events, code, field", [
    (["order.shipped"], "unknown_event_type", "events"),
    (["order.paid", "nope"], "unknown_event_type", "events"),
    ([], "validation_error", "events"),
    ("order.paid", "validation_error", "events"),
    ([42], "unknown_event_type", "events"),  # DRF reads 42 as "42"
])
def test_an_unknown_or_malformed_event_type_list_is_422(api, insecure, receiver, events, code, field):
    response = api.post(ENDPOINTS, {"url": receiver.url, "events": events}, format="json")

    assert field in assert_problem(response, 422, code)["errors"]
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize("url", ["ftp://hooks.example.com/x", "hooks.example.com/x", "https://", "https://u:p@[::1]/",
                                 "https://exa mple.com/", "https://x:99999/", "javascript:alert(1)"])
def test_a_malformed_url_is_422_invalid_webhook_url(api, url):
    body = assert_problem(create_endpoint(api, url), 422, "invalid_webhook_url")
    assert "url" in body["errors"]


def test_a_url_to_a_private_address_is_422_webhook_url_refused_on_create_and_on_update(api, insecure, receiver,
                                                                                        settings):
    endpoint = endpoint_of(api, receiver.url)
    settings.MINTGUARD_WEBHOOK_ALLOW_INSECURE = False

    assert_problem(create_endpoint(api, "https://169.254.169.254/latest/meta-data"), 422, "webhook_url_refused")
    assert_problem(api.patch(f"{ENDPOINTS}/{endpoint['id']}", {"url": "https://10.0.0.8/hook"}, format="json"),
                   422, "webhook_url_refused")
    assert_problem(create_endpoint(api, receiver.url), 422, "invalid_webhook_url")  # http:// without the switch
    assert WebhookEndpoint.objects.get().url == receiver.url


def test_an_unknown_field_or_a_bad_switch_is_422(api, insecure, receiver):
    endpoint = endpoint_of(api, receiver.url)

    assert_problem(create_endpoint(api, receiver.url, secret="mine"), 422, "validation_error")
    assert_problem(api.patch(f"{ENDPOINTS}/{endpoint['id']}", {"enabled": "maybe"}, format="json"), 422,
                   "validation_error")
    assert_problem(api.post(f"{ENDPOINTS}/{endpoint['id']}/rotate-secret", {"now": 1}, format="json"), 422,
                   "validation_error")


# --- events ------------------------------------------------------------------------------


def test_events_list_newest_first_filtered_by_type_and_paged(api):
    paid, refunded, paid_again = event_of(api, "order.paid"), event_of(api, "order.refunded"), event_of(api)

    everything = api.get("/api/v1/events").json()
    only_paid = api.get("/api/v1/events?type=order.paid&limit=1").json()
    next_paid = api.get(f"/api/v1/events?type=order.paid&limit=1&cursor={only_paid['next_cursor']}").json()

    assert [e["id"] for e in everything["results"]] == [str(e.id) for e in (paid_again, refunded, paid)]
    assert [e["id"] for e in only_paid["results"] + next_paid["results"]] == [str(paid_again.id), str(paid.id)]
    assert everything["results"][0] == {"id": str(paid_again.id), "type": "order.paid",
                                        "created_at": everything["results"][0]["created_at"], "data": {"id": "o-1"}}


def test_an_event_by_id_and_the_list_refusals(api):
    event = event_of(api, "hold.created", amount=300)

    assert api.get(f"/api/v1/events/{event.id}").json()["data"] == {"id": "o-1", "amount": 300}
    assert_problem(api.get("/api/v1/events/not-a-uuid"), 404, "event_not_found")
    assert_problem(api.get("/api/v1/events?type=order.shipped"), 400, "invalid_parameter")
    assert_problem(api.get("/api/v1/events?limit=0"), 400, "invalid_parameter")
    assert_problem(api.get("/api/v1/events?cursor=forged"), 400, "invalid_cursor")


# --- ownership and scope -----------------------------------------------------------------


def test_another_client_sees_none_of_a_clients_events_or_endpoints_and_changes_nothing(make_api_client, insecure,
                                                                                      receiver):
    alice, intruder = make_api_client("alice"), make_api_client("intruder")
    endpoint, event = endpoint_of(alice, receiver.url), event_of(alice)
    path = f"{ENDPOINTS}/{endpoint['id']}"

    assert intruder.get("/api/v1/events").json()["results"] == []
    assert intruder.get(ENDPOINTS).json()["results"] == []
    assert_problem(intruder.get(f"/api/v1/events/{event.id}"), 404, "event_not_found")
    for answer in (intruder.get(path), intruder.patch(path, {"enabled": False}, format="json"), intruder.delete(path),
                   intruder.post(f"{path}/rotate-secret", format="json"), intruder.get(f"{path}/deliveries"),
                   intruder.post(f"{path}/deliveries/{event.id}/resend", format="json")):
        assert_problem(answer, 404, "webhook_endpoint_not_found")
    # nor may it resend a client's event through its own endpoint
    own = endpoint_of(intruder, receiver.url)
    assert_problem(intruder.post(f"{ENDPOINTS}/{own['id']}/deliveries/{event.id}/resend", format="json"), 404,
                   "event_not_found")
    stored = WebhookEndpoint.objects.get(pk=endpoint["id"])
    assert stored.enabled and stored.deleted_at is None and stored.previous_secret_until is None
    assert not Delivery.objects.exists()


def test_every_route_needs_the_webhooks_scope(insecure, receiver):
    without = key_with(Scope.ACCOUNTS, Scope.WALLETS, Scope.PAYMENTS, Scope.BOOKS)

    for method, path in (("get", "/api/v1/events"), ("get", "/api/v1/events/x"), ("get", ENDPOINTS),
                         ("post", ENDPOINTS), ("patch", f"{ENDPOINTS}/x"), ("post", f"{ENDPOINTS}/x/rotate-secret"),
                         ("get", f"{ENDPOINTS}/x/deliveries"), ("post", f"{ENDPOINTS}/x/deliveries/y/resend")):
        assert_scope_denied(getattr(without, method)(path, {}, format="json"), "webhooks")
    assert key_with(Scope.WEBHOOKS, name="hooks").get(ENDPOINTS).status_code == 200
    assert not WebhookEndpoint.objects.exists()
