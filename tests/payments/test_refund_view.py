"""The refund form: review, confirm, once per form key, through the API's own refund service."""

import re

import pytest

from audit.models import AuditAction, AuditEntry
from ledger.models import Posting
from payments import services as payment_services
from payments.models import Order, Refund
from payments.services import refunds

from ..dashboard_helpers import htmx
from ..ledger.invariants import assert_ledger_consistent
from ..operators.factories import paid_order

pytestmark = pytest.mark.django_db

KEY = "0123456789abcdef0123456789abcdef"


def refund_url(order) -> str:
    return f"/orders/{order.pk}/refund/"


def confirm(client, order, amount="12.00", key=KEY, reason="arrived damaged", **headers):
    return client.post(refund_url(order), {"amount": amount, "reason": reason, "idempotency_key": key,
                                           "step": "confirm"}, **headers)


def form_key(html: str) -> str:
    return re.search(r'name="idempotency_key" value="([0-9a-f]{32})"', html).group(1)


def test_the_order_page_offers_the_rest_on_a_button_not_in_the_field_and_a_fresh_key(operator):
    order = paid_order(amount=4_800)
    payment_services.refund_create(order_id=order.pk, amount=1_250, created_by="client-a")

    first = operator.get(f"/orders/{order.pk}/").content.decode()
    second = operator.get(f"/orders/{order.pk}/").content.decode()

    assert 'name="amount" id="id_amount" value=""' in first  # never pre-filled: one Enter would refund it all
    assert 'type="button" class="small secondary" data-fill-amount="35.50"' in first
    assert "Refund the rest (35.50 USD)" in first
    assert "Up to 35.50 USD remains refundable." in first
    assert form_key(first) != form_key(second)


def test_an_order_never_refunded_offers_to_refund_all(operator):
    html = operator.get(f"/orders/{paid_order(amount=4_800).pk}/").content.decode()

    assert "Refund all (48.00 USD)" in html and 'data-fill-amount="48.00"' in html


@pytest.mark.parametrize(("amount", "currency", "minor"), [
    ("1,000.00", "USD", 100_000), ("$5", "USD", 500), ("5 USD", "USD", 500), ("USD 5", "USD", 500),
    ("¥1,800", "JPY", 1_800), ("1,800", "JPY", 1_800),
])
def test_the_amount_is_accepted_as_the_page_writes_it(operator, amount, currency, minor):
    order = paid_order(amount=200_000 if currency == "USD" else 20_000, currency=currency)

    response = confirm(operator, order, amount=amount)

    assert response.status_code == 302
    assert Refund.objects.get().amount == minor


def test_review_shows_what_will_be_refunded_and_refunds_nothing(operator):
    order = paid_order(amount=4_800)

    response = operator.post(refund_url(order), {"amount": "12.00", "reason": "late", "idempotency_key": KEY,
                                                 "step": "review"}, **htmx(target="refund-panel"))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Refund 12.00 USD" in html and "36.00 USD remains refundable" in html
    assert 'data-autofocus data-testid="confirm-refund"' in html  # focus goes to Confirm
    assert f'name="idempotency_key" value="{KEY}"' in html
    assert "<html" not in html  # the panel only: htmx swaps it in place
    assert Refund.objects.count() == 0


def test_confirming_refunds_through_the_api_service_and_audits_in_the_same_transaction(operator, monkeypatch):
    order = paid_order(amount=4_800)
    calls = []
    real_refund_create = refunds.refund_create
    monkeypatch.setattr(refunds, "refund_create", lambda **kw: calls.append(kw) or real_refund_create(**kw))

    response = confirm(operator, order, amount="12.00")

    assert response.status_code == 302 and response["Location"] == f"/orders/{order.pk}/"
    assert calls == [{"order_id": order.pk, "amount": 1_200, "reason": "arrived damaged",
                       "created_by": f"operator:{operator.user.pk}", "idempotency_key": KEY}]
    refund = Refund.objects.get()
    assert (refund.amount, refund.created_by, refund.idempotency_key) == (1_200, f"operator:{operator.user.pk}", KEY)
    order.refresh_from_db()
    assert (order.status, order.refunded_amount) == ("PARTIALLY_REFUNDED", 1_200)
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.action, entry.target_type, entry.target_id) == (
        operator.user, AuditAction.REFUND_CREATED, "order", str(order.pk))
    assert entry.before == {"status": "PAID", "refunded_amount": 0, "currency": "USD"}
    assert entry.after == {"status": "PARTIALLY_REFUNDED", "refunded_amount": 1_200, "currency": "USD",
                           "refund_id": str(refund.pk), "amount": 1_200}
    assert entry.note == "arrived damaged"
    assert_ledger_consistent()


