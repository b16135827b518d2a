"""manage.py send_provider_webhook signs and POSTs to a running server, as the README demo does."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from payments.models import Order, WebhookEvent

from .helpers import payment_transactions, pending_order_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("webhook_secret")]


def send(*args) -> str:
    out = StringIO()
    call_command("send_provider_webhook", *args, stdout=out)
    return out.getvalue()


def test_it_pays_a_pending_order_on_a_live_server_and_a_resend_is_a_duplicate(api, live_server):
    order_id = pending_order_id(api)
    url = f"{live_server.url}/api/v1/webhooks/provider"

    first = send(order_id, "PAID", "--url", url, "--event-id", "evt_demo")
    again = send(order_id, "PAID", "--url", url, "--event-id", "evt_demo")

    assert '200 {"ok":true,"duplicate":false}' in first
    assert '200 {"ok":true,"duplicate":true}' in again
    assert Order.objects.get(pk=order_id).status == "PAID"
    assert len(payment_transactions(order_id)) == 1
    assert WebhookEvent.objects.filter(event_id="evt_demo").count() == 2


def test_an_error_answer_is_printed_and_exits_non_zero(api, live_server):
    order_id = pending_order_id(api)
    out = StringIO()

    with pytest.raises(CommandError, match=r"the server answered 4\d\d"):
        call_command("send_provider_webhook", order_id, "PAID", "--url", f"{live_server.url}/api/v1/webhooks/nope",
                     stdout=out)

    assert re.search(r"^4\d\d ", out.getvalue(), re.MULTILINE)
    assert Order.objects.get(pk=order_id).status == "PENDING_PAYMENT"


def test_an_unreachable_server_is_a_command_error():
    with pytest.raises(CommandError, match="could not reach"):
        send("00000000-0000-0000-0000-000000000000", "PAID", "--url", "http://127.0.0.1:9/api/v1/webhooks/provider",
             "--timeout", "2")
