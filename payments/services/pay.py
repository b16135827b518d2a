"""Pay an order, or create one and pay it (checkout), calling the provider between two short transactions.

Three steps, because the provider is called with no transaction open and no lock held:

1. `payment_attempt_begin` (one short transaction, two statements): lock the order (checking its
   owner), and insert a PROCESSING payment for (order, client key) unless the unique constraints
   say an attempt exists. That committed row is the recovery point.
2. `payment_provider_charge` (no transaction): ask the provider, under a key derived from the
   payment id. A resumed attempt first asks the provider what became of it and charges only if
   the provider never saw it, so a retry can never charge twice.
3. `payment_attempt_finish` (one transaction): compare-and-set the order (which queues on its
   lock) and the payment on the statuses step 1 read, booking a success in the ledger between
   the two; a twin that finished the attempt first makes ours roll back.

The hot statements are raw SQL (`rows`); nothing written is read back. A request that dies
between 1 and 3 leaves a PROCESSING payment; the client's retry with the same key finds it in
step 1 and resumes from step 2. `order_pay` runs the three steps; `checkout_create` runs them
too, its step 1 creating the order along with the payment, keyed by the checkout's key; and
`authorizations.order_authorize` runs them for an authorization (a payment of kind
AUTHORIZATION, which the provider holds instead of charging, and which step 3 books nothing for).
"""

import uuid
from dataclasses import dataclass
from uuid import UUID

from django.db import IntegrityError, transaction
from django.utils import timezone

from mintguard_site import observability
from mintguard_site.db import rows

from .. import locks
from ..exceptions import CheckoutKeyConflict, InvalidOrderTransition, OrderNotPayable, PaymentKeyConflict
from ..models import BuyerTrust, Order, Payment, PaymentKind, PaymentStatus
from ..policies import PROVIDER_UNAVAILABLE, provider_unavailable_outcome
from ..providers import ChargeResult, ChargeStatus, get_provider
from ..transitions import PAYABLE_STATUSES
from .orders import order_create
from .outcomes import (
    PAYMENT_COLUMNS,
    FinishedElsewhere,
    payment_mark_confirmed,
    payment_mark_failed,
    payment_mark_pending,
)

# What the provider's success is called for each kind of attempt; the other one is a bug.
SUCCESS_OF_KIND = {PaymentKind.CHARGE: ChargeStatus.SUCCEEDED, PaymentKind.AUTHORIZATION: ChargeStatus.AUTHORIZED}


@dataclass(frozen=True)
class PayResult:
    order: Order
    payment: Payment


@transaction.atomic
def payment_attempt_begin(
    *, order_id: UUID | str, idempotency_key: str, buyer_trust: str | None = None, owner: str | None = None,
    kind: str = PaymentKind.CHARGE,
) -> tuple[Payment, bool]:
    """Step 1: commit the PROCESSING payment (a charge, or an authorization) for (order, key), the recovery point.

    Return (payment, resumed). `resumed` is True when the key's attempt already existed: still
    PROCESSING (its request died before step 3: resume it) or finished (return its outcome).
    Given `owner`, another owner's order is OrderNotFound. The key's attempt of the other kind is
    a conflict: a retry must not turn a charge into an authorization or back.
    """
    order = locks.order_for_update(order_id, owner=owner)
    now = timezone.now()
    payment = Payment(
        id=uuid.uuid4(), order=order, kind=kind, amount=order.amount, idempotency_key=idempotency_key,
        status=PaymentStatus.PROCESSING, created_at=now, updated_at=now,
    )
    # The unique constraints say whether an attempt exists: one per (order, key), one in flight
    # per order. Under the order's lock no twin can insert meanwhile, so nothing is waited for.
    if order.status in PAYABLE_STATUSES and rows.insert_unless_conflict(payment, PAYMENT_COLUMNS):
        if buyer_trust and buyer_trust != order.buyer_trust:
            order.buyer_trust, order.updated_at = buyer_trust, now
            rows.update_if_status(order, ("buyer_trust", "updated_at"), status=order.status)
        return payment, False
    # This key's attempt, or the reason there is none: read only on this rare path.
    existing = next(iter(rows.fetch(
        Payment, 'WHERE "order_id" = %s AND "idempotency_key" = %s',
        [rows.db_value(Payment, "order", order.pk), idempotency_key],
    )), None)
    if existing is not None:
        if existing.kind != kind:
            raise PaymentKeyConflict(f"Key {idempotency_key!r} already started a {existing.kind} of order {order.id}.")
        existing.order = order
        return existing, True
    if order.status not in PAYABLE_STATUSES:
        raise OrderNotPayable(f"Order {order.id} is {order.status}; only CREATED or FAILED orders can be paid.")
    raise OrderNotPayable(f"Order {order.id} has a payment in progress.")


def payment_provider_charge(*, payment: Payment, resumed: bool, simulate: str | None = None) -> ChargeResult:
    """Step 2: ask the provider to charge (or authorize), with no transaction open and no lock held.

    A resumed attempt asks the provider first what became of it: charging again is safe anyway
    (the provider key is the payment's, and providers answer a repeated key with the first answer),
    but a lookup also tells us an earlier outcome that the retry's own simulation must not change.
    """
    provider = get_provider()
    if resumed:
        earlier = provider.lookup(idempotency_key=payment.provider_key)
        if earlier is not None:
            return earlier
    call = provider.authorize if payment.kind == PaymentKind.AUTHORIZATION else provider.charge
    return call(
        idempotency_key=payment.provider_key,
        amount=payment.amount,
        currency=payment.order.currency,
        simulate=simulate if provider.accepts_simulation else None,
    )


