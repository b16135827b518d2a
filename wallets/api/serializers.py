"""Shapes of the wallets API (docs/api.md states the rules every route shares)."""

from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers

from ledger.api.serializers import HoldCreateSerializer, HoldSerializer
from mintguard_site.api.serializers import AmountField, CurrencyField, IdentifierField, StrictSerializer, TextField

REFERENCE_ID_MAX = 64


class UserIdField(IdentifierField):
    """The client's opaque user identifier: an IdentifierField kept as sent otherwise (no trimming)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault("help_text", "Your opaque identifier of the user, 1-64 printable characters (Unicode NFC; "
                                       "control and zero-width characters are refused).")
        super().__init__(**kwargs)


class ReferenceIdField(serializers.CharField):
    """The client's unique id of the operation: 1-64 printable ASCII characters, kept exactly as sent."""

    default_error_messages = {"ascii": "Must be 1-64 printable ASCII characters.", "not_string": "Must be a string."}

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", REFERENCE_ID_MAX)
        kwargs.setdefault("trim_whitespace", False)
        kwargs.setdefault(
            "help_text",
            "Your unique id of this operation, 1-64 printable ASCII characters. Without an Idempotency-Key "
            "header it is the idempotency key: the same reference_id and body replays the first response.",
        )
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        # DRF would turn 12 into "12", which the idempotency layer, reading the raw body, ignores.
        if not isinstance(data, str):
            self.fail("not_string")
        reference_id = super().to_internal_value(data)
        if not all(" " <= char <= "~" for char in reference_id):
            self.fail("ascii")
        return reference_id


class WalletOperationSerializer(StrictSerializer):
    user_id = UserIdField()
    amount = AmountField()
    currency = CurrencyField(required=False, default="USD")
    reference_id = ReferenceIdField()
    description = TextField()


class WalletHoldCreateSerializer(WalletOperationSerializer):
    # The ledger hold's own field (range, default, documentation); each serializer instance copies it.
    expires_in = HoldCreateSerializer._declared_fields["expires_in"]


class WalletTransactionSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The ledger transaction's id.")
    reference_id = serializers.CharField(help_text="Your reference_id of the operation (of the hold, for a capture).")
    type = serializers.ChoiceField(choices=["topup", "bonus", "spend"])
    user_id = serializers.CharField()
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    balance_after = serializers.IntegerField(help_text="The wallet's balance right after this transaction.")
    created_at = serializers.DateTimeField()


class WalletAccountSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The wallet's ledger account id.")
    name = serializers.CharField()
    currency = serializers.CharField()
    balance = serializers.IntegerField()
    available = serializers.IntegerField(help_text="The balance less what the wallet's active holds reserve.")


class WalletHoldCaptureResultSerializer(serializers.Serializer):
    hold = HoldSerializer()
    transaction = WalletTransactionSerializer(help_text="The spend the capture posted.")


class WalletBalanceSerializer(serializers.Serializer):
    user_id = serializers.CharField()
    total_balance = serializers.IntegerField(
        allow_null=True, help_text="The balance when the user holds exactly one currency, else null."
    )
    totals = serializers.DictField(child=serializers.IntegerField(), help_text="Currency -> balance.")
    available_totals = serializers.DictField(child=serializers.IntegerField(),
                                             help_text="Currency -> available (balance less active holds).")
    accounts = WalletAccountSerializer(many=True)


TOPUP_EXAMPLE = OpenApiExample(
    "Top up 100.00 USD",
    request_only=True,
    value={"user_id": "user-ana", "amount": 10000, "currency": "USD", "reference_id": "topup-2026-0001",
           "description": "Card top-up"},
)
BONUS_EXAMPLE = OpenApiExample(
    "Welcome bonus of 5 GOLD",
    request_only=True,
    value={"user_id": "user-ana", "amount": 5, "currency": "GOLD", "reference_id": "welcome-user-ana"},
)
SPEND_EXAMPLE = OpenApiExample(
    "Spend 30.00 USD",
    request_only=True,
    value={"user_id": "user-ana", "amount": 3000, "currency": "USD", "reference_id": "order-8812",
           "description": "Order 8812"},
)


def wallet_transaction_example(kind: str, amount: int, currency: str, reference_id: str,
                               balance_after: int) -> OpenApiExample:
    return OpenApiExample(
        f"Wallet {kind}",
        response_only=True,
        status_codes=["201"],
        value={"id": "5c1d7e9a-2b4f-4c3e-8d6a-9f0e1b2c3d4e", "reference_id": reference_id, "type": kind,
               "user_id": "user-ana", "amount": amount, "currency": currency, "balance_after": balance_after,
               "created_at": "2026-11-21T10:15:00.000000Z"},
    )


TOPUP_RESPONSE_EXAMPLE = wallet_transaction_example("topup", 10000, "USD", "topup-2026-0001", 10000)
BONUS_RESPONSE_EXAMPLE = wallet_transaction_example("bonus", 5, "GOLD", "welcome-user-ana", 40)
SPEND_RESPONSE_EXAMPLE = wallet_transaction_example("spend", 3000, "USD", "order-8812", 7000)
BALANCE_EXAMPLE = OpenApiExample(
    "Two currencies",
    response_only=True,
    status_codes=["200"],
    value={"user_id": "user-ana", "total_balance": None, "totals": {"GOLD": 35, "USD": 12000},
           "available_totals": {"GOLD": 35, "USD": 9000},
           "accounts": [
               {"id": "0b5d6e2f-8a3b-4c1d-9e7f-1a2b3c4d5e6f", "name": "wallet:user-ana", "currency": "GOLD",
                "balance": 35, "available": 35},
               {"id": "7f9a1c1e-3c54-4a35-9c35-7f4b8d1e2a10", "name": "wallet:user-ana", "currency": "USD",
                "balance": 12000, "available": 9000},
           ]},
)
HOLD_EXAMPLE = OpenApiExample(
    "Hold 30.00 USD for an hour",
    request_only=True,
    value={"user_id": "user-ana", "amount": 3000, "currency": "USD", "reference_id": "order-8813",
           "expires_in": 3600, "description": "Order 8813"},
)
HOLD_RESPONSE_EXAMPLE = OpenApiExample(
    "Wallet hold",
    response_only=True,
    status_codes=["201"],
    value={"id": "2d7c4b1a-6e8f-4a9b-8c0d-1e2f3a4b5c6d", "source_account_id": "7f9a1c1e-3c54-4a35-9c35-7f4b8d1e2a10",
           "destination_account_id": "a3c5e7f9-1b2d-5f4e-8a6c-0e9d8c7b6a54", "amount": 3000, "captured_amount": 0,
           "currency": "USD", "status": "HELD", "description": "Order 8813",
           "expires_at": "2026-11-21T11:15:00.000000Z", "created_at": "2026-11-21T10:15:00.000000Z"},
)
