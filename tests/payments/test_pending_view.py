"""The pending queue: oldest first, resolved by hand through the webhook's own service, confirmed, audited."""

from datetime import timedelta

import pytest

from audit.models import AuditAction, AuditEntry
from ledger.models import Transaction
from payments.models import Order, Payment, PaymentConfirmation
from payments.services import confirmations

from ..dashboard_helpers import htmx
from ..ledger.invariants import assert_ledger_consistent
from ..operators.factories import paid_order, pending_order

pytestmark = pytest.mark.django_db


def resolve(client, order, outcome="PAID", note="Provider dashboard shows it captured", step="confirm", **headers):
    return client.post(f"/pending/{order.pk}/resolve/", {"outcome": outcome, "note": note, "step": step}, **headers)


def test_the_queue_lists_pending_orders_oldest_first_with_trust_and_amount(viewer):
    pending_order(amount=1_999, user_id="buyer-new")
    older = pending_order(amount=2_500, user_id="buyer-old")
    Payment.objects.filter(order=older).update(created_at=older.created_at - timedelta(hours=3))
    paid_order()  # not pending: not listed

    html = viewer.get("/pending/").content.decode()

    assert html.index("buyer-old") < html.index("buyer-new")
    assert "25.00 USD" in html and "19.99 USD" in html and "Trusted" in html
    assert "3 h 00 min" in html
    assert html.count('data-testid="pending-row"') == 2


def test_mark_paid_runs_the_webhook_service_as_the_operator_and_audits_it(operator, monkeypatch):
    order = pending_order(amount=3_000)
    calls = []
    real_apply = confirmations.payment_outcome_apply
    monkeypatch.setattr(confirmations, "payment_outcome_apply",
                        lambda **kw: calls.append(kw) or real_apply(**kw))

    response = resolve(operator, order, note="Ticket OPS-7: captured")

    assert response.status_code == 302 and response["Location"] == "/pending/"
    assert [(c["outcome"], c["source"], c["actor"], c["note"]) for c in calls] == [
        ("PAID", "operator", operator.user.username, "Ticket OPS-7: captured")]
    order.refresh_from_db()
    assert order.status == "PAID"
    booked = Transaction.objects.get(kind="payment", metadata__order_id=str(order.pk))
    assert sorted((p.direction, p.amount) for p in booked.postings.all()) == [("CREDIT", 3_000), ("DEBIT", 3_000)]
    confirmation = PaymentConfirmation.objects.get(order=order)
    assert (confirmation.source, confirmation.actor, confirmation.result) == ("operator", operator.user.username,
                                                                              "applied")
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.target_id, entry.actor) == (AuditAction.PAYMENT_RESOLVED, str(order.pk), operator.user)
    assert entry.before["status"] == "PENDING_PAYMENT" and entry.after["status"] == "PAID"
    assert entry.after["result"] == "applied" and entry.note == "Ticket OPS-7: captured"
    assert_ledger_consistent()


def test_mark_failed_books_nothing_and_the_row_says_so_in_place(operator):
    order = pending_order()

    response = resolve(operator, order, outcome="FAILED", note="Card never charged", **htmx(target="closest tr"))

    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert f'id="pending-{order.pk}"' in html and "now Failed" in html
    assert Order.objects.get(pk=order.pk).status == "FAILED"
    assert not Transaction.objects.filter(metadata__order_id=str(order.pk)).exists()
    assert AuditEntry.objects.get().after["status"] == "FAILED"


@pytest.mark.parametrize("note", ["", "   "])
def test_a_note_is_required(operator, note):
    order = pending_order()

    response = resolve(operator, order, note=note, **htmx(target="closest tr"))

    assert response.status_code == 422
    assert "A note is required" in response.content.decode()
    assert Order.objects.get(pk=order.pk).status == "PENDING_PAYMENT"
    assert AuditEntry.objects.count() == 0


def test_the_service_refuses_a_resolution_without_a_note_whoever_calls_it(operator):
    from payments.exceptions import NoteRequired
    from payments.services import operator_resolve_pending

    with pytest.raises(NoteRequired):
        operator_resolve_pending(actor=operator.user, order_id=pending_order().pk, outcome="PAID", note=" ")


