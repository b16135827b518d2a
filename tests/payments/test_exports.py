"""The orders and refunds lists download as CSV: every row the list shows with the same search,
filters and sort, streamed, amounts in minor units, formula-like cells defused."""

import csv
import html
import io
import re
import uuid
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.http import StreamingHttpResponse
from django.utils import timezone

from payments.models import Order, Payment, Refund
from payments.services import refund_create

from ..dashboard_helpers import htmx
from ..operators.factories import paid_order, pending_order
from .test_order_search import bulk_orders

pytestmark = pytest.mark.django_db

ORDER_HEADER = [
    "id", "created_at", "updated_at", "status", "buyer_id", "seller_id", "buyer_trust", "amount", "paid_amount",
    "refunded_amount", "currency", "provider_reference", "description", "failure_reason",
]
REFUND_HEADER = [
    "id", "created_at", "order_id", "status", "amount", "currency", "reason", "provider_reference", "created_by",
    "ledger_transaction_id",
]


def download(client, path: str, **params) -> list[dict]:
    """GET a CSV route and return its rows as dicts, after checking it is a streamed CSV attachment."""
    response = client.get(f"{path}?{urlencode(params)}")
    assert response.status_code == 200, response.status_code
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="')
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def header_of(client, path: str) -> list[str]:
    text = b"".join(client.get(path).streaming_content).decode()
    return next(csv.reader(io.StringIO(text)))


def listed_order_ids(client, **params) -> list[str]:
    page = client.get(f"/orders/?{urlencode(params)}").content.decode()
    return re.findall(r'<a class="mono" href="/orders/([0-9a-f-]{36})/">', page)


def listed_refund_ids(client, **params) -> list[str]:
    page = client.get(f"/refunds/?{urlencode(params)}").content.decode()
    return re.findall(r'<td class="mono">([0-9a-f]{8})</td>', page)


@pytest.fixture
def orders():
    """Orders that differ by everything the list filters on."""
    walnut = paid_order(amount=48_900, user_id="buyer-ann", seller_id="seller-nut", description="Walnut desk")
    oak = paid_order(amount=1_000, currency="EUR", user_id="buyer-bob", description="Oak shelf")
    waiting = pending_order(amount=3_000, user_id="buyer-cy")
    old = bulk_orders(3, start=timezone.now() - timedelta(days=40), description="Old chair")
    return {"walnut": walnut, "oak": oak, "waiting": waiting, "old": old}


# --- orders -------------------------------------------------------------------------------


def test_the_orders_csv_has_one_row_per_order_with_minor_units_and_utc_timestamps(viewer, orders):
    rows = download(viewer, "/orders.csv")

    assert header_of(viewer, "/orders.csv") == ORDER_HEADER
    assert len(rows) == Order.objects.count() == 6
    walnut = next(row for row in rows if row["id"] == str(orders["walnut"].pk))
    assert walnut == {
        "id": str(orders["walnut"].pk),
        "created_at": orders["walnut"].created_at.isoformat(),
        "updated_at": orders["walnut"].updated_at.isoformat(),
        "status": "PAID", "buyer_id": "buyer-ann", "seller_id": "seller-nut", "buyer_trust": "standard",
        "amount": "48900", "paid_amount": "48900", "refunded_amount": "0", "currency": "USD",
        "provider_reference": Payment.objects.get(order=orders["walnut"]).provider_reference,
        "description": "Walnut desk", "failure_reason": "",
    }
    assert walnut["created_at"].endswith("+00:00")
    assert walnut["provider_reference"].startswith("sim_ch_")
    old = next(row for row in rows if row["id"] == str(orders["old"][0].pk))
    assert old["seller_id"] == "" and old["provider_reference"] == ""  # no seller, never charged


@pytest.mark.parametrize("params", [
    {},
    {"q": "walnut"},
    {"q": "489.00"},
    {"q": "buyer-bob"},
    {"status": "PAID"},
    {"status": "PENDING_PAYMENT"},
    {"currency": "EUR"},
    {"trust": "trusted"},
    {"q": "chair", "sort": "created"},
    {"sort": "-amount"},
    {"sort": "amount", "status": "PAID", "currency": "USD"},
    {"from": "2000-01-01", "to": (timezone.now() - timedelta(days=30)).date().isoformat()},
    {"from": "not-a-day", "status": "nonsense", "sort": "sideways"},  # ignored, as the page ignores them
])
def test_the_orders_csv_lists_exactly_the_orders_the_page_shows_in_its_order(viewer, orders, params):
    shown = listed_order_ids(viewer, **params)

    exported = [row["id"] for row in download(viewer, "/orders.csv", **params)]

    assert exported == shown
    if params.get("q") == "walnut":
        assert exported == [str(orders["walnut"].pk)]


def test_the_orders_csv_holds_every_page_of_the_list(viewer):
    bulk_orders(120, description="Crowd")

    rows = download(viewer, "/orders.csv", q="crowd", sort="created")

    assert len(listed_order_ids(viewer, q="crowd")) == 50  # the page shows one page
    assert len(rows) == 120
    assert [row["buyer_id"] for row in rows] == [f"crowd-{i}" for i in range(120)]  # oldest first, as sorted


def test_a_description_that_looks_like_a_formula_is_exported_as_text(viewer):
    bulk_orders(1, description='=HYPERLINK("http://evil.example","click")')
    bulk_orders(1, description="+1-555-0100", user_id="@buyer")

    text = b"".join(viewer.get("/orders.csv?sort=created").streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))

    assert rows[0]["description"] == '\'=HYPERLINK("http://evil.example","click")'
    assert rows[1]["description"] == "'+1-555-0100"
    assert rows[1]["buyer_id"] == "'@buyer"
    assert "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text


