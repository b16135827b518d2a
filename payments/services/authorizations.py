"""Authorize an order now, capture part or all of it (or void it) later; expire what nobody captured.

Authorize is pay's three-step flow (`pay.py`) for a payment of kind AUTHORIZATION: the provider
holds the funds and nothing is booked. Capture and void then close the authorization once, in
three steps like pay's, around a provider call made with no transaction open and no lock held:

1. `_claim` (one short transaction, under the order's lock): check that the order is AUTHORIZED,
   the amount and the clock, move the payment to CAPTURING (with the amount and the client's key)
   or VOIDING, and commit. The claim is the recovery point, and every other capture or void is
   refused while it stands, so captures and voids racing on one order have one winner.
2. `_close`: the provider call, under a key derived from the payment (`capture:<id>`,
   `void:<id>`), so a retry, whatever its client key, gets the provider's first answer and never
   captures twice; and the provider closes an authorization once, by capture or by void.
3. `_close_record` (one transaction): book the capture with pay's own `payment_mark_succeeded`, for
   the captured amount (order PAID, paid_amount), or record the release (VOIDED or EXPIRED, order
   CANCELED). Each write is a compare-and-set on what step 1 left, so a twin that finished first
   makes ours roll back. A provider that did not answer hands the claim back (AUTHORIZED).

A request that dies between 1 and 3 leaves its claim: the capture's retry with the same key (or
any void) resumes it at step 2, and `authorizations_expire` finishes claims abandoned longer than
`policies.ABANDONED_CLAIM_AGE`. An authorization is expired from the instant
`policies.authorization_expires_at` passes: a capture or void after it releases the hold at the
provider, records EXPIRED and is refused `authorization_expired`, whether or not the expiry job
came by. Whatever the provider answers wins: a release that learns a capture went through books it.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.models import AuditAction
from audit.services import audit_record
from ledger.currencies import amount_check
from mintguard_site import observability

from .. import locks, selectors
from ..exceptions import (
    AuthorizationExpired,
    CaptureExceedsAuthorization,
    NoteRequired,
    OrderNotCapturable,
    OrderNotVoidable,
    PaymentsError,
    ProviderUnavailable,
)
from ..models import Order, Payment, PaymentKind, PaymentStatus
from ..policies import ABANDONED_CLAIM_AGE, AUTHORIZATION_EXPIRED, authorization_expires_at
from ..providers import CaptureResult, CaptureStatus, ChargeStatus, get_provider
from .expiry import each_alone
from .orders import order_audit_state
from .outcomes import FinishedElsewhere, payment_mark_released, payment_mark_succeeded, payment_record
from .pay import PayResult, payment_attempt_begin, payment_attempt_complete

logger = logging.getLogger(__name__)

P = PaymentStatus
VOID_NOTE_REQUIRED = "A note is required: say why you void this authorization."

Audit = Callable[[dict, Order], None]  # (the order's state before, the order after): writes the audit entry


def order_authorize(
    *, order_id: UUID | str, idempotency_key: str, buyer_trust: str | None = None, simulate: str | None = None,
    owner: str | None = None,
) -> PayResult:
    """Authorize an order once per client key: pay's flow, with the provider holding the funds.

    The outcomes are pay's: AUTHORIZED (nothing booked), FAILED when declined, and when the
    provider is unavailable what the outage policy says (PENDING_PAYMENT or FAILED). Call it with
    no transaction open. A key's finished attempt is returned as it is; a PROCESSING one resumed.
    """
    payment, resumed = payment_attempt_begin(
        order_id=order_id, idempotency_key=idempotency_key, buyer_trust=buyer_trust, owner=owner,
        kind=PaymentKind.AUTHORIZATION,
    )
    return payment_attempt_complete(payment=payment, resumed=resumed, simulate=simulate)


def order_capture(
    *, order_id: UUID | str, amount: int | None = None, idempotency_key: str | None = None,
    simulate: str | None = None, owner: str | None = None,
) -> PayResult:
    """Capture `amount` (by default all) of an order's authorization, book it and mark the order PAID.

    The rest of the hold is released. Refused: 409 order_not_capturable (not AUTHORIZED, or
    another capture or a void in progress), authorization_expired, capture_exceeds_authorization,
    provider_unavailable (nothing changed: retry). Call it with no transaction open.
    """
    payment = _claim(order_id=order_id, owner=owner, capture=True, amount=amount, closing_key=idempotency_key)
    payment, closed_here = _close(payment=payment, simulate=simulate)
    if payment.status == P.SUCCEEDED and closed_here:
        return PayResult(order=payment.order, payment=payment)
    raise _refusal(payment, OrderNotCapturable)


def order_void(
    *, order_id: UUID | str, idempotency_key: str | None = None, simulate: str | None = None,
    owner: str | None = None, audit: Audit | None = None,
) -> PayResult:
    """Release an order's authorization: payment VOIDED, order CANCELED, nothing booked.

    Refused: 409 order_not_voidable (not AUTHORIZED, or a capture in progress, or the provider had
    captured it: then the capture is booked), authorization_expired, provider_unavailable. `audit`
    writes the operator's audit entry in the transaction that records the void.
    """
    payment = _claim(order_id=order_id, owner=owner, capture=False, amount=None, closing_key=idempotency_key)
    payment, closed_here = _close(payment=payment, simulate=simulate, audit=audit)
    if payment.status == P.VOIDED and closed_here:
        return PayResult(order=payment.order, payment=payment)
    raise _refusal(payment, OrderNotVoidable)


@transaction.atomic
def _claim(*, order_id, owner: str | None, capture: bool, amount: int | None, closing_key: str | None) -> Payment:
    """Step 1: claim the order's authorization for a capture or a void, and commit: the recovery point.

    Return it claimed (CAPTURING or VOIDING), or still AUTHORIZED when it is past its expiry (the
    caller then releases it as EXPIRED), or claimed already by the same request (resumed).
    """
    order = locks.order_for_update(order_id, owner=owner)
    refusal, verb = (OrderNotCapturable, "captured") if capture else (OrderNotVoidable, "voided")
    payment = order.payments.filter(kind=PaymentKind.AUTHORIZATION).order_by("-created_at", "-id").first()
    if payment is None or payment.status not in (P.AUTHORIZED, P.CAPTURING, P.VOIDING):
        if payment is not None and payment.status == P.EXPIRED:
            raise AuthorizationExpired(f"The authorization of order {order.id} expired.")
        raise refusal(f"Order {order.id} is {order.status}; only AUTHORIZED orders can be {verb}.")
    payment.order = order
    if payment.status != P.AUTHORIZED:
        resumes = (
            payment.status == P.VOIDING and not capture  # a void has no terms: any void finishes it
            or payment.status == P.CAPTURING and capture and closing_key is not None
            and closing_key == payment.closing_key and amount in (None, payment.captured_amount)
        )
        if resumes:
            return payment
        action = "capture" if payment.status == P.CAPTURING else "void"
        raise refusal(f"Order {order.id} has a {action} in progress.")
    if timezone.now() >= authorization_expires_at(payment):
        return payment
    if capture:
        amount = payment.amount if amount is None else amount
        amount_check(amount, field="amount")
        if amount > payment.amount:
            raise CaptureExceedsAuthorization(
                f"Order {order.id} is authorized for {payment.amount} {order.currency}, {amount} requested.",
                authorized=payment.amount, requested=amount,
            )
    # Under the order's lock nobody else claims it meanwhile: the compare-and-set cannot miss.
    payment_record(payment=payment, status=P.CAPTURING if capture else P.VOIDING, reference=payment.provider_reference,
                   captured_amount=amount if capture else None, closing_key=closing_key)
    return payment


def _close(*, payment: Payment, simulate: str | None, audit: Audit | None = None) -> tuple[Payment, bool]:
    """Steps 2 and 3: close the authorization at the provider, then record how it closed.

    A CAPTURING claim asks for its capture; a VOIDING claim, or an expired authorization, for a
    release. Return (the payment as recorded, whether this call recorded it).
    """
    provider = get_provider()
    simulate = simulate if provider.accepts_simulation else None
    if not payment.provider_reference:
        # Confirmed by a webhook or an operator, whose word carries no reference: ask the provider,
        # by the attempt's key; step 3 keeps what it says.
        earlier = provider.lookup(idempotency_key=payment.provider_key)
        if earlier is not None and earlier.status == ChargeStatus.AUTHORIZED:
            payment.provider_reference = earlier.reference
    if payment.status == P.CAPTURING:
        result = provider.capture(idempotency_key=payment.capture_key, amount=payment.captured_amount,
                                  authorization_reference=payment.provider_reference, simulate=simulate)
    else:
        result = provider.void(idempotency_key=payment.void_key, authorization_reference=payment.provider_reference,
                               simulate=simulate)
    return _close_record(payment=payment, result=result, audit=audit)


def _close_record(*, payment: Payment, result: CaptureResult, audit: Audit | None) -> tuple[Payment, bool]:
    """Step 3: book the capture the provider made, or record the release; hand the claim back if it said neither."""
    claimed = payment.status in (P.CAPTURING, P.VOIDING)
    if result.status not in (CaptureStatus.CAPTURED, CaptureStatus.VOIDED):
        if not claimed:  # releasing an expired one: it is expired whatever the provider says; the job retries
            raise AuthorizationExpired(f"The authorization of order {payment.order_id} expired.")
        _claim_hand_back(payment)
        if result.status == CaptureStatus.UNAVAILABLE:
            raise ProviderUnavailable(f"The provider did not answer ({result.failure_reason}); nothing changed: retry.")
        refusal = OrderNotCapturable if payment.status == P.CAPTURING else OrderNotVoidable
        raise refusal(f"The provider refused it: {result.failure_reason}.")
    order = payment.order
    try:
        with transaction.atomic():
            before = order_audit_state(order)
            if result.status == CaptureStatus.CAPTURED:
                payment_mark_succeeded(order=order, payment=payment, provider_reference=payment.provider_reference,
                                       amount=result.amount)
            elif payment.status == P.VOIDING:
                payment_mark_released(order=order, payment=payment, status=P.VOIDED)
                if audit is not None:
                    audit(before, order)
            else:  # an expired one released, or a capture that found it released by the expiry
                payment_mark_released(order=order, payment=payment, status=P.EXPIRED, reason=AUTHORIZATION_EXPIRED)
            outcome = order.status
            transaction.on_commit(lambda: observability.record_payment(outcome), robust=True)
    except FinishedElsewhere:
        return Payment.objects.select_related("order").get(pk=payment.pk), False
    return payment, True


def _claim_hand_back(payment: Payment) -> None:
    """Give a claim back (AUTHORIZED) after the provider did nothing: safe, its keys make any retry answer the same."""
    try:
        with transaction.atomic():
            payment_record(payment=payment, status=P.AUTHORIZED, reference=payment.provider_reference)
    except FinishedElsewhere:  # a twin resumed and finished it meanwhile
        pass


def _refusal(payment: Payment, refusal: type[PaymentsError]) -> PaymentsError:
    """Why a capture or void did not take place, from how the authorization closed instead."""
    if payment.status == P.EXPIRED:
        return AuthorizationExpired(f"The authorization of order {payment.order_id} expired.")
    closed = {P.SUCCEEDED: "was captured", P.VOIDED: "was voided"}.get(payment.status, f"is {payment.status}")
    return refusal(f"The authorization of order {payment.order_id} {closed}.")


# --- expiry ------------------------------------------------------------------------------


@dataclass
class AuthorizationExpiryReport:
    checked: int = 0
    expired: list[UUID] = field(default_factory=list)
    captured: list[UUID] = field(default_factory=list)  # a claimed capture finished, or found made at the provider
    voided: list[UUID] = field(default_factory=list)  # a claimed void finished
    ignored: list[UUID] = field(default_factory=list)  # settled meanwhile by a request
    provider_unreachable: list[UUID] = field(default_factory=list)  # left as they were for the next run
    errors: list[tuple[UUID, str]] = field(default_factory=list)


def authorizations_expire(*, now: datetime | None = None) -> AuthorizationExpiryReport:
    """Expire the authorizations past MINTGUARD_AUTHORIZATION_TTL, and finish abandoned captures and voids.

    An expired one is released at the provider (payment EXPIRED, order CANCELED), unless the
    provider says it was captured, which is then booked. A claim older than ABANDONED_CLAIM_AGE is
    finished as its request would have. Each is settled alone; one that raises is logged and
    counted in `errors`. Running it again changes nothing more.
    """
    now = now or timezone.now()
    report = AuthorizationExpiryReport()
    due = selectors.authorizations_due(
        expired_before=now - timedelta(seconds=settings.MINTGUARD_AUTHORIZATION_TTL),
        claimed_before=now - ABANDONED_CLAIM_AGE,
    )
    for payment in due:
        report.checked += 1
        try:
            with each_alone():
                payment, closed_here = _close(payment=payment, simulate=None)
        except (AuthorizationExpired, ProviderUnavailable):
            report.provider_unreachable.append(payment.order_id)
            continue
        except Exception as exc:
            logger.exception("authorization expiry failed", extra={
                "order_id": str(payment.order_id), "payment_id": str(payment.id),
            })
            report.errors.append((payment.order_id, f"{type(exc).__name__}: {exc}"))
            continue
        outcomes = {P.EXPIRED: report.expired, P.SUCCEEDED: report.captured, P.VOIDED: report.voided}
        (outcomes.get(payment.status, report.ignored) if closed_here else report.ignored).append(payment.order_id)
    return report


# --- by an operator ----------------------------------------------------------------------


def operator_void(*, actor, order_id: UUID | str, note: str) -> PayResult:
    """Void an order's authorization as an operator, with the note the audit log keeps.

    The provider is called with no transaction open, so the audit entry is written by the void's
    own recording transaction (`order_void`'s `audit`): it commits with the void, or neither does.
    """
    note = (note or "").strip()
    if not note:
        raise NoteRequired(VOID_NOTE_REQUIRED, field="note")

    def audit(before: dict, order: Order) -> None:
        audit_record(actor=actor, action=AuditAction.AUTHORIZATION_VOIDED, target_type="order", target_id=order.pk,
                     before=before, after=order_audit_state(order), note=note)

    return order_void(order_id=order_id, audit=audit)
