"""The events pages: events, their deliveries, webhook endpoints (never a secret), and the audited
actions: resending a delivery and enabling or disabling an endpoint, each in two steps with a note."""

import re
import uuid
from datetime import UTC

import pytest
from django.test import Client
from django_tasks_db.models import DBTaskResult

from audit.models import AuditEntry
from events import views
from events.models import Delivery, DeliveryStatus, WebhookEndpoint
from events.services import operator_delivery_resend, operator_endpoint_set_enabled
from mintguard_site.api.services import api_client_create

from ..dashboard_helpers import htmx
from ..list_paging import assert_pages_both_ways, result_count
from .factories import delivery, endpoint, event

pytestmark = pytest.mark.django_db

_EVENT_LINK = re.compile(r'<a class="mono" href="/events/([0-9a-f-]{36})/">')
_ENDPOINT_LINK = re.compile(r'<a class="mono" href="/events/endpoints/([0-9a-f-]{36})/">')
NOWHERE = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def shop() -> str:
    """The owner string of an API client named "Acme shop"."""
    client, _ = api_client_create(name="Acme shop")
    return client.owner


@pytest.fixture
def rows(shop):
    """An event delivered after a 500 and a timeout, its endpoint, and another endpoint it never reached."""
    hook = endpoint(owner=shop, url="https://acme.example.com/hooks", description="Fulfilment")
    later = endpoint(owner=shop, url="https://acme.example.com/later", events=["order.refunded"])
    paid = event(owner=shop, data={"id": "order-1", "status": "PAID"})
    sent = delivery(hook, paid, 500, "Connection refused", 204)
    return {"hook": hook, "later": later, "paid": paid, "sent": sent}


def listed(html: str, pattern=_EVENT_LINK) -> list[str]:
    return pattern.findall(html)


def resend_url(of, to) -> str:
    return f"/events/{of.pk}/deliveries/{to.pk}/resend/"


def state_url(hook) -> str:
    return f"/events/endpoints/{hook.pk}/state/"


def every_page(rows) -> list[str]:
    paid, hook, later = rows["paid"], rows["hook"], rows["later"]
    return ["/events/", f"/events/{paid.pk}/", f"/events/{paid.pk}/deliveries/{hook.pk}/",
            f"/events/{paid.pk}/deliveries/{later.pk}/", "/events/endpoints/", f"/events/endpoints/{hook.pk}/"]


# --- events --------------------------------------------------------------------------------


def test_the_events_list_shows_each_event_with_its_client_and_deliveries_newest_first(viewer, rows, shop):
    failing = event(owner=shop, type="order.refunded")
    delivery(rows["later"], failing, 503, failed=True)
    waiting = event(owner=shop, dispatched=False)

    html = viewer.get("/events/").content.decode()

    assert listed(html) == [str(waiting.pk), str(failing.pk), str(rows["paid"].pk)]
    assert "Acme shop (API client)" in html and '<td class="mono">order.refunded</td>' in html
    assert '<span class="badge status-delivered">1 delivered</span>' in html
    assert '<span class="badge status-failed">1 failed</span>' in html and "not dispatched yet" in html
    assert result_count(html) == "1-3 of 3" and 'aria-current="page">Events</a>' in html
    assert listed(viewer.get("/events/?sort=created").content.decode())[0] == str(rows["paid"].pk)
    assert '<a href="/events/"' in viewer.get("/holds/").content.decode()


