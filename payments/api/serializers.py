"""Shapes of the orders, payments, refunds and ledger-summary API (docs/api.md states the rules every route shares)."""

from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers

from mintguard_site.api.serializers import AmountField, CurrencyField, IdentifierField, StrictSerializer, TextField
from payments.models import BuyerTrust, OrderStatus, PaymentStatus, RefundStatus

# --- requests ----------------------------------------------------------------------------


class OrderCreateSerializer(StrictSerializer):
    user_id = IdentifierField(help_text="The buyer, as you identify them (up to 64 printable characters).")
    amount = AmountField()
    currency = CurrencyField(required=False, default="USD")
    seller_id = IdentifierField(required=False, allow_null=True, default=None,
                                help_text="The seller paid through seller_payable; omit for your own sales.")
    description = TextField()


class PayRequestSerializer(StrictSerializer):
    buyer_trust = serializers.ChoiceField(
        choices=BuyerTrust.values, required=False,
        help_text="How far the buyer is trusted; decides the outcome when the provider is down. Default standard.",
    )


class CheckoutRequestSerializer(StrictSerializer):
    buyer_id = IdentifierField(
        help_text="The buyer, as you identify them (up to 64 printable characters); the order's user_id.")
    seller_id = IdentifierField(required=False, allow_null=True, default=None,
                                help_text="The seller paid through seller_payable; omit or null for your own sales.")
    amount = AmountField()
    currency = CurrencyField(required=False, default="USD")
    buyer_trust = serializers.ChoiceField(
        choices=BuyerTrust.values, required=False, default=BuyerTrust.STANDARD,
        help_text="How far the buyer is trusted (default standard). While the provider is down, only a trusted "
                  "buyer under MINTGUARD_OUTAGE_PENDING_CAP gets PENDING_PAYMENT; everyone else FAILED.",
    )


class ProviderWebhookSerializer(serializers.Serializer):
    """A provider's event. Fields it does not know are ignored: a provider adding one must not be refused."""

    event_id = IdentifierField(help_text="The provider's event id: the dedupe key (up to 64 characters).")
    order_id = IdentifierField(help_text="The order the event is about, as the provider names it.")
    outcome = serializers.ChoiceField(choices=["PAID", "FAILED"])


class CaptureRequestSerializer(StrictSerializer):
    amount = AmountField(required=False, help_text="Minor units to capture, at most the authorized amount; default: "
                                                   "all of it. Less is a partial capture: the rest is released.")


class VoidRequestSerializer(StrictSerializer):
    """A void takes no fields: it releases the whole authorization."""


class RefundRequestSerializer(StrictSerializer):
    amount = AmountField(required=False, help_text="Minor units to refund; default: all that remains.")
    reason = TextField()


# --- responses ---------------------------------------------------------------------------


class OrderSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    user_id = serializers.CharField()
    seller_id = serializers.CharField(allow_null=True)
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=OrderStatus.values)
    refunded_amount = serializers.IntegerField()
    paid_amount = serializers.IntegerField(
        help_text="What was charged, or captured of an authorization (0 until then); refunds are capped by it.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class OrderListSerializer(serializers.Serializer):
    results = OrderSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class PaymentSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    # PROCESSING, CAPTURING and VOIDING are recovery points inside one request, never an answer.
    status = serializers.ChoiceField(choices=[
        s for s in PaymentStatus.values if s not in (PaymentStatus.PROCESSING, PaymentStatus.CAPTURING,
                                                      PaymentStatus.VOIDING)
    ])
    amount = serializers.IntegerField(help_text="What was asked of the provider: the order's amount (an authorization: "
                                                "what it holds). What it took is the order's paid_amount.")
    provider_reference = serializers.CharField(allow_null=True)
    failure_reason = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()


class PayResponseSerializer(serializers.Serializer):
    order = OrderSerializer()
    payment = PaymentSerializer()


CHECKOUT_STATUSES = [OrderStatus.PAID, OrderStatus.FAILED, OrderStatus.PENDING_PAYMENT]


class CheckoutResponseSerializer(serializers.Serializer):
    order_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=CHECKOUT_STATUSES)
    ready_to_ship = serializers.BooleanField(help_text="True only when the order is PAID.")
    failure_reason = serializers.CharField(
        allow_null=True, help_text="Why it FAILED: card_declined, provider_unavailable...; null otherwise.",
    )


class WebhookAckSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    duplicate = serializers.BooleanField(help_text="True when this event_id was delivered before: no effect.")


class RefundSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    order_id = serializers.UUIDField()
    amount = serializers.IntegerField()
    currency = serializers.CharField(source="order.currency")
    reason = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(choices=RefundStatus.values)
    created_at = serializers.DateTimeField()


