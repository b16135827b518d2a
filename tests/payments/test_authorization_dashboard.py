"""The order page of an authorization: its steps in the timeline, and an operator's void, reviewed then
confirmed, with a note that goes to the audit log."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditAction, AuditEntry
from payments.models import Order, Payment, SimulatedAuthorization
from payments.services import authorizations, order_authorize, order_capture, order_create, order_void

from ..dashboard_helpers import htmx

pytestmark = pytest.mark.django_db


def authorized(*, amount=4_800) -> Order:
    order = order_create(owner="client-a", user_id="buyer-1", amount=amount)
    order_authorize(order_id=order.pk, idempotency_key="authorize-1", simulate="success")
    order.refresh_from_db()
    return order


def void_step(client, order, step="confirm", note="Buyer cancelled, ticket #7", **headers):
    return client.post(f"/orders/{order.pk}/void/", {"note": note, "step": step}, **headers)


def test_an_operator_sees_the_void_form_on_an_authorized_order_and_a_viewer_does_not(operator, viewer):
    order = authorized()

    for_operator = operator.get(f"/orders/{order.pk}/").content.decode()
    for_viewer = viewer.get(f"/orders/{order.pk}/").content.decode()

    assert 'data-testid="void-panel"' in for_operator and 'data-testid="review-void"' in for_operator
    assert "48.00 USD held by the provider" in for_operator
    assert 'data-testid="void-panel"' not in for_viewer
    assert 'data-testid="refund-panel"' not in for_operator  # nothing was paid yet


def test_review_asks_the_question_and_voids_nothing(operator):
    order = authorized()

    response = void_step(operator, order, step="review", **htmx(target="void-panel"))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="void-question"' in html and "Void the authorization of 48.00 USD" in html
    assert "Buyer cancelled, ticket #7" in html and 'data-testid="confirm-void"' in html
    assert "<html" not in html  # the panel only
    assert Order.objects.get(pk=order.pk).status == "AUTHORIZED"
    assert SimulatedAuthorization.objects.get().closure == ""


def test_confirming_voids_through_the_api_service_and_audits_with_the_note(operator):
    order = authorized()

    response = void_step(operator, order)

    assert response.status_code == 302 and response["Location"] == f"/orders/{order.pk}/"
    order.refresh_from_db()
    assert order.status == "CANCELED"
    assert Payment.objects.get(order=order).status == "VOIDED"
    assert SimulatedAuthorization.objects.get().closure == "voided"
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.target_type, entry.target_id) == (
        operator.user, AuditAction.AUTHORIZATION_VOIDED, "order", str(order.pk))
    assert entry.before == {"status": "AUTHORIZED", "refunded_amount": 0, "currency": "USD"}
    assert entry.after == {"status": "CANCELED", "refunded_amount": 0, "currency": "USD"}
    assert entry.note == "Buyer cancelled, ticket #7"
    page = operator.get(f"/orders/{order.pk}/").content.decode()
    assert "Authorization voided" in page and 'data-testid="void-panel"' not in page


def test_the_confirmed_htmx_answer_is_the_order_body_with_the_canceled_order(operator):
    order = authorized()

    response = void_step(operator, order, **htmx(target="order-body"))

    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert 'data-testid="order-status">Canceled<' in html
    assert "the 48.00 USD held for order" in html


def test_a_void_without_a_note_is_422_and_voids_nothing(operator):
    order = authorized()

    response = void_step(operator, order, note="  ")

    assert response.status_code == 422
    assert "A note is required" in response.content.decode()
    assert Order.objects.get(pk=order.pk).status == "AUTHORIZED"
    assert AuditEntry.objects.count() == 0


def test_a_viewer_may_not_void(viewer):
    order = authorized()

    response = void_step(viewer, order)

    assert response.status_code == 403
    assert Order.objects.get(pk=order.pk).status == "AUTHORIZED"
    assert SimulatedAuthorization.objects.get().closure == ""
    assert AuditEntry.objects.count() == 0


def test_voiding_an_order_captured_meanwhile_is_refused_inline(operator):
    order = authorized()
    order_capture(order_id=order.pk)

    review = void_step(operator, order, step="review", **htmx(target="void-panel"))
    confirm = void_step(operator, order, **htmx(target="order-body"))

    assert review.status_code == confirm.status_code == 409
    assert "Order is paid: nothing to void." in review.content.decode()
    assert "is PAID; only AUTHORIZED orders can be voided" in confirm.content.decode()
    assert Order.objects.get(pk=order.pk).status == "PAID"
    assert AuditEntry.objects.count() == 0


def test_a_void_whose_audit_fails_records_nothing_and_its_retry_finishes_it(operator, monkeypatch):
    order = authorized()

    def broken_audit(**kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(authorizations, "audit_record", broken_audit)
    operator.raise_request_exception = False
    assert void_step(operator, order).status_code == 500
    assert Order.objects.get(pk=order.pk).status == "AUTHORIZED"  # the void and its entry commit together, or not
    monkeypatch.undo()

    assert void_step(operator, order).status_code == 302
    assert Order.objects.get(pk=order.pk).status == "CANCELED"
    assert AuditEntry.objects.count() == 1


def test_the_timeline_shows_authorization_capture_void_and_expiry(viewer, settings):
    captured = authorized(amount=1_200)
    order_capture(order_id=captured.pk, amount=800)
    voided = authorized()
    order_void(order_id=voided.pk)
    expired = authorized()
    Payment.objects.filter(order=expired).update(
        authorized_at=timezone.now() - timedelta(seconds=settings.MINTGUARD_AUTHORIZATION_TTL + 1))
    authorizations.authorizations_expire()

    pages = {name: viewer.get(f"/orders/{order.pk}/").content.decode()
             for name, order in (("captured", captured), ("voided", voided), ("expired", expired))}

    assert all("Funds authorized" in page for page in pages.values())
    assert "Captured" in pages["captured"] and "8.00 USD, 4.00 USD released" in pages["captured"]
    assert 'data-testid="paid-amount">8.00 USD' in pages["captured"]
    assert "Authorization voided" in pages["voided"]
    assert "Authorization expired" in pages["expired"] and "authorization_expired" in pages["expired"]