def test_events_filter_by_type_and_client_and_search_by_event_or_resource_id(viewer, rows, shop):
    other = event(owner="client-b", type="hold.created", data={"id": "hold-9"})
    paid = str(rows["paid"].pk)

    assert listed(viewer.get("/events/", {"type": "hold.created"}).content.decode()) == [str(other.pk)]
    assert listed(viewer.get("/events/", {"owner": shop}).content.decode()) == [paid]
    assert listed(viewer.get("/events/", {"q": paid[:8]}).content.decode()) == [paid]
    assert listed(viewer.get("/events/", {"q": paid}).content.decode()) == [paid]
    assert listed(viewer.get("/events/", {"q": "hold-9"}).content.decode()) == [str(other.pk)]
    assert len(listed(viewer.get("/events/", {"type": "no.such.type"}).content.decode())) == 2  # a stale link
    nothing = viewer.get("/events/", {"q": "nothing-like-it", "owner": "client-b"}).content.decode()
    assert "No events match “nothing-like-it” for that client." in nothing and 'data-testid="clear-filters"' in nothing
    page = viewer.get("/events/", {"owner": "client-b"}).content.decode()
    assert '<option value="client-b" selected>client-b</option>' in page
    assert '<option value="order.paid" >order.paid</option>' in page


def test_the_events_list_pages_by_number_both_ways_and_htmx_gets_only_the_results(viewer):
    for _ in range(57):
        event()

    assert_pages_both_ways(viewer, "/events/", total=57, row_marker='data-testid="event-row"')
    fragment = viewer.get("/events/", {"type": "order.paid"}, **htmx(target="event-results")).content.decode()
    assert "<html" not in fragment and 'role="search"' not in fragment and 'data-testid="event-list"' in fragment


def test_the_event_page_shows_its_data_escaped_and_each_delivery_with_its_attempts(viewer, rows):
    hostile = event(owner=rows["hook"].owner, data={"id": "o-2", "note": "<script>alert(1)</script>"})
    html = viewer.get(f"/events/{rows['paid'].pk}/").content.decode()

    assert '<pre class="json" data-testid="event-data">{\n  &quot;id&quot;: &quot;order-1&quot;,' in html
    assert f'<h3><a class="url" href="/events/endpoints/{rows["hook"].pk}/">https://acme.example.com/hooks</a>' in html
    assert '<span class="badge ok">204</span>' in html and '<span class="badge bad">500</span>' in html
    assert "Connection refused" in html and "3; the last answered 204" in html
    assert f'href="/events/{rows["paid"].pk}/deliveries/{rows["later"].pk}/">Send it' not in html  # a viewer
    assert 'data-testid="unsent-endpoints"' in html and "https://acme.example.com/later" in html
    page = viewer.get(f"/events/{hostile.pk}/").content.decode()
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "No endpoint of this client received this event" in page


def test_the_delivery_page_shows_the_latest_attempts_and_a_missing_delivery_says_why(viewer, rows, monkeypatch):
    paid, later = rows["paid"], rows["later"]
    html = viewer.get(f"/events/{paid.pk}/deliveries/{rows['hook'].pk}/").content.decode()
    assert 'data-testid="delivery-status">Delivered</span>' in html and html.count('data-testid="attempt-row"') == 3
    assert 'data-testid="resend-panel"' not in html
    assert 'data-testid="no-delivery"' in viewer.get(f"/events/{paid.pk}/deliveries/{later.pk}/").content.decode()
    monkeypatch.setattr(views, "ATTEMPTS_SHOWN", 2)
    shorter = viewer.get(f"/events/{rows['paid'].pk}/").content.decode()
    assert shorter.count('data-testid="attempt-row"') == 2 and "The latest 2 of 3 attempts." in shorter


# --- endpoints -----------------------------------------------------------------------------


def test_the_endpoints_list_shows_url_client_types_and_state_with_filters(viewer, rows, shop):
    gone = endpoint(owner="client-b", url="https://gone.example.com/h", deleted=True)
    off = endpoint(owner="client-b", url="https://off.example.com/h", enabled=False)

    html = viewer.get("/events/endpoints/").content.decode()

    assert listed(html, _ENDPOINT_LINK) == [str(off.pk), str(gone.pk), str(rows["later"].pk), str(rows["hook"].pk)]
    assert "https://acme.example.com/hooks" in html and "Acme shop (API client)" in html
    assert "All events" in html and '<span class="mono">order.refunded</span>' in html
    for state in ("Enabled", "Disabled", "Deleted"):
        assert f'<span class="badge status-{state.lower()}">{state}</span>' in html
    assert listed(viewer.get("/events/endpoints/?state=deleted").content.decode(), _ENDPOINT_LINK) == [str(gone.pk)]
    assert listed(viewer.get("/events/endpoints/?state=disabled").content.decode(), _ENDPOINT_LINK) == [str(off.pk)]
    by_owner = viewer.get("/events/endpoints/", {"owner": shop, "q": "later"}).content.decode()
    assert listed(by_owner, _ENDPOINT_LINK) == [str(rows["later"].pk)]


