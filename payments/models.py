"""Orders, their payment attempts and refunds, and the simulated provider's own records.

Invariants (services check them first, for clear errors; the database is the last word):

1. An order's amount is positive; `paid_amount` (what was charged or captured) is 1..amount exactly
   when the order is paid, else 0, and 0 <= refunded_amount <= paid_amount (CHECKs). Its status is
   one of `OrderStatus` (CHECK) and changes only through `payments.transitions.order_transition`.
2. A payment attempt is unique per (order, idempotency key): a retry of the client's key resumes
   the same attempt instead of starting a second charge (UNIQUE).
3. An order has at most one SUCCEEDED payment and at most one payment in flight or holding funds
   (`IN_FLIGHT_PAYMENT_STATUSES`, an authorization included) at a time (partial UNIQUE indexes), so
   two concurrent pays or authorizations can never both charge or hold.
4. A SUCCEEDED payment carries the ledger transaction that booked it, posted under reference
   `payment:<payment id>`, and its `captured_amount` (1..amount: what the provider took, all of a
   charge, part or all of an authorization); a refund carries its own, under `refund:<refund id>`.
   The ledger's unique (owner, reference) makes booking either twice impossible. Only an
   authorization (`kind`) reaches the authorization statuses, and it carries when it was authorized.
5. Refund amounts are positive (CHECK); their sum is the order's refunded_amount, kept under the
   order's row lock. A caller's refund key is unique per order (UNIQUE), so a repeated key
   returns the first refund.
6. The simulated provider's charges, authorizations and refunds are unique per provider idempotency
   key, as a real provider's are: asking twice returns the first answer (`providers/records.py`).
7. A checkout creates at most one order per (owner, checkout key) (partial UNIQUE), so a retried
   checkout resumes its order instead of creating a second one.
8. Every inbound provider webhook is a `WebhookEvent` row; among the deliveries of one `event_id`
   exactly one is not a duplicate (partial UNIQUE on event_id), so an event takes effect once however
   many times, and however concurrently, it is delivered. A delivery whose signature failed keeps
   only the first `webhooks.REFUSED_BODY_PREFIX` bytes of its body (a CHECK bounds the stored text),
   with the whole body's SHA-256 and length.
9. Every provider outcome applied to an order (webhook, operator, expiry) leaves a
   `PaymentConfirmation` row saying who applied what and what it did.
10. A settlement file is imported once: its run is unique by the file's SHA-256 (UNIQUE), and its
   fees are posted under the system reference `settlement:<sha256>`. A payment or refund is
   matched by at most one settlement line (partial UNIQUE), so no two files settle it twice. A
   break is resolved once, with a note and who resolved it (CHECK).
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone

from ledger.models import Transaction
from payments import webhooks

# The simulated provider's tables live with it; imported here, where Django finds models.
from payments.providers.records import SimulatedAuthorization, SimulatedCharge, SimulatedRefund  # noqa: F401


class OrderStatus(models.TextChoices):
    CREATED = "CREATED", "Created"
    PENDING_PAYMENT = "PENDING_PAYMENT", "Pending payment"
    AUTHORIZED = "AUTHORIZED", "Authorized"
    PAID = "PAID", "Paid"
    FAILED = "FAILED", "Failed"
    CANCELED = "CANCELED", "Canceled"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED", "Partially refunded"
    REFUNDED = "REFUNDED", "Refunded"


class BuyerTrust(models.TextChoices):
    TRUSTED = "trusted", "Trusted"
    STANDARD = "standard", "Standard"
    NEW = "new", "New"


class PaymentStatus(models.TextChoices):
    PROCESSING = "PROCESSING", "Processing"  # committed before the provider call: the recovery point
    SUCCEEDED = "SUCCEEDED", "Succeeded"
    FAILED = "FAILED", "Failed"
    PENDING = "PENDING", "Pending"  # provider unavailable, buyer trusted: awaiting confirmation
    AUTHORIZED = "AUTHORIZED", "Authorized"  # funds held by the provider, nothing booked
    # A capture or void claimed the authorization and was committed before the provider call:
    # its recovery point, as PROCESSING is an attempt's.
    CAPTURING = "CAPTURING", "Capturing"
    VOIDING = "VOIDING", "Voiding"
    VOIDED = "VOIDED", "Voided"
    EXPIRED = "EXPIRED", "Expired"  # not captured within MINTGUARD_AUTHORIZATION_TTL


class PaymentKind(models.TextChoices):
    CHARGE = "charge", "Charge"
    AUTHORIZATION = "authorization", "Authorization"  # authorize now, capture (or void) later


class RefundStatus(models.TextChoices):
    SUCCEEDED = "SUCCEEDED", "Succeeded"


# Statuses that keep the order busy: no second attempt may start beside one of them.
HELD_PAYMENT_STATUSES = (PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURING, PaymentStatus.VOIDING)
IN_FLIGHT_PAYMENT_STATUSES = (PaymentStatus.PROCESSING, PaymentStatus.PENDING, *HELD_PAYMENT_STATUSES)
# Statuses only an authorization reaches.
AUTHORIZATION_STATUSES = (*HELD_PAYMENT_STATUSES, PaymentStatus.VOIDED, PaymentStatus.EXPIRED)
# Statuses whose payment says what it took: the capture claimed, or what was booked.
CAPTURED_PAYMENT_STATUSES = (PaymentStatus.CAPTURING, PaymentStatus.SUCCEEDED)
PAID_ORDER_STATUSES = (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED)


class Order(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.CharField(max_length=64, help_text="The API client (or operator) it belongs to.")
    user_id = models.CharField(max_length=64, help_text="The buyer, as the client identifies them.")
    seller_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 - the API shows null when none
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=12)
    status = models.CharField(max_length=20, choices=OrderStatus.choices, default=OrderStatus.CREATED)
    refunded_amount = models.BigIntegerField(default=0)
    paid_amount = models.BigIntegerField(default=0, help_text="What was charged or captured; refunds are capped by it.")
    buyer_trust = models.CharField(max_length=10, choices=BuyerTrust.choices, default=BuyerTrust.STANDARD)
    description = models.CharField(max_length=500, blank=True, default="")
    failure_reason = models.CharField(max_length=100, blank=True, default="")
    # NULL, not "": orders made outside a checkout stay out of the partial unique index.
    checkout_key = models.CharField(  # noqa: DJ001
        max_length=255, null=True, blank=True, help_text="The Idempotency-Key of the checkout that created it."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # The dashboard's actions on orders, beside Django's view/add/change/delete.
        permissions = [
            ("refund_order", "Can refund paid orders"),
            ("resolve_pending", "Can mark pending payments paid or failed"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payments_order_amount_positive"),
            models.UniqueConstraint(
                fields=["owner", "checkout_key"],
                condition=Q(checkout_key__isnull=False),
                name="payments_order_checkout_key_unique",
            ),
            models.CheckConstraint(
                condition=Q(status__in=PAID_ORDER_STATUSES, paid_amount__gt=0, paid_amount__lte=F("amount"))
                | (~Q(status__in=PAID_ORDER_STATUSES) & Q(paid_amount=0)),
                name="payments_order_paid_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0) & Q(refunded_amount__lte=F("paid_amount")),
                name="payments_order_refunded_within_paid",
            ),
            models.CheckConstraint(condition=Q(status__in=OrderStatus.values), name="payments_order_status_valid"),
            models.CheckConstraint(
                condition=Q(buyer_trust__in=BuyerTrust.values), name="payments_order_buyer_trust_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "-created_at", "-id"], name="payments_order_owner_recent"),
            models.Index(fields=["status", "-created_at"], name="payments_order_status_recent"),
        ]

    def __str__(self) -> str:
        return f"Order {self.id} ({self.status})"

    @property
    def refundable_amount(self) -> int:
        return self.paid_amount - self.refunded_amount


class Payment(models.Model):
    """One attempt to charge or authorize an order, keyed by the client's Idempotency-Key."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payments")
    kind = models.CharField(max_length=13, choices=PaymentKind.choices, default=PaymentKind.CHARGE)
    status = models.CharField(max_length=12, choices=PaymentStatus.choices, default=PaymentStatus.PROCESSING)
    amount = models.BigIntegerField(help_text="What was asked of the provider: the order's amount.")
    captured_amount = models.BigIntegerField(null=True, blank=True, help_text="What the provider took (or a "
                                             "capture in progress claims); null until then.")
    authorized_at = models.DateTimeField(null=True, blank=True)
    # NULL: a void sent without a key. Only the request holding the key resumes a claimed capture.
    closing_key = models.CharField(  # noqa: DJ001
        max_length=255, null=True, blank=True, help_text="The client's key of the capture or void that claimed it."
    )
    idempotency_key = models.CharField(max_length=255, help_text="The client's key for this attempt.")
    provider_reference = models.CharField(max_length=100, blank=True, default="")
    failure_reason = models.CharField(max_length=100, blank=True, default="")
    ledger_transaction = models.OneToOneField(
        Transaction, null=True, blank=True, on_delete=models.PROTECT, related_name="payment"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payments_payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(status__in=PaymentStatus.values), name="payments_payment_status_valid"
            ),
            models.UniqueConstraint(fields=["order", "idempotency_key"], name="payments_payment_key_unique"),
            models.UniqueConstraint(
                fields=["order"], condition=Q(status=PaymentStatus.SUCCEEDED), name="payments_payment_one_success"
            ),
            models.UniqueConstraint(
                fields=["order"],
                condition=Q(status__in=IN_FLIGHT_PAYMENT_STATUSES),
                name="payments_payment_one_in_flight",
            ),
            # A booked payment is a succeeded one, and a succeeded one is booked.
            models.CheckConstraint(
                condition=Q(status=PaymentStatus.SUCCEEDED, ledger_transaction__isnull=False)
                | (~Q(status=PaymentStatus.SUCCEEDED) & Q(ledger_transaction__isnull=True)),
                name="payments_payment_succeeded_is_booked",
            ),
            models.CheckConstraint(
                # IS NOT NULL spelled out: a CHECK whose condition is NULL passes.
                condition=Q(status__in=CAPTURED_PAYMENT_STATUSES, captured_amount__isnull=False,
                            captured_amount__gt=0, captured_amount__lte=F("amount"))
                | (~Q(status__in=CAPTURED_PAYMENT_STATUSES) & Q(captured_amount__isnull=True)),
                name="payments_payment_captured_within_amount",
            ),
            models.CheckConstraint(condition=Q(kind__in=PaymentKind.values), name="payments_payment_kind_valid"),
            models.CheckConstraint(
                condition=~Q(status__in=AUTHORIZATION_STATUSES)
                | Q(kind=PaymentKind.AUTHORIZATION, authorized_at__isnull=False),
                name="payments_payment_authorization_statuses",
            ),
        ]
        # A settlement file names payments by the provider's reference.
        indexes = [models.Index(fields=["provider_reference"], name="payments_payment_provider_ref")]

    def __str__(self) -> str:
        return f"Payment {self.id} ({self.status})"

    @property
    def provider_key(self) -> str:
        """The idempotency key sent to the provider: one per attempt, so a retry never charges twice."""
        return f"payment:{self.id}"

    @property
    def capture_key(self) -> str:
        """The provider key of this authorization's one capture: every retry sends the same."""
        return f"capture:{self.id}"

    @property
    def void_key(self) -> str:
        """The provider key that releases this authorization (a void, or its expiry)."""
        return f"void:{self.id}"


