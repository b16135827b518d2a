"""On a phone (390 x 844) the content starts on the first screen and the page never scrolls sideways."""

import pytest
from playwright.sync_api import expect

from ledger.services import hold_create
from payments.models import Order

from ..events.factories import webhook_history
from ..ledger.factories import AccountFactory
from ..operators.factories import paid_order
from ..role_helpers import user_with_role

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": PHONE}


def test_the_overview_a_list_and_a_detail_page_fit_a_phone_with_the_content_first(page, site):
    # given: an order with a long description, buyer and seller (the widest rows the list has)
    for number in range(3):
        paid_order(amount=1_234_567, user_id=f"buyer-with-a-rather-long-name-{number}",
                   seller_id="seller-with-a-long-name-too", description="A walnut desk, delivered and assembled")
    # ...and a hold between two accounts with long names (the holds list has eight columns)
    source = AccountFactory(name="A customer account with a long name", balance=1_234_567)
    destination = AccountFactory(name="Another customer account, named at length")
    held = hold_create(source_id=source.pk, destination_id=destination.pk, amount=1_234_567, owner="client-a",
                       description="A walnut desk, delivered and assembled")
    # ...and an event delivered to an endpoint with a long URL, its data holding a long description
    webhooks = webhook_history("client-a")
    event, hook = webhooks["event"], webhooks["endpoint"]
    site.sign_in(user_with_role("operator"))
    order = Order.objects.order_by("created_at").first()

    for path in ["/", "/orders/", f"/orders/{order.pk}/", "/holds/", f"/holds/{held.pk}/", "/events/",
                 f"/events/{event.pk}/", f"/events/{event.pk}/deliveries/{hook.pk}/", "/events/endpoints/",
                 f"/events/endpoints/{hook.pk}/"]:
        # when
        page.goto(site(path))

        # then: the page's heading is on the first screen, below the top bar
        heading = page.locator("main h1")
        expect(heading).to_be_visible()
        box = heading.bounding_box()
        assert box["y"] + box["height"] <= PHONE["height"] / 2, (path, box)
        # ...and nothing widens the document beyond the screen
        widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], (path, widths)