def test_the_endpoint_page_lists_its_deliveries_with_codes_attempts_next_attempt_and_last_error(viewer, rows, shop):
    hook = rows["hook"]
    waiting = delivery(hook, event(owner=shop), 502, "Read timed out")
    given_up = delivery(hook, event(owner=shop), 500, failed=True)

    html = viewer.get(f"/events/endpoints/{hook.pk}/").content.decode()

    assert html.count('data-testid="delivery-row"') == 3 and "Read timed out" in html
    assert '<span class="badge status-pending">Pending</span>' in html and "Fulfilment" in html
    assert f'<time datetime="{waiting.next_attempt_at.astimezone(UTC).isoformat(timespec="seconds")}">' in html
    failed = viewer.get(f"/events/endpoints/{hook.pk}/", {"status": "FAILED"}).content.decode()
    assert failed.count('data-testid="delivery-row"') == 1 and str(given_up.event_id)[:8] in failed
    by_event = viewer.get(f"/events/endpoints/{hook.pk}/", {"q": str(waiting.event_id)[:8]}).content.decode()
    assert by_event.count('data-testid="delivery-row"') == 1
    fragment = viewer.get(f"/events/endpoints/{hook.pk}/", **htmx(target="delivery-results")).content.decode()
    assert "<html" not in fragment and 'data-testid="endpoint-facts"' not in fragment


def test_the_endpoints_and_an_endpoints_deliveries_page_by_number_both_ways(viewer, shop):
    hook = endpoint(owner=shop)
    for number in range(56):
        delivery(hook, event(owner=shop), 204)
        endpoint(url=f"https://hooks.example.com/{number}")
    assert_pages_both_ways(viewer, "/events/endpoints/", total=57, row_marker='data-testid="endpoint-row"')
    assert_pages_both_ways(viewer, f"/events/endpoints/{hook.pk}/", total=56, row_marker='data-testid="delivery-row"')


def test_no_page_or_review_ever_shows_a_secret(operator, rows):
    hook = WebhookEndpoint.objects.get(pk=rows["hook"].pk)
    pages = [operator.get(path).content.decode() for path in every_page(rows)]
    pages.append(operator.post(resend_url(rows["paid"], hook), {"note": "check"}).content.decode())
    pages.append(operator.post(state_url(hook), {"note": "check", "enabled": "false"}).content.decode())
    for html in pages:
        assert "whsec_" not in html and rows["hook"].secret not in html
        assert hook.secret_encrypted not in html and rows["later"].secret not in html


# --- resending a delivery ------------------------------------------------------------------


def test_review_names_the_event_and_endpoint_and_changes_nothing(operator, rows):
    paid, hook = rows["paid"], rows["hook"]
    response = operator.post(resend_url(paid, hook), {"note": "client lost it", "step": "review"},
                             **htmx(target="resend-panel"))
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert f'Send event <span class="mono">order.paid</span> <span class="mono">{str(paid.pk)[:8]}</span> to ' \
           '<span class="url">https://acme.example.com/hooks</span> again now?' in html
    assert "of Acme shop (API client)" in html and "delivered after 3 attempts, becomes pending" in html
    assert 'name="note" value="client lost it"' in html and 'data-testid="confirm-resend"' in html
    assert Delivery.objects.get(pk=rows["sent"].pk).status == DeliveryStatus.DELIVERED
    assert AuditEntry.objects.count() == 0 and DBTaskResult.objects.count() == 0
    assert "<html" in operator.post(resend_url(paid, hook), {"note": "no js"}).content.decode()  # without htmx