class Refund(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.BigIntegerField()
    reason = models.CharField(max_length=500, blank=True, default="")
    status = models.CharField(max_length=12, choices=RefundStatus.choices, default=RefundStatus.SUCCEEDED)
    ledger_transaction = models.OneToOneField(Transaction, on_delete=models.PROTECT, related_name="refund")
    created_by = models.CharField(max_length=64, help_text="API client owner or operator who asked for it.")
    # NULL, not "": refunds made without a key stay out of the partial unique index.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    provider_reference = models.CharField(
        max_length=100, blank=True, default="", help_text="Empty until the provider acknowledged the refund."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="payments_refund_amount_positive"),
            models.CheckConstraint(condition=Q(status__in=RefundStatus.values), name="payments_refund_status_valid"),
            # Keys are the caller's: two callers may use the same key string on one order.
            models.UniqueConstraint(
                fields=["order", "created_by", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="payments_refund_key_unique",
            ),
        ]
        # A settlement file names refunds by the provider's reference.
        indexes = [models.Index(fields=["provider_reference"], name="payments_refund_provider_ref")]

    def __str__(self) -> str:
        return f"Refund {self.id} ({self.amount})"

    @property
    def provider_key(self) -> str:
        return f"refund:{self.id}"


class ConfirmationSource(models.TextChoices):
    WEBHOOK = "webhook", "Provider webhook"
    OPERATOR = "operator", "Operator"
    EXPIRY = "expiry", "Pending expiry"


