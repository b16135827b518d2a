"""Payments errors: `DomainError`s, so the API's one handler maps them by category."""

from mintguard_site.errors import DomainError


class PaymentsError(DomainError):
    code = "payments_error"
    title = "Payments error"


class OrderNotFound(PaymentsError):
    code = "order_not_found"
    title = "Order not found"
    category = "not_found"


class OrderNotPayable(PaymentsError):
    code = "order_not_payable"
    title = "Order is not payable"
    category = "conflict"


class OrderNotRefundable(PaymentsError):
    code = "order_not_refundable"
    title = "Order is not refundable"
    category = "conflict"


class RefundExceedsRemaining(PaymentsError):
    code = "refund_exceeds_remaining"
    title = "Refund exceeds the remaining paid amount"
    category = "conflict"


class RefundKeyConflict(PaymentsError):
    """A refund key already used on this order for another amount."""

    code = "idempotency_key_reused"
    title = "Refund key reused with a different amount"
    category = "conflict"


class InvalidOrderTransition(PaymentsError):
    """A status change the order's lifecycle does not allow: a bug or a lost race, never ignored."""

    code = "invalid_order_transition"
    title = "Invalid order status change"
    category = "conflict"


class CheckoutKeyConflict(PaymentsError):
    """A checkout key that already created an order with other terms (after its idempotency record expired)."""

    code = "idempotency_key_reused"
    title = "Checkout key reused with a different order"
    category = "conflict"


class WebhookSignatureInvalid(PaymentsError):
    """A webhook delivery with a missing or wrong signature, or a stale timestamp: not from the provider."""

    code = "invalid_webhook_signature"
    title = "Invalid webhook signature"
    category = "unauthenticated"


class NoteRequired(PaymentsError):
    """Resolving a payment by hand needs the operator's reason, for the audit log."""

    code = "note_required"
    title = "A note is required"
    category = "validation"
    # The one wording, for the service's refusal and the dashboard form's alike.
    message = "A note is required: say why you mark this payment by hand."


class PaymentKeyConflict(PaymentsError):
    """A client key that already started another kind of attempt on this order (a charge, not an authorization)."""

    code = "idempotency_key_reused"
    title = "Payment key reused for another kind of attempt"
    category = "conflict"


class OrderNotCapturable(PaymentsError):
    code = "order_not_capturable"
    title = "Order is not capturable"
    category = "conflict"


class OrderNotVoidable(PaymentsError):
    code = "order_not_voidable"
    title = "Order is not voidable"
    category = "conflict"


class AuthorizationExpired(PaymentsError):
    """The authorization outlived MINTGUARD_AUTHORIZATION_TTL: it holds nothing any more."""

    code = "authorization_expired"
    title = "Authorization expired"
    category = "conflict"


class CaptureExceedsAuthorization(PaymentsError):
    code = "capture_exceeds_authorization"
    title = "Capture exceeds the authorized amount"
    category = "conflict"


class ProviderUnavailable(PaymentsError):
    """The provider did not answer a capture or void; nothing changed, and a retry asks it again."""

    code = "provider_unavailable"
    title = "Payment provider unavailable"
    category = "conflict"


class SettlementFileInvalid(PaymentsError):
    """A settlement file that is not what the provider's format says: refused whole, nothing stored.

    `errors` lists (line number, message); line 0 is the file as a whole (its size, its encoding).
    """

    code = "settlement_file_invalid"
    title = "Settlement file refused"
    category = "validation"

    def __init__(self, errors: list[tuple[int, str]], shown: int = 20):
        self.errors = errors
        listed = [f"line {line}: {message}" if line else message for line, message in errors[:shown]]
        more = f" (and {len(errors) - shown} more)" if len(errors) > shown else ""
        super().__init__("; ".join(listed) + more, errors=errors)


class SettlementRunNotFound(PaymentsError):
    code = "settlement_not_found"
    title = "Settlement run not found"
    category = "not_found"


class SettlementBreakNotFound(PaymentsError):
    code = "settlement_break_not_found"
    title = "Settlement break not found"
    category = "not_found"


class SettlementBreakResolved(PaymentsError):
    """The break was resolved already (by someone else meanwhile, or a form sent twice)."""

    code = "settlement_break_resolved"
    title = "Settlement break already resolved"
    category = "conflict"


class SettlementNoteRequired(PaymentsError):
    """Resolving a settlement break needs the operator's reason, for the audit log."""

    code = "note_required"
    title = "A note is required"
    category = "validation"
    message = "A note is required: say how this break was settled."