def test_confirming_reschedules_the_delivery_enqueues_it_and_audits_the_note(operator, rows):
    paid, hook = rows["paid"], rows["hook"]

    response = operator.post(resend_url(paid, hook), {"note": "client lost it", "step": "confirm"})

    assert response.status_code == 302 and response["Location"] == f"/events/{paid.pk}/deliveries/{hook.pk}/"
    sent = Delivery.objects.get(pk=rows["sent"].pk)
    assert (sent.status, sent.delivered_at, sent.first_attempt_at) == (DeliveryStatus.PENDING, None, None)
    [task] = DBTaskResult.objects.all()
    assert task.task_path == "events.tasks.delivery_attempt" and task.args_kwargs["args"] == [sent.pk]
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.target_type, entry.target_id, entry.note) == (
        operator.user, "delivery.resent", "event", str(paid.pk), "client lost it")
    assert entry.before == {"status": "DELIVERED", "attempts": 3}
    assert entry.after == {"status": "PENDING", "attempts": 3, "endpoint_id": str(hook.pk)}
    page = operator.get(response["Location"]).content.decode()
    assert "is sent to https://acme.example.com/hooks again now." in page
    log = operator.get("/audit/").content.decode()
    assert f'href="/events/{paid.pk}/deliveries/{hook.pk}/">event {str(paid.pk)[:8]}</a>' in log
    assert "DELIVERED → <strong>PENDING</strong>" in log and "client lost it" in log


def test_confirming_to_an_endpoint_without_a_delivery_creates_one(operator, rows):
    paid, later = rows["paid"], rows["later"]
    response = operator.post(resend_url(paid, later), {"note": "new endpoint", "step": "confirm"},
                             **htmx(target="delivery-body"))
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html and "again now." in html
    created = Delivery.objects.get(event=paid, endpoint=later)
    assert created.status == DeliveryStatus.PENDING and 'data-testid="delivery-status">Pending</span>' in html
    assert AuditEntry.objects.get().before == {}


@pytest.mark.parametrize("note", ["", "   "])
def test_a_resend_without_a_note_is_refused_and_changes_nothing(operator, rows, note):
    for step in ("review", "confirm"):
        response = operator.post(resend_url(rows["paid"], rows["hook"]), {"note": note, "step": step},
                                 **htmx(target="resend-panel"))
        assert response.status_code == 422
        assert "Say why the event is sent again: the note goes to the audit log." in response.content.decode()
    assert Delivery.objects.get(pk=rows["sent"].pk).status == DeliveryStatus.DELIVERED
    assert AuditEntry.objects.count() == 0


def test_a_disabled_or_deleted_endpoint_is_refused_with_a_message(operator, rows, shop):
    off = endpoint(owner=shop, enabled=False)
    gone = endpoint(owner=shop, deleted=True)
    assert 'data-testid="resend-disabled"' in operator.get(f"/events/{rows['paid'].pk}/deliveries/{off.pk}/").content.decode()

    for hook, message in ((off, "This endpoint is disabled: enable it first"), (gone, "This endpoint was deleted")):
        response = operator.post(resend_url(rows["paid"], hook), {"note": "x", "step": "confirm"})
        assert response.status_code == 409 and message in response.content.decode()
    assert AuditEntry.objects.count() == 0 and not Delivery.objects.filter(endpoint__in=[off, gone]).exists()


def test_an_endpoint_disabled_between_the_review_and_the_confirm_gets_a_message(operator, rows, monkeypatch):
    def someone_disabled_it_first(**kwargs):
        WebhookEndpoint.objects.filter(pk=rows["hook"].pk).update(enabled=False)
        return operator_delivery_resend(**kwargs)

    monkeypatch.setattr(views.services, "operator_delivery_resend", someone_disabled_it_first)
    response = operator.post(resend_url(rows["paid"], rows["hook"]), {"note": "late", "step": "confirm"})
    assert response.status_code == 409 and "This endpoint is disabled" in response.content.decode()
    assert AuditEntry.objects.count() == 0