class RefundResponseSerializer(serializers.Serializer):
    refund = RefundSerializer()
    order = OrderSerializer()


class OrderLedgerEntrySerializer(serializers.Serializer):
    transaction_id = serializers.UUIDField()
    account = serializers.CharField(help_text="The system account's name: cash, revenue, seller_payable.")
    account_id = serializers.UUIDField()
    direction = serializers.ChoiceField(choices=["DR", "CR"])
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    kind = serializers.ChoiceField(choices=["payment", "refund"])
    created_at = serializers.DateTimeField()


class OrderLedgerSerializer(serializers.Serializer):
    order_id = serializers.UUIDField()
    entries = OrderLedgerEntrySerializer(many=True)


class SummaryAccountSerializer(serializers.Serializer):
    id = serializers.UUIDField(allow_null=True, help_text="Null on the line folding other clients' accounts.")
    name = serializers.CharField()
    debits = serializers.IntegerField()
    credits = serializers.IntegerField()
    balance = serializers.IntegerField(help_text="On the account's normal side.")


class SummaryCurrencySerializer(serializers.Serializer):
    debits = serializers.IntegerField()
    credits = serializers.IntegerField()
    accounts = SummaryAccountSerializer(many=True)


class LedgerSummarySerializer(serializers.Serializer):
    balanced = serializers.BooleanField(help_text="True when debits equal credits in every currency.")
    currencies = serializers.DictField(child=SummaryCurrencySerializer())


# --- examples ----------------------------------------------------------------------------

_ORDER = {
    "id": "5f0c3f4e-8d2a-4a57-9d4b-2f1e0c9b7a61", "user_id": "user-42", "seller_id": "seller-7",
    "amount": 1200, "currency": "USD", "status": "PAID", "refunded_amount": 0, "paid_amount": 1200,
    "created_at": "2026-01-15T10:00:00Z", "updated_at": "2026-01-15T10:00:01Z",
}