def test_the_orders_page_links_to_its_csv_with_its_search_and_filters_but_not_its_page(viewer, orders):
    page = viewer.get("/orders/?q=walnut&status=PAID&page=1").content.decode()
    fragment = viewer.get("/orders/?q=oak&currency=EUR", **htmx()).content.decode()

    link = html.unescape(re.search(r'data-testid="export-csv"><a href="([^"]+)"', page)[1])
    assert link == "/orders.csv?q=walnut&status=PAID"
    # The link is in the results an htmx search swaps, so it follows what was typed.
    assert html.unescape(re.search(r'data-testid="export-csv"><a href="([^"]+)"', fragment)[1]) == \
        "/orders.csv?q=oak&currency=EUR"
    assert [row["id"] for row in download(viewer, link.split("?")[0], q="walnut", status="PAID")] == \
        [str(orders["walnut"].pk)]


# --- refunds ------------------------------------------------------------------------------


@pytest.fixture
def refunds(operator):
    desk = paid_order(amount=100_000, user_id="buyer-ann", seller_id="seller-nut", description="Walnut desk")
    scratched, _ = refund_create(order_id=desk.pk, amount=48_900, created_by="client-a", reason="scratched top")
    by_operator, _ = refund_create(order_id=desk.pk, amount=100, created_by=f"operator:{operator.user.pk}",
                                   reason="goodwill")
    euro = paid_order(amount=5_000, currency="EUR", user_id="buyer-bob")
    late, _ = refund_create(order_id=euro.pk, amount=250, created_by="client-b", reason="late")
    return {"scratched": scratched, "by_operator": by_operator, "late": late}


def test_the_refunds_csv_has_one_row_per_refund_with_its_order_and_transaction(viewer, refunds):
    rows = download(viewer, "/refunds.csv")

    assert header_of(viewer, "/refunds.csv") == REFUND_HEADER
    assert len(rows) == Refund.objects.count() == 3
    refund = Refund.objects.get(pk=refunds["scratched"].pk)
    assert next(row for row in rows if row["id"] == str(refund.pk)) == {
        "id": str(refund.pk), "created_at": refund.created_at.isoformat(), "order_id": str(refund.order_id),
        "status": "SUCCEEDED", "amount": "48900", "currency": "USD", "reason": "scratched top",
        "provider_reference": refund.provider_reference, "created_by": "client-a",
        "ledger_transaction_id": str(refund.ledger_transaction_id),
    }
    assert next(row for row in rows if row["id"] == str(refunds["late"].pk))["currency"] == "EUR"


@pytest.mark.parametrize("params", [
    {},
    {"q": "scratched"},
    {"q": "489.00"},
    {"q": "buyer-bob"},
    {"currency": "EUR"},
    {"source": "operator"},
    {"source": "api"},
    {"acknowledged": "no"},
    {"acknowledged": "yes"},
    {"sort": "amount"},
    {"sort": "-amount", "currency": "USD"},
    {"to": "2000-01-01"},
])
def test_the_refunds_csv_lists_exactly_the_refunds_the_page_shows_in_its_order(viewer, refunds, params):
    shown = listed_refund_ids(viewer, **params)

    exported = [row["id"][:8] for row in download(viewer, "/refunds.csv", **params)]

    assert exported == shown
    if params.get("source") == "operator":
        assert exported == [str(refunds["by_operator"].pk)[:8]]
    if params.get("currency") == "EUR":
        assert exported == [str(refunds["late"].pk)[:8]]


def test_the_refunds_page_links_to_its_csv_with_its_filters(viewer, refunds):
    page = viewer.get("/refunds/?source=api&currency=USD").content.decode()

    link = html.unescape(re.search(r'data-testid="export-csv"><a href="([^"]+)"', page)[1])

    assert link == "/refunds.csv?source=api&currency=USD"
    assert [row["id"] for row in download(viewer, "/refunds.csv", source="api", currency="USD")] == \
        [str(refunds["scratched"].pk)]


def test_a_refund_reason_that_looks_like_a_formula_is_exported_as_text(viewer):
    order = paid_order(amount=5_000)
    refund_create(order_id=order.pk, amount=100, created_by="client-a", reason="-2+3+cmd|' /C calc'!A0")

    rows = download(viewer, "/refunds.csv")

    assert rows[0]["reason"] == "'-2+3+cmd|' /C calc'!A0"


# --- who may download ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/orders.csv", "/refunds.csv"])
def test_only_signed_in_users_with_the_lists_permission_download_them(client, as_role, path):
    paid_order()

    anonymous = client.get(path)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/?next=")
    assert as_role(None).get(path).status_code == 403
    assert as_role("viewer").get(path).status_code == 200
    assert as_role(None, is_superuser=True).get(path).status_code == 200


def test_the_exports_answer_get_only(viewer):
    assert viewer.post("/orders.csv").status_code == 405
    assert viewer.post("/refunds.csv").status_code == 405


def test_an_id_search_in_the_csv_matches_by_full_id_and_prefix(viewer, orders):
    walnut = str(orders["walnut"].pk)

    for typed in (walnut, walnut[:8]):
        assert [row["id"] for row in download(viewer, "/orders.csv", q=typed)] == [walnut]
    assert download(viewer, "/orders.csv", q=str(uuid.uuid4())) == []
