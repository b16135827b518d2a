"""Every write of the payments app, one module per flow; import them from here.

- `orders`: create an order.
- `pay`: pay an order, or create and pay one (checkout), in three steps around the provider call.
- `authorizations`: authorize an order (pay's flow, holding the funds), capture or void it later,
  in three steps around the provider call; expire what nobody captured; an operator's void.
- `outcomes`: write a payment's outcome on the payment and its order, booking a success.
- `confirmations`: the provider's later word on a pending payment, through one door
  (`payment_outcome_apply`), also as an operator marks it by hand.
- `webhooks`: the provider's signed webhooks, authenticated, recorded, applied once.
- `expiry`: settle the pending payments that no webhook confirmed.
- `refunds`: refund a paid order (the rule: `refund_eligibility`), also as an operator.

Services that lock take the order's id and return the row as they left it under the lock, with
what they did, so callers need not read it again.
"""

from .authorizations import (
    AuthorizationExpiryReport,
    authorizations_expire,
    operator_void,
    order_authorize,
    order_capture,
    order_void,
)
from .confirmations import OperatorResolveResult, operator_resolve_pending, payment_outcome_apply
from .expiry import ExpiryReport, pending_payments_expire
from .orders import order_create
from .pay import (
    PayResult,
    checkout_begin,
    checkout_create,
    order_pay,
    payment_attempt_begin,
    payment_attempt_finish,
)
from .refunds import OperatorRefundResult, operator_refund, refund_create, refund_eligibility
from .webhooks import (
    WebhookReceipt,
    provider_webhook_authenticate,
    provider_webhook_receive,
    provider_webhook_refuse,
    provider_webhook_reject,
)

__all__ = [
    "AuthorizationExpiryReport", "ExpiryReport", "OperatorRefundResult", "OperatorResolveResult", "PayResult",
    "WebhookReceipt", "authorizations_expire", "checkout_begin", "checkout_create", "operator_refund",
    "operator_resolve_pending", "operator_void", "order_authorize", "order_capture", "order_create", "order_pay",
    "order_void",
    "payment_attempt_begin", "payment_attempt_finish", "payment_outcome_apply", "pending_payments_expire",
    "provider_webhook_authenticate", "provider_webhook_receive", "provider_webhook_refuse", "provider_webhook_reject",
    "refund_create", "refund_eligibility",
]