def payment_attempt_finish(*, payment: Payment, result: ChargeResult) -> Payment:
    """Step 3: record the provider's answer on the payment and the order, booking a charge (never an authorization).

    No lock and re-read: each write is a compare-and-set on the status step 1 read (the order's
    UPDATE takes the order's lock, so this waits in the order's queue like any writer). A twin
    request (the same key, after its lease ran out) that finished the attempt first turns ours
    into a rollback, and the twin's outcome is returned.
    """
    try:
        with transaction.atomic():
            order = payment.order
            if result.status in (ChargeStatus.SUCCEEDED, ChargeStatus.AUTHORIZED):
                if result.status != SUCCESS_OF_KIND[payment.kind]:
                    raise InvalidOrderTransition(f"The provider answered {result.status} to a {payment.kind}.")
                payment_mark_confirmed(order=order, payment=payment, provider_reference=result.reference)
            elif result.status == ChargeStatus.DECLINED:
                payment_mark_failed(
                    order=order, payment=payment, reason=result.failure_reason or "declined",
                    reference=result.reference,
                )
            elif provider_unavailable_outcome(order=order) == PaymentStatus.PENDING:
                payment_mark_pending(order=order, payment=payment)
            else:
                payment_mark_failed(order=order, payment=payment, reason=PROVIDER_UNAVAILABLE)
            outcome = order.status
            transaction.on_commit(lambda: observability.record_payment(outcome), robust=True)
    except FinishedElsewhere:
        payment = Payment.objects.select_related("order").get(pk=payment.pk)
    if payment.status == PaymentStatus.PROCESSING:  # the order moved under an attempt in flight: a bug
        raise InvalidOrderTransition(f"Order {payment.order_id} is {payment.order.status} with a payment in flight.")
    return payment


def order_pay(
    *, order_id: UUID | str, idempotency_key: str, buyer_trust: str | None = None, simulate: str | None = None,
    owner: str | None = None,
) -> PayResult:
    """Pay an order once per client key, calling the provider between two short transactions.

    Call it with no transaction open (the API does): the provider step must not hold locks.
    A key's finished attempt is returned as it is; a PROCESSING one is resumed. Given `owner`,
    another owner's order is OrderNotFound.
    """
    payment, resumed = payment_attempt_begin(
        order_id=order_id, idempotency_key=idempotency_key, buyer_trust=buyer_trust, owner=owner
    )
    return payment_attempt_complete(payment=payment, resumed=resumed, simulate=simulate)


def payment_attempt_complete(*, payment: Payment, resumed: bool, simulate: str | None) -> PayResult:
    """Steps 2 and 3 for an attempt still PROCESSING; a finished one is returned as it is."""
    if payment.status == PaymentStatus.PROCESSING:
        result = payment_provider_charge(payment=payment, resumed=resumed, simulate=simulate)
        payment = payment_attempt_finish(payment=payment, result=result)
    # payment.order is the order as step 3 wrote it (or as step 1 read it, for a finished attempt).
    return PayResult(order=payment.order, payment=payment)


# --- checkout ----------------------------------------------------------------------------


@transaction.atomic
def checkout_begin(
    *,
    owner: str,
    checkout_key: str,
    buyer_id: str,
    seller_id: str | None,
    amount: int,
    currency: str,
    buyer_trust: str,
) -> tuple[Payment, bool]:
    """Step 1 of a checkout: commit the order and its PROCESSING payment together, the recovery point.

    The order is unique per (owner, checkout key): a retry finds the order and its attempt and
    resumes them. The key's order with other terms (possible only once the idempotency record of
    the first checkout expired) is a conflict, never a second order.
    """
    terms = {"user_id": buyer_id, "seller_id": seller_id or None, "amount": amount, "currency": currency,
             "buyer_trust": buyer_trust}
    order = Order.objects.filter(owner=owner, checkout_key=checkout_key).first()
    if order is None:
        try:
            with transaction.atomic():
                order = order_create(owner=owner, checkout_key=checkout_key, **terms)
        except IntegrityError:
            # A twin checkout with the key committed its order first (its key lease had run out).
            order = Order.objects.get(owner=owner, checkout_key=checkout_key)
    if any(getattr(order, name) != value for name, value in terms.items()):
        raise CheckoutKeyConflict(f"Checkout key {checkout_key!r} already created order {order.id} with other terms.")
    return payment_attempt_begin(order_id=order.id, idempotency_key=checkout_key)


def checkout_create(
    *,
    owner: str,
    checkout_key: str,
    buyer_id: str,
    seller_id: str | None,
    amount: int,
    currency: str,
    buyer_trust: str = BuyerTrust.STANDARD,
    simulate: str | None = None,
) -> PayResult:
    """Create an order and pay it in one call, once per checkout key; a retry resumes, never charges twice.

    Call it with no transaction open: the provider is called between two short transactions.
    """
    payment, resumed = checkout_begin(
        owner=owner, checkout_key=checkout_key, buyer_id=buyer_id, seller_id=seller_id, amount=amount,
        currency=currency, buyer_trust=buyer_trust,
    )
    return payment_attempt_complete(payment=payment, resumed=resumed, simulate=simulate)