# --- enabling and disabling an endpoint ----------------------------------------------------


def test_disabling_is_reviewed_then_confirmed_and_audited_then_enabling_again(operator, rows, shop):
    hook = rows["hook"]
    delivery(hook, event(owner=shop), 500)  # pending: it fails at its next attempt once disabled
    review = operator.post(state_url(hook), {"note": "receiver down", "enabled": "false"}, **htmx(target="state-panel"))
    html = review.content.decode()
    assert review.status_code == 200 and "<html" not in html
    assert f'Disable endpoint <span class="mono">{str(hook.pk)[:8]}</span> of Acme shop (API client), ' \
           '<span class="url">https://acme.example.com/hooks</span>?' in html
    assert "its 1 pending delivery fails at the next attempt, unsent" in html
    assert WebhookEndpoint.objects.get(pk=hook.pk).enabled and AuditEntry.objects.count() == 0

    response = operator.post(state_url(hook), {"note": "receiver down", "enabled": "false", "step": "confirm"})

    assert response.status_code == 302 and response["Location"] == f"/events/endpoints/{hook.pk}/"
    assert not WebhookEndpoint.objects.get(pk=hook.pk).enabled
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.target_type, entry.target_id, entry.note, entry.before, entry.after) == (
        "webhook_endpoint.disabled", "webhook_endpoint", str(hook.pk), "receiver down", {"enabled": True},
        {"enabled": False})
    assert "Disabled the endpoint https://acme.example.com/hooks." in operator.get(response["Location"]).content.decode()
    assert f'href="/events/endpoints/{hook.pk}/">endpoint {str(hook.pk)[:8]}</a>' in operator.get("/audit/").content.decode()

    back = operator.post(state_url(hook), {"note": "fixed", "enabled": "true", "step": "confirm"},
                         **htmx(target="endpoint-body"))
    assert back.status_code == 200 and 'data-testid="endpoint-state"><span class="badge status-enabled">' in (
        back.content.decode())
    assert WebhookEndpoint.objects.get(pk=hook.pk).enabled
    assert list(AuditEntry.objects.order_by("id").values_list("action", flat=True)) == [
        "webhook_endpoint.disabled", "webhook_endpoint.enabled"]


def test_a_stale_page_cannot_switch_an_endpoint_the_wrong_way(operator, rows):
    response = operator.post(state_url(rows["hook"]), {"note": "x", "enabled": "true", "step": "confirm"})
    assert response.status_code == 409 and "This endpoint is already enabled." in response.content.decode()
    assert AuditEntry.objects.count() == 0


def test_a_deleted_endpoint_offers_no_switch_and_refuses_one(operator, shop):
    gone = endpoint(owner=shop, deleted=True)
    assert 'data-testid="state-panel"' not in operator.get(f"/events/endpoints/{gone.pk}/").content.decode()
    response = operator.post(state_url(gone), {"note": "x", "enabled": "true", "step": "confirm"})
    assert response.status_code == 409 and "This endpoint was deleted: it stays disabled." in response.content.decode()
    assert not WebhookEndpoint.objects.get(pk=gone.pk).enabled and AuditEntry.objects.count() == 0


@pytest.mark.parametrize("body", [{"note": "", "enabled": "false"}, {"note": " ", "enabled": "false"},
                                  {"note": "x", "enabled": "maybe"}, {"note": "x"}])
def test_a_switch_without_a_note_or_a_state_is_refused_and_changes_nothing(operator, rows, body):
    for step in ("review", "confirm"):
        response = operator.post(state_url(rows["hook"]), {**body, "step": step})
        assert response.status_code == 422 and 'data-testid="endpoint-deliveries"' not in response.content.decode()
    assert WebhookEndpoint.objects.get(pk=rows["hook"].pk).enabled and AuditEntry.objects.count() == 0