class ConfirmationOutcome(models.TextChoices):
    PAID = "PAID", "Paid"
    FAILED = "FAILED", "Failed"


class ConfirmationResult(models.TextChoices):
    """What applying a provider outcome to an order did (`payment_outcome_apply`)."""

    APPLIED = "applied", "Applied"
    IGNORED_ALREADY_PAID = "ignored_already_paid", "Ignored: order already paid"
    IGNORED_FAILED_AFTER_PAID = "ignored_failed_after_paid", "Ignored: FAILED after PAID"
    IGNORED_ALREADY_FAILED = "ignored_already_failed", "Ignored: order already failed"
    IGNORED_NOT_PENDING = "ignored_not_pending", "Ignored: order not awaiting confirmation"
    IGNORED_PAYMENT_IN_PROGRESS = "ignored_payment_in_progress", "Ignored: another payment attempt in progress"


class PaymentConfirmation(models.Model):
    """One provider outcome applied to an order, by a webhook, an operator or the pending expiry."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="confirmations")
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="confirmations",
        help_text="The payment whose status it changed, when it changed one.",
    )
    outcome = models.CharField(max_length=10, choices=ConfirmationOutcome.choices)
    source = models.CharField(max_length=10, choices=ConfirmationSource.choices)
    actor = models.CharField(max_length=150, blank=True, default="", help_text="Operator username, or empty.")
    note = models.CharField(max_length=500, blank=True, default="")
    result = models.CharField(max_length=40, choices=ConfirmationResult.choices)
    status_before = models.CharField(max_length=20, choices=OrderStatus.choices)
    status_after = models.CharField(max_length=20, choices=OrderStatus.choices)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome__in=ConfirmationOutcome.values), name="payments_confirmation_outcome_valid"
            ),
            models.CheckConstraint(
                condition=Q(source__in=ConfirmationSource.values), name="payments_confirmation_source_valid"
            ),
        ]
        indexes = [models.Index(fields=["order", "-created_at"], name="payments_confirmation_order")]

    def __str__(self) -> str:
        return f"{self.outcome} by {self.source} on order {self.order_id}: {self.result}"


# What became of one webhook delivery: every ConfirmationResult (built from it, so a result that
# payment_outcome_apply can return always fits the CHECK below), or why it was refused or skipped.
WebhookResult = models.TextChoices("WebhookResult", [
    *((result.name, (result.value, result.label)) for result in ConfirmationResult),
    ("IGNORED_UNKNOWN_ORDER", ("ignored_unknown_order", "Ignored: unknown order")),
    ("DUPLICATE", ("duplicate", "Duplicate event")),
    ("REJECTED_SIGNATURE", ("rejected_signature", "Rejected: bad signature or timestamp")),
    ("REJECTED_INVALID", ("rejected_invalid", "Rejected: invalid body")),
])


class WebhookEvent(models.Model):
    """One inbound provider webhook delivery, stored whatever became of it, for operators.

    `event_id` is the body's event id, on every delivery whose signature was valid (empty on the
    others: an unsigned body is not evidence of anything). The first delivery of an event id is the
    one with `is_duplicate=False`; a partial UNIQUE index makes it the only one, so concurrent
    deliveries of one event race on the database, not in Python.

    Anyone can post a delivery whose signature fails, so such a row keeps only the first
    `webhooks.REFUSED_BODY_PREFIX` bytes of its body, with `body_sha256` and `body_length` of the
    whole (both empty on other rows, which keep their body whole, and on rows stored before).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event_id = models.CharField(max_length=64, blank=True, default="")
    is_duplicate = models.BooleanField(default=False)
    webhook_id = models.CharField(max_length=255, blank=True, default="", help_text="The webhook-id header.")
    order = models.ForeignKey(
        Order, null=True, blank=True, on_delete=models.PROTECT, related_name="webhook_events"
    )
    order_ref = models.CharField(max_length=64, blank=True, default="", help_text="The body's order_id, as sent.")
    outcome = models.CharField(max_length=10, blank=True, default="")
    result = models.CharField(max_length=40, choices=WebhookResult.choices)
    detail = models.CharField(max_length=500, blank=True, default="", help_text="Why it was refused, if it was.")
    headers = models.JSONField(default=dict, blank=True, help_text="The headers of interest, as received.")
    body = models.TextField(blank=True, default="")
    body_sha256 = models.CharField(
        max_length=64, blank=True, default="", help_text="SHA-256 (hex) of the whole body, when only a prefix is kept."
    )
    body_length = models.PositiveIntegerField(
        null=True, blank=True, help_text="The whole body's length in bytes, when only a prefix is kept."
    )
    received_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["event_id"],
                condition=Q(is_duplicate=False) & ~Q(event_id=""),
                name="payments_webhook_event_once",
            ),
            models.CheckConstraint(
                condition=Q(result__in=WebhookResult.values), name="payments_webhook_result_valid"
            ),
            models.CheckConstraint(
                condition=~Q(result=WebhookResult.REJECTED_SIGNATURE)
                | Q(LessThanOrEqual(Length("body"), webhooks.REFUSED_BODY_PREFIX)),
                name="payments_webhook_refused_body_bounded",
            ),
        ]
        indexes = [
            models.Index(fields=["-received_at"], name="payments_webhook_recent"),
            models.Index(fields=["event_id"], name="payments_webhook_event_id"),
            models.Index(fields=["result", "-received_at"], name="payments_webhook_result_recent"),
        ]

    def __str__(self) -> str:
        return f"Webhook {self.event_id or self.webhook_id or self.id} ({self.result})"


