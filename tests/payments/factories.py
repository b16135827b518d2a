"""Orders, payments and refunds made through the real services, as a client's calls would make them.

    OrderFactory()                          a CREATED order
    PaymentFactory()                        a paid order's SUCCEEDED payment (`.order` is PAID)
    PaymentFactory(simulate="decline")      a FAILED payment (the order FAILED)
    PaymentFactory(simulate="outage", order__buyer_trust="trusted")   PENDING (the order PENDING_PAYMENT)
    AuthorizationFactory()                  an AUTHORIZED payment (`.order` is AUTHORIZED); simulate= as above
    RefundFactory(amount=500)               a refund of a freshly paid order (None refunds the rest)
"""

import factory

from payments.models import Order, Payment, Refund
from payments.services import order_authorize, order_create, order_pay, refund_create


class OrderFactory(factory.Factory):
    """An order awaiting payment, created through `order_create`."""

    class Meta:
        model = Order

    owner = "client-a"
    user_id = factory.Sequence(lambda n: f"buyer-{n}")
    amount = 4_800
    currency = "USD"
    seller_id = None
    buyer_trust = "standard"

    @classmethod
    def _create(cls, model_class, **fields):
        return order_create(**fields)


class PaymentFactory(factory.Factory):
    """One attempt to pay an order through `order_pay`; the provider simulator decides its outcome."""

    class Meta:
        model = Payment

    order = factory.SubFactory(OrderFactory)
    idempotency_key = factory.Sequence(lambda n: f"pay-{n}")
    simulate = "success"

    @classmethod
    def _create(cls, model_class, *, order, idempotency_key, simulate):
        payment = order_pay(order_id=order.id, idempotency_key=idempotency_key, simulate=simulate).payment
        order.refresh_from_db()
        payment.order = order
        return payment


class AuthorizationFactory(PaymentFactory):
    """One attempt to authorize an order through `order_authorize`."""

    idempotency_key = factory.Sequence(lambda n: f"authorize-{n}")

    @classmethod
    def _create(cls, model_class, *, order, idempotency_key, simulate):
        payment = order_authorize(order_id=order.id, idempotency_key=idempotency_key, simulate=simulate).payment
        order.refresh_from_db()
        payment.order = order
        return payment


class RefundFactory(factory.Factory):
    """A refund through `refund_create`, by default of a freshly paid order's whole amount."""

    class Meta:
        model = Refund

    order = factory.LazyFunction(lambda: PaymentFactory().order)
    amount = None
    created_by = "client-a"
    idempotency_key = factory.Sequence(lambda n: f"refund-{n}")

    @classmethod
    def _create(cls, model_class, **fields):
        refund, _ = refund_create(order_id=fields.pop("order").pk, **fields)
        return refund
