"""Forms of the dashboard: they parse what an operator typed; the services decide what it means."""

import re
import uuid
from decimal import Decimal

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from ledger.currencies import amount_check, currency_exponent
from ledger.exceptions import InvalidAmount
from mintguard_site.api.models import Scope
from payments.models import ConfirmationOutcome

from .services import NOTE_MAX

_MAJOR_UNITS = re.compile(r"(?P<whole>[0-9]+)(?:\.(?P<fraction>[0-9]+))?")


def major_to_minor(text: str, currency: str) -> int:
    """Convert "12.50" in `currency` to minor units (1250 for USD) exactly, with Decimal.

    Refuse signs, exponents, separators and more decimals than the currency has: "12.505" USD or
    "3.5" JPY are errors, never rounded.
    """
    text = (text or "").strip()
    match = _MAJOR_UNITS.fullmatch(text)
    exponent = currency_exponent(currency)
    if match is None:
        example = "12" if exponent == 0 else "12." + "5" * exponent
        raise forms.ValidationError(f"Enter an amount in {currency} such as {example}.", code="invalid")
    fraction = match["fraction"] or ""
    if len(fraction) > exponent:
        places = "no decimals" if exponent == 0 else f"at most {exponent} decimal{'s' if exponent > 1 else ''}"
        raise forms.ValidationError(f"{currency} amounts have {places}.", code="too_precise")
    minor = int(Decimal(text).scaleb(exponent))
    try:
        return amount_check(minor)
    except InvalidAmount:
        raise forms.ValidationError("Enter an amount greater than zero.", code="out_of_range") from None


def minor_to_major(amount: int, currency: str) -> str:
    """Return minor units as the plain major-unit text an input shows: 1250 USD -> "12.50"."""
    exponent = currency_exponent(currency)
    return f"{Decimal(amount).scaleb(-exponent):.{exponent}f}"


class LoginForm(AuthenticationForm):
    """Django's login form (username, password; refuses inactive users)."""


class RefundForm(forms.Form):
    """Amount in major units (default: what remains), reason, and the key the form was rendered with.

    The key makes the refund idempotent: submitting this form twice, or a retried request, finds
    the first refund instead of making a second.
    """

    amount = forms.CharField(max_length=32)
    reason = forms.CharField(max_length=NOTE_MAX, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    idempotency_key = forms.CharField(max_length=64, widget=forms.HiddenInput)

    def __init__(self, *args, currency: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency
        self.fields["amount"].widget.attrs.update({"inputmode": "decimal", "autocomplete": "off"})

    @classmethod
    def fresh(cls, *, order) -> "RefundForm":
        """An unbound form for `order` with the remaining amount and a new key."""
        return cls(currency=order.currency, initial={
            "amount": minor_to_major(order.refundable_amount, order.currency),
            "idempotency_key": uuid.uuid4().hex,
        })

    def clean_amount(self) -> int:
        return major_to_minor(self.cleaned_data["amount"], self.currency)

    def clean_idempotency_key(self) -> str:
        key = self.cleaned_data["idempotency_key"]
        if not re.fullmatch(r"[0-9a-f]{32}", key):
            raise forms.ValidationError("The form expired; reload the page.", code="bad_key")
        return key


class ResolvePendingForm(forms.Form):
    outcome = forms.ChoiceField(choices=ConfirmationOutcome.choices)
    note = forms.CharField(
        max_length=NOTE_MAX, widget=forms.TextInput(attrs={"placeholder": "Why? e.g. provider ticket #123"}),
        error_messages={"required": "A note is required: say why you mark this payment by hand."},
    )

    def clean_note(self) -> str:
        note = self.cleaned_data["note"].strip()
        if not note:
            raise forms.ValidationError("A note is required: say why you mark this payment by hand.")
        return note


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(max_length=64)
    # Every box ticked at first: a key made without choosing has every scope, as from the command line.
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices, initial=Scope.values, widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one scope: a key without one can call nothing."},
    )

    def clean_name(self) -> str:
        from mintguard_site.api.models import ApiClient

        name = self.cleaned_data["name"].strip()
        if ApiClient.objects.filter(name=name).exists():
            raise forms.ValidationError("An API client with this name exists already.")
        return name