# --- settlement reconciliation (`payments/services/settlements.py`) ------------------------


class SettlementLineType(models.TextChoices):
    CHARGE = "charge", "Charge"
    REFUND = "refund", "Refund"


class SettlementBreakKind(models.TextChoices):
    """Why a settlement line, or one of our payments or refunds, does not reconcile."""

    MISSING_IN_LEDGER = "missing_in_ledger", "Missing in ledger"  # settled, but no succeeded payment/refund of ours
    MISSING_AT_PROVIDER = "missing_at_provider", "Missing at provider"  # ours, absent from a report covering its day
    AMOUNT_MISMATCH = "amount_mismatch", "Amount mismatch"
    CURRENCY_MISMATCH = "currency_mismatch", "Currency mismatch"
    DUPLICATE = "duplicate", "Duplicate"  # its reference twice in the file, or matched by an earlier file


class SettlementLineStatus(models.TextChoices):
    MATCHED = "matched", "Matched"
    MISSING_IN_LEDGER = SettlementBreakKind.MISSING_IN_LEDGER.value, SettlementBreakKind.MISSING_IN_LEDGER.label
    AMOUNT_MISMATCH = SettlementBreakKind.AMOUNT_MISMATCH.value, SettlementBreakKind.AMOUNT_MISMATCH.label
    CURRENCY_MISMATCH = SettlementBreakKind.CURRENCY_MISMATCH.value, SettlementBreakKind.CURRENCY_MISMATCH.label
    DUPLICATE = SettlementBreakKind.DUPLICATE.value, SettlementBreakKind.DUPLICATE.label


