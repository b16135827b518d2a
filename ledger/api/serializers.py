"""Shapes of the accounts, transfers and statements API (docs/api.md states the rules every route shares)."""

from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers

from ledger.models import HoldStatus
from ledger.services import HOLD_TTL_DEFAULT, HOLD_TTL_MAX
from mintguard_site.api.serializers import (
    AmountField,
    CurrencyField,
    NameField,
    StrictIntegerField,
    StrictSerializer,
    TextField,
)


class AccountCreateSerializer(StrictSerializer):
    owner_name = NameField()
    currency = CurrencyField(required=False, default="USD")


class AccountSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    owner_name = serializers.CharField(source="name")
    currency = serializers.CharField()
    balance = serializers.IntegerField()
    available = serializers.IntegerField(help_text="The balance less what active holds reserve.")
    created_at = serializers.DateTimeField()


class AccountAsOfSerializer(AccountSerializer):
    as_of = serializers.DateTimeField(
        required=False,
        help_text="With `?as_of=`: the instant echoed; `balance` and `available` are as they stood then.")


class AccountListSerializer(serializers.Serializer):
    results = AccountSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class MoneyMovementSerializer(StrictSerializer):
    amount = AmountField()
    description = TextField()


class AccountMovementSerializer(serializers.Serializer):
    transaction_id = serializers.UUIDField()
    type = serializers.ChoiceField(choices=["deposit", "withdrawal"])
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()
    account = AccountSerializer()


class TransferCreateSerializer(StrictSerializer):
    source_account_id = serializers.UUIDField()
    destination_account_id = serializers.UUIDField()
    amount = AmountField()
    description = TextField()


MAX_BATCH = 1000


class TransferBatchCreateSerializer(StrictSerializer):
    transfers = serializers.ListField(
        child=TransferCreateSerializer(), min_length=1, max_length=MAX_BATCH,
        help_text=f"1 to {MAX_BATCH} transfers, posted all-or-nothing.",
    )


class EntrySerializer(serializers.Serializer):
    account_id = serializers.UUIDField()
    type = serializers.ChoiceField(choices=["DEBIT", "CREDIT"])
    amount = serializers.IntegerField()


class TransferSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    source_account_id = serializers.UUIDField()
    destination_account_id = serializers.UUIDField()
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()
    entries = EntrySerializer(many=True)


class StatementEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    ts = serializers.DateTimeField()
    type = serializers.ChoiceField(choices=["DEBIT", "CREDIT"])
    amount = serializers.IntegerField()
    balance_after = serializers.IntegerField()
    transaction_id = serializers.UUIDField()
    ref = serializers.CharField()
    description = serializers.CharField()


class StatementSerializer(serializers.Serializer):
    entries = StatementEntrySerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)
    opening_balance = serializers.IntegerField(help_text="The balance just before `from` (0 without it).")
    closing_balance = serializers.IntegerField(
        help_text="The balance at `to` (now without it): opening + credits - debits of the window's entries.")


class TrialBalanceLineSerializer(serializers.Serializer):
    id = serializers.UUIDField(allow_null=True, help_text="null: other API clients' accounts, folded.")
    name = serializers.CharField()
    debits = serializers.IntegerField(help_text="The account's net debit, when it has one.")
    credits = serializers.IntegerField(help_text="The account's net credit, when it has one.")
    balance = serializers.IntegerField(help_text="On the account's normal side.")


class TrialBalanceCurrencySerializer(serializers.Serializer):
    debits = serializers.IntegerField()
    credits = serializers.IntegerField()
    accounts = TrialBalanceLineSerializer(many=True)


class TrialBalanceSerializer(serializers.Serializer):
    as_of = serializers.DateTimeField()
    balanced = serializers.BooleanField(help_text="Debits equal credits in every currency.")
    currencies = serializers.DictField(child=TrialBalanceCurrencySerializer())


class TransferBatchSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    transfers = TransferSerializer(many=True)


TRANSFER_EXAMPLE = OpenApiExample(
    "Transfer 12.00 USD",
    request_only=True,
    value={
        "source_account_id": "7f9a1c1e-3c54-4a35-9c35-7f4b8d1e2a10",
        "destination_account_id": "0b5d6e2f-8a3b-4c1d-9e7f-1a2b3c4d5e6f",
        "amount": 1200,
        "description": "Rent share",
    },
)

TRANSFER_BATCH_EXAMPLE = OpenApiExample(
    "Two transfers, all or nothing",
    request_only=True,
    value={"transfers": [
        {"source_account_id": "7f9a1c1e-3c54-4a35-9c35-7f4b8d1e2a10",
         "destination_account_id": "0b5d6e2f-8a3b-4c1d-9e7f-1a2b3c4d5e6f", "amount": 1200},
        {"source_account_id": "0b5d6e2f-8a3b-4c1d-9e7f-1a2b3c4d5e6f",
         "destination_account_id": "7f9a1c1e-3c54-4a35-9c35-7f4b8d1e2a10", "amount": 300, "description": "Change"},
    ]},
)


class ReversalCreateSerializer(StrictSerializer):
    description = TextField()


class ReversalSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    reverses = serializers.UUIDField(help_text="The transaction this one reverses.")
    description = serializers.CharField()
    created_at = serializers.DateTimeField()
    entries = EntrySerializer(many=True, help_text="The original's legs, in its order, each direction flipped.")


class HoldCreateSerializer(StrictSerializer):
    source_account_id = serializers.UUIDField()
    destination_account_id = serializers.UUIDField()
    amount = AmountField()
    expires_in = StrictIntegerField(
        required=False, default=HOLD_TTL_DEFAULT, min_value=1, max_value=HOLD_TTL_MAX,
        help_text=f"Seconds until the hold expires and reserves nothing: 1..{HOLD_TTL_MAX} "
                  f"(default {HOLD_TTL_DEFAULT}).",
    )
    description = TextField()


class HoldCaptureSerializer(StrictSerializer):
    amount = AmountField(required=False, help_text="Default: the whole hold. Any remainder is released.")


class HoldVoidSerializer(StrictSerializer):
    """No fields: a void releases the whole hold."""


class HoldSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    source_account_id = serializers.UUIDField()
    destination_account_id = serializers.UUIDField()
    amount = serializers.IntegerField()
    captured_amount = serializers.IntegerField()
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=HoldStatus.values, source="current_status",
                                     help_text="EXPIRED as soon as expires_at passes.")
    description = serializers.CharField()
    expires_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()


class HoldListSerializer(serializers.Serializer):
    results = HoldSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class HoldCaptureResultSerializer(serializers.Serializer):
    hold = HoldSerializer()
    transfer = TransferSerializer()


class HoldVoidResultSerializer(serializers.Serializer):
    hold = HoldSerializer()
