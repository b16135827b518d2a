"""Every change a client cares about records one event, in the change's transaction, from the service
that makes it (API, dashboard, background jobs, provider webhooks alike): `data` is the body the API
returns for the resource, the owner the API client the resource belongs to. A replay, a refusal and a
rolled-back transaction record nothing."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from events.models import Event
from ledger import services as ledger_services
from ledger.api import serializers as ledger_serializers
from ledger.bodies import account_body, hold_body, movement_body, transfer_body
from ledger.selectors import account_get, transfer_get
from payments import services as payment_services
from payments.api import serializers as payment_serializers
from payments.bodies import order_body, payment_body, refund_body
from payments.models import Order, Refund
from wallets.api import serializers as wallet_serializers

from ..db_helpers import ON_POSTGRES
from ..payments.helpers import (
    authorize,
    authorized_order,
    capture,
    checkout,
    create_order,
    new_key,
    paid_order,
    pay,
    refund,
    send_webhook,
    void,
)

pytestmark = pytest.mark.django_db


def the_event(event_type: str, owner: str) -> dict:
    """The data of the one event of this type, checking it is the only one and whose it is."""
    events = list(Event.objects.filter(type=event_type))
    assert len(events) == 1, f"{len(events)} {event_type} events"
    assert events[0].owner == owner
    return events[0].data


def post(api, url: str, body: dict, key: str | None = None, status: int = 201, **headers) -> dict:
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    response = api.post(url, body, format="json", **headers)
    assert response.status_code == status, response.content
    return response.json()


def account(api, funds: int = 0) -> str:
    account_id = post(api, "/api/v1/accounts", {"owner_name": "Alice"})["id"]
    if funds:
        post(api, f"/api/v1/accounts/{account_id}/deposit", {"amount": funds}, key=new_key())
    return account_id


def transfer(api, source: str, destination: str, amount: int, key: str, status: int = 201) -> dict:
    return post(api, "/api/v1/transfers", {"source_account_id": source, "destination_account_id": destination,
                                           "amount": amount}, key=key, status=status)


def hold(api, source: str, destination: str, amount: int = 300) -> dict:
    return post(api, "/api/v1/holds", {"source_account_id": source, "destination_account_id": destination,
                                       "amount": amount}, key=new_key())


def wallet(api, operation: str, key: str | None = None, **body) -> dict:
    return post(api, f"/api/v1/wallets/{operation}", {"user_id": "u-1", "amount": 500, "reference_id": "r-1",
                                                      **body}, key=key)


# --- ledger: deposits, withdrawals, transfers ----------------------------------------------


def test_a_deposit_and_a_withdrawal_record_their_responses_once_replays_included(api):
    owner, account_id = api.api_client.owner, account(api)

    deposited = post(api, f"/api/v1/accounts/{account_id}/deposit", {"amount": 900, "description": "cash"},
                     key="d-1")
    withdrawn = post(api, f"/api/v1/accounts/{account_id}/withdraw", {"amount": 400}, key="w-1")
    replayed = api.post(f"/api/v1/accounts/{account_id}/deposit", {"amount": 900, "description": "cash"},
                        format="json", HTTP_IDEMPOTENCY_KEY="d-1")

    assert replayed["Idempotent-Replayed"] == "true"
    assert the_event("account.deposit", owner) == deposited
    assert the_event("account.withdrawal", owner) == withdrawn
    assert withdrawn["account"]["balance"] == 500


def test_a_transfer_records_transfer_created_once_and_a_refusal_records_nothing(api, make_api_client):
    owner, source, destination = api.api_client.owner, account(api, funds=1_000), account(api)
    strangers = account(make_api_client("other"))
    events_before = Event.objects.count()

    created = transfer(api, source, destination, 250, key="t-1")
    transfer(api, source, destination, 250, key="t-1")  # replayed
    refused = transfer(api, source, destination, 10_000, key="t-2", status=409)  # insufficient funds, stored
    transfer(api, source, strangers, 1, key="t-3", status=404)  # another client's account: not found

    assert refused["code"] == "insufficient_funds"
    assert the_event("transfer.created", owner) == created
    assert Event.objects.count() == events_before + 1


def test_a_rolled_back_transaction_leaves_no_event_and_no_task(api):
    account_id = account(api, funds=1_000)
    events_before, tasks_before = Event.objects.count(), DBTaskResult.objects.count()

    with pytest.raises(RuntimeError), transaction.atomic():
        ledger_services.withdraw(account_id=account_id, amount=100, reference="w-rolled", owner=api.api_client.owner)
        assert Event.objects.filter(type="account.withdrawal").exists()
        raise RuntimeError("the caller failed after the withdrawal")

    assert (Event.objects.count(), DBTaskResult.objects.count()) == (events_before, tasks_before)


def test_a_batch_of_transfers_records_one_event_each_and_one_task_in_one_write_each(api):
    owner, source, destination = api.api_client.owner, account(api, funds=10_000), account(api)
    orders = [{"source_account_id": source, "destination_account_id": destination, "amount": 1 + n}
              for n in range(50)]  # under SQLite's 166 events per INSERT

    with CaptureQueriesContext(connection) as captured:
        posted = post(api, "/api/v1/transfers/batch", {"transfers": orders}, key="batch-1")

    events = list(Event.objects.filter(type="transfer.created").order_by("created_at"))
    assert [(event.owner, event.data) for event in events] == [(owner, body) for body in posted["transfers"]]
    writes = [q["sql"] for q in captured.captured_queries if "events_event" in q["sql"] or "dbtaskresult" in q["sql"]]
    # PostgreSQL sends the events' INSERT inside the task's, as a CTE: one statement.
    assert [sql.split()[0] for sql in writes] == (["WITH"] if ON_POSTGRES else ["INSERT", "INSERT"])
    task = DBTaskResult.objects.order_by("-enqueued_at").first()
    assert task.args_kwargs["args"] == [str(event.id) for event in events]


def test_with_events_switched_off_nothing_is_recorded(api, settings):
    settings.MINTGUARD_EVENTS = False
    source = account(api, funds=1_000)

    transfer(api, source, account(api), 100, key="t-off")
    create_order(api)

    assert not Event.objects.exists() and not DBTaskResult.objects.exists()


# --- holds -----------------------------------------------------------------------------


def test_a_hold_records_created_then_captured_with_its_transfer(api):
    owner, source, destination = api.api_client.owner, account(api, funds=1_000), account(api)

    held = hold(api, source, destination, amount=600)
    captured = post(api, f"/api/v1/holds/{held['id']}/capture", {"amount": 400}, key="c-1")
    post(api, f"/api/v1/holds/{held['id']}/capture", {"amount": 400}, key="c-1")  # replayed

    assert the_event("hold.created", owner) == held
    assert the_event("hold.captured", owner) == captured["hold"]
    assert the_event("transfer.created", owner) == captured["transfer"]
    assert captured["hold"]["status"] == "CAPTURED" and captured["hold"]["captured_amount"] == 400


def test_a_void_a_refused_void_and_an_operators_void_record_hold_voided_for_the_client(api, operator_user):
    owner, source, destination = api.api_client.owner, account(api, funds=1_000), account(api)
    first, second = hold(api, source, destination), hold(api, source, destination)

    voided = post(api, f"/api/v1/holds/{first['id']}/void", {}, status=200)
    post(api, f"/api/v1/holds/{first['id']}/void", {}, status=409)  # hold_not_active: nothing recorded
    ledger_services.operator_hold_void(hold_id=second["id"], user=operator_user("operator"), note="ticket 7")

    events = {event.data["id"]: event for event in Event.objects.filter(type="hold.voided")}
    assert set(events) == {first["id"], second["id"]}
    assert events[first["id"]].data == voided["hold"]
    assert events[second["id"]].owner == owner
    assert events[second["id"]].data == api.get(f"/api/v1/holds/{second['id']}").json()


def test_the_expiry_job_records_hold_expired(api):
    owner, source, destination = api.api_client.owner, account(api, funds=1_000), account(api)
    held = hold(api, source, destination)

    expired = ledger_services.holds_expire(now=timezone.now() + timedelta(days=8))

    assert [str(h.pk) for h in expired] == [held["id"]]
    data = the_event("hold.expired", owner)
    assert data == {**held, "status": "EXPIRED"}
    assert data == api.get(f"/api/v1/holds/{held['id']}").json()


# --- wallets ---------------------------------------------------------------------------


def test_wallet_top_up_bonus_and_spend_record_their_wallet_transactions_once(api):
    owner = api.api_client.owner

    topped_up = wallet(api, "topup", amount=1_000, reference_id="top-1")
    wallet(api, "topup", amount=1_000, reference_id="top-1")  # replayed by reference_id
    wallet(api, "topup", key="another-key", amount=1_000, reference_id="top-1")  # the ledger's original
    bonus = wallet(api, "bonus", amount=50, reference_id="bonus-1")
    spent = wallet(api, "spend", amount=300, reference_id="spend-1")
    post(api, "/api/v1/wallets/spend", {"user_id": "u-1", "amount": 10**6, "reference_id": "spend-2"}, status=409)

    assert the_event("wallet.topup", owner) == topped_up
    assert the_event("wallet.bonus", owner) == bonus
    assert the_event("wallet.spend", owner) == spent


def test_a_captured_wallet_hold_is_a_wallet_spend_and_a_hold_captured(api):
    owner = api.api_client.owner
    wallet(api, "topup", amount=1_000, reference_id="top-1")

    held = wallet(api, "hold", amount=700, reference_id="hold-1")
    captured = post(api, f"/api/v1/wallets/holds/{held['id']}/capture", {"amount": 500}, key="wc-1")

    assert the_event("hold.created", owner) == held
    assert the_event("hold.captured", owner) == captured["hold"]
    assert the_event("wallet.spend", owner) == captured["transaction"]
    assert not Event.objects.filter(type="transfer.created").exists()


# --- orders, payments, refunds -----------------------------------------------------------


def test_an_order_records_created_then_paid_and_a_replayed_pay_records_nothing(api):
    owner = api.api_client.owner

    order = create_order(api, amount=1_200)
    paid = pay(api, order["id"], key="p-1").json()
    assert pay(api, order["id"], key="p-1")["Idempotent-Replayed"] == "true"

    assert the_event("order.created", owner) == order
    assert the_event("order.paid", owner) == paid["order"]


def test_a_decline_records_order_failed_and_an_outage_order_pending_payment(api):
    owner = api.api_client.owner
    declined = pay(api, create_order(api)["id"], simulate="decline").json()
    pending = pay(api, create_order(api, amount=500)["id"], simulate="outage", body={"buyer_trust": "trusted"}).json()

    assert the_event("order.failed", owner) == declined["order"]
    assert the_event("order.pending_payment", owner) == pending["order"]
    assert pending["order"]["status"] == "PENDING_PAYMENT"


@pytest.mark.usefixtures("webhook_secret")
def test_a_provider_webhook_that_pays_an_order_records_order_paid(api):
    owner = api.api_client.owner
    order_id = pay(api, create_order(api, amount=500)["id"], simulate="outage",
                   body={"buyer_trust": "trusted"}).json()["order"]["id"]

    assert send_webhook(order_id=order_id, outcome="PAID", event_id="evt-1").status_code == 200
    assert send_webhook(order_id=order_id, outcome="PAID", event_id="evt-1").json()["duplicate"] is True

    assert the_event("order.paid", owner) == api.get(f"/api/v1/orders/{order_id}").json()


def test_a_checkout_records_order_created_and_order_paid_and_the_pending_expiry_order_failed(api):
    owner = api.api_client.owner
    paid_id = checkout(api, key="co-1").json()["order_id"]
    checkout(api, key="co-1")  # replayed
    pending_id = checkout(api, simulate="outage", amount=500).json()["order_id"]

    report = payment_services.pending_payments_expire(older_than=timedelta(0),
                                                      now=timezone.now() + timedelta(seconds=1))

    assert report.failed == [Order.objects.get(id=pending_id).id]
    events = {(e.type, e.data["id"]): e for e in Event.objects.filter(owner=owner)}
    assert sorted(events) == sorted([("order.created", paid_id), ("order.paid", paid_id), ("order.created", pending_id),
                                     ("order.pending_payment", pending_id), ("order.failed", pending_id)])
    assert events[("order.paid", paid_id)].data == api.get(f"/api/v1/orders/{paid_id}").json()
    assert events[("order.failed", pending_id)].data == api.get(f"/api/v1/orders/{pending_id}").json()


def test_authorize_capture_and_void_record_authorized_paid_and_canceled(api):
    owner = api.api_client.owner
    captured_order, voided_order = create_order(api, amount=1_000), create_order(api, amount=800)

    authorized = authorize(api, captured_order["id"]).json()
    captured = capture(api, captured_order["id"], amount=600).json()
    authorize(api, voided_order["id"])
    voided = void(api, voided_order["id"]).json()

    events = {(e.type, e.data["id"]): e for e in Event.objects.filter(owner=owner, type__startswith="order.")}
    assert events[("order.authorized", captured_order["id"])].data == authorized["order"]
    assert events[("order.paid", captured_order["id"])].data == captured["order"]
    assert events[("order.canceled", voided_order["id"])].data == voided["order"]
    assert captured["order"]["paid_amount"] == 600


def test_an_operators_void_and_the_expiry_job_record_order_canceled(api, operator_user, settings):
    owner = api.api_client.owner
    by_operator, by_clock = authorized_order(api), authorized_order(api)

    payment_services.operator_void(actor=operator_user("operator"), order_id=by_operator["id"], note="fraud check")
    payment_services.authorizations_expire(
        now=timezone.now() + timedelta(seconds=settings.MINTGUARD_AUTHORIZATION_TTL + 60))

    canceled = {e.data["id"]: e for e in Event.objects.filter(type="order.canceled")}
    assert set(canceled) == {by_operator["id"], by_clock["id"]}
    for order_id in canceled:
        assert canceled[order_id].owner == owner
        assert canceled[order_id].data == api.get(f"/api/v1/orders/{order_id}").json()


def test_refunds_record_refund_succeeded_and_the_orders_new_status(api):
    owner = api.api_client.owner
    order = paid_order(api, amount=1_000)

    partial = refund(api, order["id"], key="r-1", amount=300).json()
    refund(api, order["id"], key="r-1", amount=300)  # replayed
    refused = refund(api, order["id"], amount=5_000)
    rest = refund(api, order["id"]).json()

    assert refused.status_code == 409
    assert the_event("order.partially_refunded", owner) == partial["order"]
    assert the_event("order.refunded", owner) == rest["order"]
    refunds = {e.data["id"]: e.data for e in Event.objects.filter(type="refund.succeeded", owner=owner)}
    assert refunds == {partial["refund"]["id"]: partial["refund"], rest["refund"]["id"]: rest["refund"]}


# --- whose events, and their shape -------------------------------------------------------


def test_each_client_gets_only_the_events_of_its_own_resources(api, make_api_client):
    other = make_api_client("other")
    transfer(api, account(api, funds=100), account(api), 10, key="t-1")
    create_order(other)

    assert set(Event.objects.filter(owner=api.api_client.owner).values_list("type", flat=True)) == {
        "account.deposit", "transfer.created"}
    assert list(Event.objects.filter(owner=other.api_client.owner).values_list("type", flat=True)) == [
        "order.created"]


def test_every_body_has_the_fields_its_serializer_documents_in_order(api):
    source, destination = account(api, funds=1_000), account(api)
    transfer(api, source, destination, 10, key="t-1")
    deposit = ledger_services.deposit(account_id=source, amount=5, reference="d-2", owner=api.api_client.owner)
    order = Order.objects.get(id=paid_order(api)["id"])
    refund(api, order.id, amount=1)
    shapes = [
        (account_body(account_get(account_id=source)), ledger_serializers.AccountSerializer),
        (movement_body(deposit), ledger_serializers.AccountMovementSerializer),
        (transfer_body(transfer_get(transfer_id=Event.objects.get(type="transfer.created").data["id"])),
         ledger_serializers.TransferSerializer),
        (hold_body(ledger_services.hold_create(source_id=source, destination_id=destination, amount=1,
                                               owner=api.api_client.owner)), ledger_serializers.HoldSerializer),
        (order_body(order), payment_serializers.OrderSerializer),
        (payment_body(order.payments.get()), payment_serializers.PaymentSerializer),
        (refund_body(Refund.objects.get()), payment_serializers.RefundSerializer),
        (wallet(api, "topup"), wallet_serializers.WalletTransactionSerializer),
    ]
    for body, serializer in shapes:
        assert list(body) == list(serializer().fields), serializer.__name__