def test_resolving_an_order_that_is_no_longer_pending_changes_nothing_and_says_why(operator):
    order = pending_order()
    resolve(operator, order, outcome="PAID")

    response = resolve(operator, order, outcome="FAILED", note="too late", **htmx(target="closest tr"))

    assert response.status_code == 200
    assert "Ignored: FAILED after PAID" in response.content.decode()
    assert Order.objects.get(pk=order.pk).status == "PAID"
    # Both attempts are on record: what the operator asked, and that it changed nothing.
    assert list(AuditEntry.objects.order_by("id").values_list("after__result", flat=True)) == [
        "applied", "ignored_failed_after_paid"]


def test_an_unknown_outcome_is_refused(operator):
    order = pending_order()

    assert resolve(operator, order, outcome="REFUNDED", **htmx()).status_code == 422
    assert Order.objects.get(pk=order.pk).status == "PENDING_PAYMENT"


def test_the_queue_offers_outcomes_to_choose_and_a_review_button_never_a_default_outcome(operator):
    pending_order()

    html = operator.get("/pending/").content.decode()

    assert html.count('type="radio" name="outcome"') == 2 and " checked" not in html
    assert 'name="step" value="review"' in html
    assert 'type="submit" name="outcome"' not in html  # no submit button carries an outcome


@pytest.mark.parametrize("step", ["review", None])
def test_review_asks_with_the_order_outcome_and_amount_and_changes_nothing(operator, step):
    order = pending_order(amount=18_900)
    body = {"outcome": "PAID", "note": "Ticket OPS-9"} | ({"step": step} if step else {})

    response = operator.post(f"/pending/{order.pk}/resolve/", body, **htmx(target="closest tr"))

    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert f"Mark order <span class=\"mono\">{str(order.pk)[:8]}</span> paid: 189.00 USD?" in html
    assert 'name="step" value="confirm"' in html and "data-autofocus" in html
    assert "<strong>" in html.split("</td>")[0] and "since" in html.split("</td>")[0]  # how long it waits
    assert Order.objects.get(pk=order.pk).status == "PENDING_PAYMENT"
    assert AuditEntry.objects.count() == 0 and PaymentConfirmation.objects.count() == 0


def test_without_javascript_the_review_is_a_page_with_the_question(operator):
    order = pending_order(amount=2_500)

    response = resolve(operator, order, outcome="FAILED", step="review")

    html = response.content.decode()
    assert response.status_code == 200 and "<html" in html
    assert f"{str(order.pk)[:8]}</span> failed: 25.00 USD?" in html
    assert Order.objects.get(pk=order.pk).status == "PENDING_PAYMENT"


def test_change_goes_back_to_the_form_with_what_was_typed(operator):
    order = pending_order()

    response = resolve(operator, order, outcome="FAILED", note="Card declined", step="edit", **htmx())

    html = response.content.decode()
    assert 'value="Card declined"' in html and 'value="FAILED" required checked' in html
    assert 'name="step" value="confirm"' not in html
    assert Order.objects.get(pk=order.pk).status == "PENDING_PAYMENT"


@pytest.mark.parametrize("headers", [{}, htmx(target="closest tr")])
@pytest.mark.parametrize("outcome", [None, ""])
def test_a_resolution_without_an_outcome_is_refused_with_a_clear_422(operator, outcome, headers):
    order = pending_order()
    body = {"note": "captured", "step": "confirm"} | ({"outcome": outcome} if outcome is not None else {})

    response = operator.post(f"/pending/{order.pk}/resolve/", body, **headers)

    html = response.content.decode()
    assert response.status_code == 422
    assert "Choose an outcome: mark paid or mark failed." in html
    assert f'aria-describedby="outcome-{order.pk}-error"' in html and 'aria-invalid="true"' in html
    assert Order.objects.get(pk=order.pk).status == "PENDING_PAYMENT"
    assert AuditEntry.objects.count() == 0


def test_a_missing_note_is_tied_to_its_field(operator):
    order = pending_order()

    html = resolve(operator, order, note="", **htmx()).content.decode()

    assert f'id="note-{order.pk}"' in html and f'aria-describedby="note-{order.pk}-error"' in html
    assert f'<ul class="errorlist" id="note-{order.pk}-error">' in html