def test_the_services_refuse_without_a_note_and_roll_back_without_their_audit_entry(operator, rows, monkeypatch):
    hook, paid = rows["hook"], rows["paid"]
    with pytest.raises(ValueError, match="needs a note"):
        operator_endpoint_set_enabled(endpoint_id=hook.pk, enabled=False, user=operator.user, note=" ")
    with pytest.raises(ValueError, match="needs a note"):
        operator_delivery_resend(endpoint_id=hook.pk, event_id=paid.pk, user=operator.user, note="")

    def broken_audit(**kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(views.services, "audit_record", broken_audit)
    operator.raise_request_exception = False
    assert operator.post(state_url(hook), {"note": "x", "enabled": "false", "step": "confirm"}).status_code == 500
    assert operator.post(resend_url(paid, hook), {"note": "x", "step": "confirm"}).status_code == 500
    assert WebhookEndpoint.objects.get(pk=hook.pk).enabled
    assert Delivery.objects.get(pk=rows["sent"].pk).status == DeliveryStatus.DELIVERED


# --- who may do what, and nothing fails ----------------------------------------------------


def test_a_viewer_sees_no_action_and_may_not_take_one(viewer, rows):
    assert 'data-testid="state-panel"' not in viewer.get(f"/events/endpoints/{rows['hook'].pk}/").content.decode()
    assert viewer.post(resend_url(rows["paid"], rows["hook"]), {"note": "x", "step": "confirm"}).status_code == 403
    assert viewer.post(state_url(rows["hook"]), {"note": "x", "enabled": "false", "step": "confirm"}).status_code == 403
    assert WebhookEndpoint.objects.get(pk=rows["hook"].pk).enabled and AuditEntry.objects.count() == 0


def test_anonymous_users_are_sent_to_the_login_page(client, rows):
    for path in every_page(rows):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login/?next="), path
    for path in (resend_url(rows["paid"], rows["hook"]), state_url(rows["hook"])):
        response = client.post(path, {"note": "x", "enabled": "false", "step": "confirm"})
        assert response.status_code == 302 and response["Location"].startswith("/login/?next="), path
    assert AuditEntry.objects.count() == 0


def test_actions_need_the_csrf_token(operator, rows):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(operator.user)
    assert browser.post(state_url(rows["hook"]), {"note": "x", "enabled": "false", "step": "confirm"}).status_code == 403
    assert WebhookEndpoint.objects.get(pk=rows["hook"].pk).enabled


def test_unknown_ids_and_another_clients_endpoint_are_404(operator, rows):
    paid, hook = rows["paid"], rows["hook"]
    stranger = endpoint(owner="client-b")
    for path in [f"/events/{NOWHERE}/", f"/events/{NOWHERE}/deliveries/{hook.pk}/", f"/events/endpoints/{NOWHERE}/",
                 f"/events/{paid.pk}/deliveries/{NOWHERE}/", f"/events/{paid.pk}/deliveries/{stranger.pk}/",
                 "/events/not-an-id/", "/events/endpoints/1/", f"/events/{paid.pk}/deliveries/x/"]:
        assert operator.get(path).status_code == 404, path
    for path in [resend_url(paid, stranger), f"/events/{NOWHERE}/deliveries/{hook.pk}/resend/",
                 f"/events/endpoints/{NOWHERE}/state/"]:
        assert operator.post(path, {"note": "x", "enabled": "false", "step": "confirm"}).status_code == 404, path
    assert AuditEntry.objects.count() == 0 and not Delivery.objects.filter(endpoint=stranger).exists()


@pytest.mark.parametrize("query", [
    {"page": "abc"}, {"page": "9999"}, {"page": "-1"}, {"type": "x" * 500}, {"owner": "operator:²"},
    {"owner": str(uuid.uuid4())}, {"q": "' OR 1=1 --"}, {"q": "²³"}, {"q": "ab" * 100}, {"from": "2024-13-40"},
    {"to": "9999-12-31"}, {"sort": "amount"}, {"state": "purple"}, {"status": "LOST"}, {"q": "{\"id\": 1}"},
])
def test_no_page_fails_on_odd_input(viewer, rows, query):
    for path in every_page(rows):
        assert viewer.get(path, query).status_code == 200, (path, query)