class SettlementRun(models.Model):
    """One imported settlement file: what it held, what matched, the fees it posted.

    `fees` maps currency -> the fees posted in minor units (DR provider_fees / CR cash, one ledger
    transaction, `fee_transaction`, under the system reference `settlement:<file_sha256>`).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.CharField(max_length=150, help_text="Who imported it: an operator, or the command's user.")
    file_name = models.CharField(max_length=255)
    file_sha256 = models.CharField(max_length=64, unique=True)
    lines = models.PositiveIntegerField()
    matched = models.PositiveIntegerField()
    fees = models.JSONField(default=dict, blank=True)
    covered_from = models.DateField(null=True, blank=True, help_text="The first UTC day of the file's settled_at.")
    covered_to = models.DateField(null=True, blank=True, help_text="The last UTC day of the file's settled_at.")
    fee_transaction = models.OneToOneField(
        Transaction, null=True, blank=True, on_delete=models.PROTECT, related_name="settlement_run"
    )

    class Meta:
        permissions = [
            ("import_settlement", "Can import settlement files"),
            ("resolve_settlement_break", "Can resolve settlement breaks"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(matched__lte=F("lines")), name="payments_settlement_matched_within"),
        ]
        indexes = [models.Index(fields=["-created_at", "-id"], name="payments_settlement_recent")]

    def __str__(self) -> str:
        return f"Settlement {self.file_name} ({self.lines} lines, {self.matched} matched)"


class SettlementLine(models.Model):
    """One line of a settlement file, as the provider wrote it, and what it matched."""

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(SettlementRun, on_delete=models.PROTECT, related_name="file_lines")
    line_number = models.PositiveIntegerField(help_text="Its line in the file (the header is line 1).")
    provider_reference = models.CharField(max_length=100)
    type = models.CharField(max_length=6, choices=SettlementLineType.choices)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=12)
    fee = models.BigIntegerField()
    settled_at = models.DateTimeField()
    status = models.CharField(max_length=20, choices=SettlementLineStatus.choices)
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="settlement_lines")
    refund = models.ForeignKey(Refund, null=True, blank=True, on_delete=models.PROTECT,
                               related_name="settlement_lines")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0) & Q(fee__gte=0), name="payments_settleline_amounts"),
            models.CheckConstraint(condition=Q(type__in=SettlementLineType.values), name="payments_settleline_type"),
            models.CheckConstraint(condition=Q(status__in=SettlementLineStatus.values),
                                   name="payments_settleline_status"),
            models.UniqueConstraint(fields=["run", "line_number"], name="payments_settleline_number_unique"),
            # Settled once: a second file's line for the same payment or refund is a duplicate.
            models.UniqueConstraint(fields=["payment"], condition=Q(status="matched"),
                                    name="payments_settleline_payment_once"),
            models.UniqueConstraint(fields=["refund"], condition=Q(status="matched"),
                                    name="payments_settleline_refund_once"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.provider_reference} ({self.status})"


class SettlementBreak(models.Model):
    """Something a settlement run could not reconcile, until an operator resolves it with a note.

    `amount` and `currency` are the provider's (ours for missing_at_provider); `ledger_amount` and
    `ledger_currency` are ours when we have a payment or refund to compare with.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey(SettlementRun, on_delete=models.PROTECT, related_name="breaks")
    kind = models.CharField(max_length=20, choices=SettlementBreakKind.choices)
    line = models.OneToOneField(SettlementLine, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="settlement_break")
    provider_reference = models.CharField(max_length=100, blank=True, default="")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=12)
    ledger_amount = models.BigIntegerField(null=True, blank=True)
    ledger_currency = models.CharField(max_length=12, blank=True, default="")
    payment = models.ForeignKey(Payment, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="settlement_breaks")
    refund = models.ForeignKey(Refund, null=True, blank=True, on_delete=models.PROTECT,
                               related_name="settlement_breaks")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    note = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=SettlementBreakKind.values), name="payments_settlebreak_kind"),
            # Resolved means: when, by whom, and why.
            models.CheckConstraint(
                condition=Q(resolved_at__isnull=True, resolved_by__isnull=True, note="")
                | (Q(resolved_at__isnull=False, resolved_by__isnull=False) & ~Q(note="")),
                name="payments_settlebreak_resolved_with_note",
            ),
        ]
        indexes = [
            models.Index(fields=["run", "kind"], name="payments_settlebreak_run_kind"),
            models.Index(fields=["kind"], condition=Q(resolved_at__isnull=True), name="payments_settlebreak_open"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.provider_reference or self.pk}"

    @property
    def resolved(self) -> bool:
        return self.resolved_at is not None