def test_a_refund_that_fails_to_audit_rolls_back_with_it(operator, monkeypatch):
    order = paid_order(amount=4_800)

    def broken_audit(**kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(refunds, "audit_record", broken_audit)
    operator.raise_request_exception = False

    response = confirm(operator, order)

    assert response.status_code == 500
    assert Refund.objects.count() == 0
    assert Posting.objects.filter(transaction__kind="refund").count() == 0
    assert Order.objects.get(pk=order.pk).refunded_amount == 0


def test_submitting_the_same_form_twice_refunds_once_and_audits_once(operator):
    order = paid_order(amount=4_800)

    first = confirm(operator, order, **htmx(target="order-body"))
    second = confirm(operator, order, **htmx(target="order-body"))

    assert first.status_code == second.status_code == 200
    assert Refund.objects.count() == 1
    assert AuditEntry.objects.count() == 1
    assert Order.objects.get(pk=order.pk).refunded_amount == 1_200
    assert "Refunded 12.00 USD." in first.content.decode()
    assert "already made" in second.content.decode()


def test_the_same_key_with_another_amount_is_refused_inline(operator):
    order = paid_order(amount=4_800)
    confirm(operator, order, amount="12.00")

    response = confirm(operator, order, amount="13.00", **htmx(target="order-body"))

    assert response.status_code == 409
    assert "already refunded 1200, not 1300" in response.content.decode()
    assert Refund.objects.count() == 1


def test_the_confirmed_htmx_answer_is_the_order_body_with_the_new_ledger_lines(operator):
    order = paid_order(amount=4_800, seller_id="seller-1")

    response = confirm(operator, order, amount="12.00", **htmx(target="order-body"))

    html = response.content.decode()
    assert "<html" not in html and 'data-testid="ledger-lines"' in html
    assert html.count('data-kind="refund"') == 2  # DR seller_payable, CR cash
    assert "12.00 USD" in html and "36.00 USD" in html  # the refund and what remains
    assert form_key(html) != KEY  # a fresh form for the next refund


@pytest.mark.parametrize(("amount", "currency", "message"), [
    ("12.345", "USD", "USD amounts have at most 2 decimals."),
    ("3.5", "JPY", "JPY amounts have no decimals."),
    ("-5", "USD", "Enter an amount in USD such as 12.55."),
    ("1e3", "USD", "Enter an amount in USD such as 12.55."),
    ("12,00", "USD", "Use a comma only between thousands, as in 1,000.00; a point separates the decimals."),
    ("1.000,00", "USD", "Use a comma only between thousands, as in 1,000.00; a point separates the decimals."),
    ("€5", "USD", "This amount is in USD: € is another currency&#x27;s symbol."),
    ("5 USD", "JPY", "This amount is in JPY, not USD."),
    ("0.00", "USD", "Enter an amount greater than zero."),
    ("", "USD", "This field is required."),
])
def test_a_bad_amount_is_shown_next_to_the_field_and_refunds_nothing(operator, amount, currency, message):
    order = paid_order(amount=4_800, currency=currency)

    response = operator.post(refund_url(order), {"amount": amount, "idempotency_key": KEY, "step": "review"},
                             **htmx(target="refund-panel"))

    html = response.content.decode()
    assert response.status_code == 422
    assert f'<ul class="errorlist" id="id_amount_error"><li>{message}</li></ul>' in html
    assert 'aria-describedby="id_amount_help id_amount_error" aria-invalid="true"' in html
    assert Refund.objects.count() == 0


def test_more_than_remains_is_refused_at_review_and_at_confirm(operator):
    order = paid_order(amount=4_800)
    payment_services.refund_create(order_id=order.pk, amount=4_000, created_by="client-a")

    review = operator.post(refund_url(order), {"amount": "9.00", "idempotency_key": KEY, "step": "review"})
    confirmed = confirm(operator, order, amount="9.00")

    assert review.status_code == 409 and "Only 8.00 USD remains to refund." in review.content.decode()
    assert confirmed.status_code == 409 and "has 800 USD left to refund, 900 requested" in confirmed.content.decode()
    assert Refund.objects.count() == 1


def test_an_unpaid_order_is_not_refundable(operator):
    order = paid_order(amount=4_800)
    payment_services.refund_create(order_id=order.pk, created_by="client-a")  # all of it

    page = operator.get(f"/orders/{order.pk}/").content.decode()
    response = confirm(operator, order, amount="1.00")

    assert 'data-testid="refund-panel"' not in page
    assert response.status_code == 409
    assert "only PAID or PARTIALLY_REFUNDED orders can be refunded" in response.content.decode()


def test_a_forged_key_is_refused(operator):
    order = paid_order()

    response = confirm(operator, order, key="not-a-form-key")

    assert response.status_code == 422
    assert Refund.objects.count() == 0


def test_an_unknown_order_is_404(operator):
    assert operator.get("/orders/00000000-0000-0000-0000-000000000000/").status_code == 404
    assert operator.get("/orders/not-a-uuid/").status_code == 404
    assert confirm(operator, type("O", (), {"pk": "00000000-0000-0000-0000-000000000000"})).status_code == 404
