"""Forms of the payments pages: they parse what an operator typed; the services decide what it means."""

import re
import uuid

from django import forms

from ledger.forms import parse_major_amount

from .exceptions import NoteRequired
from .models import ConfirmationOutcome, PaymentConfirmation, Refund
from .services.authorizations import VOID_NOTE_REQUIRED


class RefundForm(forms.Form):
    """Amount in major units as the page prints it, reason, and the key the form was rendered with.

    The key makes the refund idempotent: submitting this form twice, or a retried request, finds
    the first refund instead of making a second.
    """

    amount = forms.CharField(max_length=32)
    reason = forms.CharField(max_length=Refund._meta.get_field("reason").max_length, required=False,
                             widget=forms.Textarea(attrs={"rows": 2}))
    idempotency_key = forms.CharField(max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.fields["amount"].widget.attrs.update({"inputmode": "decimal", "autocomplete": "off"})

    @classmethod
    def fresh(cls, *, order) -> "RefundForm":
        """An unbound form for `order` with a new key and no amount: the operator types it or asks
        for the rest (a pre-filled remainder is refunded by one careless Enter)."""
        return cls(currency=order.currency, initial={"idempotency_key": uuid.uuid4().hex})

    def clean_amount(self) -> int:
        return parse_major_amount(self.cleaned_data["amount"], self.currency)

    def clean_idempotency_key(self) -> str:
        key = self.cleaned_data["idempotency_key"]
        if not re.fullmatch(r"[0-9a-f]{32}", key):
            raise forms.ValidationError("The form expired; reload the page.", code="bad_key")
        return key


class ResolvePendingForm(forms.Form):
    """Outcome and note of a pending payment's resolution; the outcome is always chosen, never a default."""

    outcome = forms.ChoiceField(
        choices=ConfirmationOutcome.choices, widget=forms.RadioSelect,
        error_messages={"required": "Choose an outcome: mark paid or mark failed.",
                        "invalid_choice": "Choose an outcome: mark paid or mark failed."},
    )
    note = forms.CharField(
        max_length=PaymentConfirmation._meta.get_field("note").max_length,
        widget=forms.TextInput(attrs={"placeholder": "Why? e.g. provider ticket #123"}),
        error_messages={"required": NoteRequired.message},
    )


class VoidForm(forms.Form):
    """The operator's reason for voiding an authorization: required, it goes to the audit log."""

    note = forms.CharField(
        max_length=PaymentConfirmation._meta.get_field("note").max_length,
        widget=forms.TextInput(attrs={"placeholder": "Why? e.g. buyer cancelled, ticket #123"}),
        error_messages={"required": VOID_NOTE_REQUIRED},
    )


class SettlementUploadForm(forms.Form):
    """A provider's settlement file (CSV), at most SETTLEMENT_FILE_MAX_BYTES; the service checks every line."""

    file = forms.FileField(
        allow_empty_file=False,
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv"}),
        error_messages={"required": "Choose a settlement file (CSV) to import.",
                        "empty": "The file is empty: a settlement file starts with its header."},
    )

    def clean_file(self):
        from .services.settlements import SETTLEMENT_FILE_MAX_BYTES

        upload = self.cleaned_data["file"]
        if upload.size > SETTLEMENT_FILE_MAX_BYTES:
            raise forms.ValidationError(
                f"The file is larger than {SETTLEMENT_FILE_MAX_BYTES // (1024 * 1024)} MB, the most a settlement "
                "file may be.", code="too_large")
        return upload


class SettlementResolveForm(forms.Form):
    """How a settlement break was settled: required, it goes to the break and the audit log."""

    note = forms.CharField(
        max_length=500,
        widget=forms.TextInput(attrs={"placeholder": "How was it settled? e.g. provider ticket #123"}),
        error_messages={"required": "A note is required: say how this break was settled."},
    )
