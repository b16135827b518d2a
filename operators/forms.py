"""Forms of the operators' own pages: sign-in and API keys."""

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from mintguard_site.api.models import ApiClient, Scope


class LoginForm(AuthenticationForm):
    """Django's login form (username, password; refuses inactive users)."""


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(max_length=64)
    # Every box ticked at first: a key made without choosing has every scope, as from the command line.
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices, initial=Scope.values, widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Choose at least one scope: a key without one can call nothing."},
    )

    NAME_TAKEN = "An API client with this name exists already."

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if ApiClient.objects.filter(name=name).exists():
            raise forms.ValidationError(self.NAME_TAKEN)
        return name
