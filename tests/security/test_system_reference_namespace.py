"""Issue 14, item 2: system references live in a namespace no client value can reach, and the
pending-payment expiry settles each payment on its own.

A client's idempotency keys and wallet `reference_id`s are references in the client namespace;
`payment:<id>` and `refund:<id>` are posted in the system namespace, so a client that takes such a
value first neither blocks the provider's booking nor loses its own deposit.
"""

import importlib
import types
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from ledger.models import Account, Direction, Posting, ReferenceNamespace, Transaction
from ledger.services import Leg, system_account_id, transaction_post
from payments import services as payment_services
from payments.models import Order, Payment, PaymentConfirmation, PaymentStatus
from payments.providers import get_provider
from wallets.models import Wallet

from ..ledger.invariants import assert_ledger_consistent
from ..payments.helpers import paid_order, payment_transactions, pending_order_id, refund, send_webhook

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("webhook_secret")]


def pending_payment(order_id) -> Payment:
    return Payment.objects.get(order_id=order_id, status=PaymentStatus.PENDING)


def open_account(api) -> str:
    response = api.post("/api/v1/accounts", {"owner_name": "Squatter"}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def deposit(api, account_id, *, key, amount=700):
    return api.post(f"/api/v1/accounts/{account_id}/deposit", {"amount": amount}, format="json",
                    HTTP_IDEMPOTENCY_KEY=key)


def balance(account_id) -> int:
    return Account.objects.with_balance().get(pk=account_id).balance


def test_a_deposit_keyed_payment_id_does_not_block_the_providers_paid_webhook(api):
    # given: the client's own deposit takes the reference the payment will be booked under
    order_id = pending_order_id(api, amount=1_500)
    payment = pending_payment(order_id)
    account_id = open_account(api)
    squat = deposit(api, account_id, key=f"payment:{payment.id}")
    assert squat.status_code == 201, squat.content

    # when: the provider confirms the charge
    response = send_webhook(order_id=order_id, outcome="PAID")

    # then: the order is paid and booked once, and the client's deposit is untouched
    assert response.status_code == 200, response.content
    assert Order.objects.get(pk=order_id).status == "PAID"
    [booked] = payment_transactions(order_id)
    assert (booked.namespace, booked.reference) == (ReferenceNamespace.SYSTEM, f"payment:{payment.id}")
    assert sum(p.amount for p in booked.postings.all() if p.direction == Direction.DEBIT) == 1_500
    client_deposit = Transaction.objects.get(pk=squat.json()["transaction_id"])
    assert (client_deposit.namespace, client_deposit.kind) == (ReferenceNamespace.CLIENT, "deposit")
    assert balance(account_id) == 700
    # the same client key still replays the deposit, not the payment
    replay = deposit(api, account_id, key=f"payment:{payment.id}")
    assert (replay.status_code, replay.content) == (201, squat.content)
    assert balance(account_id) == 700
    assert_ledger_consistent()


def test_a_wallet_topup_with_reference_id_payment_id_does_not_block_the_providers_paid_webhook(api):
    order_id = pending_order_id(api, amount=900)
    payment = pending_payment(order_id)
    topup = api.post("/api/v1/wallets/topup", {"user_id": "user-ana", "amount": 250,
                                               "reference_id": f"payment:{payment.id}"}, format="json")
    assert topup.status_code == 201, topup.content

    response = send_webhook(order_id=order_id, outcome="PAID")

    assert response.status_code == 200, response.content
    assert Order.objects.get(pk=order_id).status == "PAID"
    assert len(payment_transactions(order_id)) == 1
    wallet = Wallet.objects.get(owner=api.api_client.owner, user_id="user-ana")
    assert balance(wallet.account_id) == 250
    assert Transaction.objects.get(pk=topup.json()["id"]).namespace == ReferenceNamespace.CLIENT
    assert_ledger_consistent()


def test_a_deposit_keyed_refund_id_does_not_block_the_refund(api, monkeypatch):
    # given: a client that knows (here: is told) the id the next refund will get, and deposits under it
    order = paid_order(api, amount=2_000)
    refund_id = uuid.uuid4()
    monkeypatch.setattr(payment_services.refunds, "uuid", types.SimpleNamespace(uuid4=lambda: refund_id))
    account_id = open_account(api)
    squat = deposit(api, account_id, key=f"refund:{refund_id}")
    assert squat.status_code == 201, squat.content

    # when
    response = refund(api, order["id"], amount=800)

    # then
    assert response.status_code == 201, response.content
    assert response.json()["refund"]["id"] == str(refund_id)
    booked = Transaction.objects.get(kind="refund", reference=f"refund:{refund_id}")
    assert booked.namespace == ReferenceNamespace.SYSTEM
    assert Order.objects.get(pk=order["id"]).refunded_amount == 800
    assert balance(account_id) == 700
    assert_ledger_consistent()


def test_a_deposit_keyed_an_existing_refund_id_is_the_clients_own_deposit(api):
    order = paid_order(api, amount=2_000)
    refunded = refund(api, order["id"], amount=300)
    assert refunded.status_code == 201, refunded.content
    account_id = open_account(api)

    response = deposit(api, account_id, key=f"refund:{refunded.json()['refund']['id']}", amount=450)

    assert response.status_code == 201, response.content
    assert balance(account_id) == 450
    assert Transaction.objects.filter(reference=f"refund:{refunded.json()['refund']['id']}").count() == 2


def test_a_system_reference_is_still_posted_once():
    cash, revenue = system_account_id("cash", "USD"), system_account_id("revenue", "USD")
    legs = [Leg(cash, Direction.DEBIT, 40), Leg(revenue, Direction.CREDIT, 40)]

    first = transaction_post(namespace=ReferenceNamespace.SYSTEM, owner="client-a", reference="payment:x",
                             kind="payment", legs=legs)
    again = transaction_post(namespace=ReferenceNamespace.SYSTEM, owner="client-a", reference="payment:x",
                             kind="payment", legs=legs)

    assert again.pk == first.pk
    assert Transaction.objects.filter(reference="payment:x").count() == 1


def test_a_posting_must_name_a_known_namespace():
    cash, revenue = system_account_id("cash", "USD"), system_account_id("revenue", "USD")
    legs = [Leg(cash, Direction.DEBIT, 40), Leg(revenue, Direction.CREDIT, 40)]
    with pytest.raises(ValueError, match="namespace"):
        transaction_post(namespace="", reference="x", kind="test", legs=legs)
    with pytest.raises(TypeError):
        transaction_post(reference="x", kind="test", legs=legs)  # the namespace is never implied
    assert Transaction.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_the_migration_files_existing_payment_and_refund_transactions_under_system():
    # given: rows as they stood before the namespace existed (all classified `client` by the new column)
    cash, revenue = system_account_id("cash", "USD"), system_account_id("revenue", "USD")
    for kind in ("payment", "refund", "deposit"):
        direction = (Direction.DEBIT, Direction.CREDIT) if kind != "refund" else (Direction.CREDIT, Direction.DEBIT)
        transaction_post(namespace=ReferenceNamespace.CLIENT, owner="client-a", reference=f"{kind}:old",
                         kind=kind, legs=[Leg(cash, direction[0], 10), Leg(revenue, direction[1], 10)])
    migration = importlib.import_module("ledger.migrations.0005_reference_namespace_and_managed_accounts")

    with connection.schema_editor() as editor:
        migration.classify_references(apps, editor)

    namespaces = dict(Transaction.objects.values_list("kind", "namespace"))
    assert namespaces == {"payment": "system", "refund": "system", "deposit": "client"}
    assert Posting.objects.count() == 6


# --- the batch job: one bad payment never blocks the rest ---------------------------------------


def age(order_id, *, hours: float) -> Payment:
    payment = pending_payment(order_id)
    Payment.objects.filter(pk=payment.pk).update(created_at=timezone.now() - timedelta(hours=hours))
    return payment


@pytest.fixture
def three_charged_pending_payments(api):
    """Three stale PENDING payments, oldest first, each charged by the provider but never confirmed."""
    payments = []
    for hours in (50, 40, 30):
        order_id = pending_order_id(api, amount=1_000)
        payment = age(order_id, hours=hours)
        get_provider().charge(idempotency_key=payment.provider_key, amount=1_000, currency="USD", simulate="success")
        payments.append(payment)
    return payments


def break_provider_lookup(monkeypatch, payment):
    """The provider's API errors out (a dropped connection) for this one payment."""
    provider = get_provider()
    lookup = provider.lookup

    def flaky_lookup(*, idempotency_key):
        if idempotency_key == payment.provider_key:
            raise ConnectionResetError("provider closed the connection")
        return lookup(idempotency_key=idempotency_key)

    monkeypatch.setattr(provider, "lookup", flaky_lookup)
    monkeypatch.setattr(payment_services.expiry, "get_provider", lambda: provider)


def occupy_payment_reference(payment):
    """A stray system row already holds the payment's reference with other legs: its booking must fail."""
    cash, equity = system_account_id("cash", "USD"), system_account_id("equity", "USD")
    transaction_post(namespace=ReferenceNamespace.SYSTEM, owner=payment.order.owner, reference=f"payment:{payment.id}",
                     kind="adjustment", legs=[Leg(cash, Direction.DEBIT, 1), Leg(equity, Direction.CREDIT, 1)])


@pytest.mark.parametrize("failure", ["provider_error", "posting_fails"])
def test_expiring_pending_payments_settles_the_others_when_the_first_raises_and_exits_non_zero(
    three_charged_pending_payments, monkeypatch, failure
):
    first, second, third = three_charged_pending_payments
    if failure == "provider_error":
        break_provider_lookup(monkeypatch, first)
    else:
        occupy_payment_reference(first)
    out, err = StringIO(), StringIO()

    with pytest.raises(CommandError) as raised:
        call_command("expire_pending_payments", "--older-than", "24h", stdout=out, stderr=err)

    assert raised.value.returncode == 1
    assert "1 of 3 pending payment(s) could not be settled" in str(raised.value)
    for settled in (second, third):
        assert Order.objects.get(pk=settled.order_id).status == "PAID"
        assert len(payment_transactions(settled.order_id)) == 1
    # the one that raised is rolled back alone: still pending, nothing booked, no confirmation
    assert Order.objects.get(pk=first.order_id).status == "PENDING_PAYMENT"
    assert Payment.objects.get(pk=first.pk).status == PaymentStatus.PENDING
    assert payment_transactions(first.order_id) == []
    assert not PaymentConfirmation.objects.filter(order_id=first.order_id).exists()
    assert "3 checked, 2 paid (the provider had charged), 0 failed" in out.getvalue()
    assert f"error  {first.order_id}" in err.getvalue()


def test_a_run_with_no_failure_exits_zero_and_a_rerun_settles_what_failed(three_charged_pending_payments, monkeypatch):
    first = three_charged_pending_payments[0]
    break_provider_lookup(monkeypatch, first)
    with pytest.raises(CommandError):
        call_command("expire_pending_payments", "--older-than", "24h", stdout=StringIO(), stderr=StringIO())
    monkeypatch.undo()
    out = StringIO()

    call_command("expire_pending_payments", "--older-than", "24h", stdout=out)  # no CommandError: exit 0

    assert "1 checked, 1 paid" in out.getvalue()
    assert Order.objects.get(pk=first.order_id).status == "PAID"
    assert len(payment_transactions(first.order_id)) == 1
    assert_ledger_consistent()


def test_seed_demo_seeds_every_other_item_when_one_fails_and_exits_non_zero(monkeypatch):
    from operators.management.commands import seed_demo

    def broken_wallets(*, owner):
        raise RuntimeError("wallet seed broke")

    monkeypatch.setattr(seed_demo, "seed_demo_wallets", broken_wallets)
    err = StringIO()

    with pytest.raises(CommandError) as raised:
        call_command("seed_demo", stdout=StringIO(), stderr=err)

    assert raised.value.returncode == 1
    assert "1 demo item(s) could not be seeded: demo wallets" in str(raised.value)
    assert "Could not seed demo wallets: RuntimeError" in err.getvalue()
    assert not Wallet.objects.exists()
    names = set(Account.objects.filter(is_system=False).values_list("name", flat=True))
    assert {name for name, *_ in seed_demo.DEMO_CUSTOMERS} <= names
    assert Order.objects.filter(status="PAID").exists()
