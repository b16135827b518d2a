"""Orders, payments and refunds as the API shows them: the bodies the API views answer with and the
`data` of the events the services record, rendered once for both.

Plain dicts, the shapes `payments.api.serializers` documents (OrderSerializer, PaymentSerializer,
RefundSerializer), field for field and in that order, with DRF's own timestamp format.
"""

from rest_framework.fields import DateTimeField

from .models import Order, Payment, Refund

_timestamp = DateTimeField().to_representation


def order_body(order: Order) -> dict:
    return {
        "id": str(order.id),
        "user_id": order.user_id,
        "seller_id": order.seller_id,
        "amount": order.amount,
        "currency": order.currency,
        "status": str(order.status),
        "refunded_amount": order.refunded_amount,
        "paid_amount": order.paid_amount,
        "created_at": _timestamp(order.created_at),
        "updated_at": _timestamp(order.updated_at),
    }


def payment_body(payment: Payment) -> dict:
    """A payment attempt: what was asked of the provider and how it ended (empty texts are null)."""
    return {
        "id": str(payment.id),
        "status": str(payment.status),
        "amount": payment.amount,
        "provider_reference": payment.provider_reference or None,
        "failure_reason": payment.failure_reason or None,
        "created_at": _timestamp(payment.created_at),
    }


def refund_body(refund: Refund) -> dict:
    return {
        "id": str(refund.id),
        "order_id": str(refund.order_id),
        "amount": refund.amount,
        "currency": refund.order.currency,
        "reason": refund.reason,
        "status": str(refund.status),
        "created_at": _timestamp(refund.created_at),
    }