ORDER_CREATE_EXAMPLE = OpenApiExample(
    "Order of 12.00 USD from a seller", request_only=True,
    value={"user_id": "user-42", "amount": 1200, "currency": "USD", "seller_id": "seller-7",
           "description": "Blue mug"},
)
ORDER_EXAMPLE = OpenApiExample(
    "An order", response_only=True, status_codes=["200", "201"],
    value={**_ORDER, "status": "CREATED", "paid_amount": 0, "updated_at": "2026-01-15T10:00:00Z"},
)
ORDER_LIST_EXAMPLE = OpenApiExample(
    "A page of orders", response_only=True, value={"results": [_ORDER], "next_cursor": None},
)
PAY_REQUEST_EXAMPLE = OpenApiExample("Pay for a trusted buyer", request_only=True, value={"buyer_trust": "trusted"})
PAY_RESPONSE_EXAMPLE = OpenApiExample(
    "Payment succeeded", response_only=True, status_codes=["201"],
    value={"order": _ORDER, "payment": {
        "id": "c2b9f0a4-1d4e-4f0b-8a8e-6f3f2b7d9e10", "status": "SUCCEEDED", "amount": 1200,
        "provider_reference": "sim_ch_3a1f0c9b2e7d4a6f8b1c0d2e", "failure_reason": None,
        "created_at": "2026-01-15T10:00:01Z",
    }},
)
_AUTHORIZATION = {
    "id": "c2b9f0a4-1d4e-4f0b-8a8e-6f3f2b7d9e10", "status": "AUTHORIZED", "amount": 1200,
    "provider_reference": "sim_au_7d1e0c9b2e7d4a6f8b1c0d2e", "failure_reason": None,
    "created_at": "2026-01-15T10:00:01Z",
}
AUTHORIZE_RESPONSE_EXAMPLE = OpenApiExample(
    "Funds held, nothing booked", response_only=True, status_codes=["201"],
    value={"order": {**_ORDER, "status": "AUTHORIZED", "paid_amount": 0}, "payment": _AUTHORIZATION},
)
CAPTURE_REQUEST_EXAMPLE = OpenApiExample(
    "Capture 8.00 USD of 12.00 authorized (the rest is released)", request_only=True, value={"amount": 800},
)
CAPTURE_RESPONSE_EXAMPLE = OpenApiExample(
    "Partial capture", response_only=True, status_codes=["201"],
    value={"order": {**_ORDER, "paid_amount": 800, "updated_at": "2026-01-16T09:00:00Z"},
           "payment": {**_AUTHORIZATION, "status": "SUCCEEDED"}},
)
VOID_RESPONSE_EXAMPLE = OpenApiExample(
    "Authorization released", response_only=True, status_codes=["200"],
    value={"order": {**_ORDER, "status": "CANCELED", "paid_amount": 0, "updated_at": "2026-01-16T09:00:00Z"},
           "payment": {**_AUTHORIZATION, "status": "VOIDED"}},
)
REFUND_REQUEST_EXAMPLE = OpenApiExample(
    "Refund 3.00 USD", request_only=True, value={"amount": 300, "reason": "Chipped handle"},
)
REFUND_RESPONSE_EXAMPLE = OpenApiExample(
    "Partial refund", response_only=True, status_codes=["201"],
    value={"refund": {
        "id": "8e5d2c1b-0a9f-4e8d-7c6b-5a4f3e2d1c0b", "order_id": _ORDER["id"], "amount": 300,
        "currency": "USD", "reason": "Chipped handle", "status": "SUCCEEDED", "created_at": "2026-01-16T09:00:00Z",
    }, "order": {**_ORDER, "status": "PARTIALLY_REFUNDED", "refunded_amount": 300,
                 "updated_at": "2026-01-16T09:00:00Z"}},
)
ORDER_LEDGER_EXAMPLE = OpenApiExample(
    "A paid order's entries", response_only=True,
    value={"order_id": _ORDER["id"], "entries": [
        {"transaction_id": "1d2c3b4a-5f6e-4d7c-8b9a-0f1e2d3c4b5a", "account": name,
         "account_id": account_id, "direction": direction, "amount": amount, "currency": "USD",
         "kind": "payment", "created_at": "2026-01-15T10:00:01Z"}
        for name, account_id, direction, amount in [
            ("cash", "0e6f1c2a-3b4d-5e6f-8a9b-0c1d2e3f4a5b", "DR", 1200),
            ("seller_payable", "1f7a2d3b-4c5e-5f7a-9bac-1d2e3f4a5b6c", "CR", 1170),
            ("revenue", "2a8b3e4c-5d6f-5a8b-8cbd-2e3f4a5b6c7d", "CR", 30),
        ]
    ]},
)
LEDGER_SUMMARY_EXAMPLE = OpenApiExample(
    "A balanced ledger", response_only=True,
    value={"balanced": True, "currencies": {"USD": {"debits": 1200, "credits": 1200, "accounts": [
        {"id": "0e6f1c2a-3b4d-5e6f-8a9b-0c1d2e3f4a5b", "name": "cash", "debits": 1200, "credits": 0,
         "balance": 1200},
        {"id": "2a8b3e4c-5d6f-5a8b-8cbd-2e3f4a5b6c7d", "name": "revenue", "debits": 0, "credits": 1200,
         "balance": 1200},
    ]}}},
)

CHECKOUT_REQUEST_EXAMPLE = OpenApiExample(
    "Checkout of 12.00 USD for a trusted buyer", request_only=True,
    value={"buyer_id": "user-42", "seller_id": "seller-7", "amount": 1200, "currency": "USD",
           "buyer_trust": "trusted"},
)
CHECKOUT_PAID_EXAMPLE = OpenApiExample(
    "Paid: ship it", response_only=True, status_codes=["201"],
    value={"order_id": _ORDER["id"], "status": "PAID", "ready_to_ship": True, "failure_reason": None},
)
CHECKOUT_PENDING_EXAMPLE = OpenApiExample(
    "Provider down, trusted buyer under the cap: awaiting the provider's webhook", response_only=True,
    status_codes=["201"],
    value={"order_id": _ORDER["id"], "status": "PENDING_PAYMENT", "ready_to_ship": False, "failure_reason": None},
)
CHECKOUT_FAILED_EXAMPLE = OpenApiExample(
    "Provider down, buyer not trusted", response_only=True, status_codes=["201"],
    value={"order_id": _ORDER["id"], "status": "FAILED", "ready_to_ship": False,
           "failure_reason": "provider_unavailable"},
)
WEBHOOK_EXAMPLE = OpenApiExample(
    "The provider confirms a pending payment", request_only=True,
    value={"event_id": "evt_01J2Z3", "order_id": _ORDER["id"], "outcome": "PAID"},
)
WEBHOOK_ACK_EXAMPLE = OpenApiExample(
    "First delivery", response_only=True, status_codes=["200"], value={"ok": True, "duplicate": False},
)
WEBHOOK_DUPLICATE_EXAMPLE = OpenApiExample(
    "The same event_id again: no effect", response_only=True, status_codes=["200"],
    value={"ok": True, "duplicate": True},
)
