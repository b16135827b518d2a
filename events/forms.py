"""The events app's dashboard forms: an operator's reason for resending a delivery or switching an endpoint."""

from django import forms

from audit.services import NOTE_MAX


def _note(why: str) -> forms.CharField:
    """A required note for the audit log (blank once stripped counts as missing)."""
    return forms.CharField(max_length=NOTE_MAX, error_messages={"required": f"{why}: the note goes to the audit log."})


class DeliveryResendForm(forms.Form):
    note = _note("Say why the event is sent again")


class EndpointStateForm(forms.Form):
    """`enabled` is the state asked for, not a toggle: a stale page cannot switch an endpoint the wrong way."""

    enabled = forms.TypedChoiceField(choices=[("true", "Enable"), ("false", "Disable")],
                                     coerce=lambda value: value == "true")
    note = _note("Say why the endpoint is switched")
