"""Serializer building blocks every API app shares: strict money fields, identifiers, no unknown fields."""

import functools
import unicodedata
from collections.abc import Callable

from rest_framework import serializers

from ledger.currencies import MAX_AMOUNT, validate_currency
from ledger.exceptions import UnknownCurrency

NAME_MAX = 64
TEXT_MAX = 500


class StrictIntegerField(serializers.IntegerField):
    """An integer that is a JSON integer: floats, decimal strings and booleans are refused."""

    default_error_messages = {
        "invalid": "Must be a JSON integer in the currency's minor unit (e.g. 1050 for 10.50 USD).",
    }

    def to_internal_value(self, data):
        if type(data) is not int:
            self.fail("invalid")
        return super().to_internal_value(data)


class AmountField(StrictIntegerField):
    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_AMOUNT)
        kwargs.setdefault("help_text", "Integer amount in the currency's minor unit, 1..10^15.")
        super().__init__(**kwargs)


class CurrencyField(serializers.CharField):
    """ISO 4217 code or configured custom asset (MINTGUARD_ASSETS)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 12)
        kwargs.setdefault("help_text", "ISO 4217 code (USD, JPY...) or a configured asset such as GOLD.")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        code = super().to_internal_value(data)
        try:
            return validate_currency(code)
        except UnknownCurrency as exc:
            raise serializers.ValidationError(exc.detail, code="unknown_currency") from None


class NameField(serializers.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", NAME_MAX)
        super().__init__(**kwargs)


def normalise_identifier(value: str) -> str | None:
    """Return the identifier in Unicode NFC, or None when it holds a character no identifier may hold.

    Two spellings of one id must be one id, and two ids that look alike must not both exist: so a
    decomposed "cafe\u0301" is stored as the composed "caf\u00e9", and anything Python does not
    call printable is refused: control characters, zero-width and other format characters (U+200B,
    U+200D, U+FEFF, bidi overrides), separators other than the ASCII space (U+00A0, U+2028),
    surrogates, private-use and unassigned code points. The API's bodies, paths and query filters
    and the dashboard all go through this one rule.
    """
    normalised = unicodedata.normalize("NFC", value)
    return normalised if normalised.isprintable() else None


class IdentifierField(serializers.CharField):
    """A client's id of a person or thing (user_id, seller_id, buyer_id...): a JSON string of 1-64
    printable characters, NFC-normalised (see `normalise_identifier`). Names are display text
    (NameField); ids are this."""

    default_error_messages = {
        "not_string": "Must be a string.",
        "unprintable": "Must not contain control, zero-width or other invisible characters.",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", NAME_MAX)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):  # DRF would turn 42 into "42": one id, two spellings
            self.fail("not_string")
        identifier = normalise_identifier(super().to_internal_value(data))
        if identifier is None:
            self.fail("unprintable")
        return identifier  # max_length is checked after this, on the normalised form


class TextField(serializers.CharField):
    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", TEXT_MAX)
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("default", "")
        super().__init__(**kwargs)


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a typo never silently drops an instruction."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({str(name)[:64]: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


@functools.cache
def _validator(serializer_class) -> serializers.Serializer:
    return serializer_class()


def validated(serializer_class, data) -> dict:
    """Validate request data with a serializer, raising DRF's ValidationError (-> 422).

    One instance per serializer class validates every request, as `representation` renders with
    one: building a serializer deep-copies its fields, which cost more than validating a body.
    `run_validation` keeps no state on the instance (it returns the data or raises), and a sync
    worker serves one request at a time.
    """
    return _validator(serializer_class).run_validation(data)


def representation(serializer_class) -> Callable[[object], dict]:
    """Return `instance -> serializer_class(instance).data`, with the serializer built once.

    Instantiating a serializer deep-copies its fields (and rebuilds their validators): for a
    response shape rendered on every request that was most of its cost. `to_representation`
    keeps no state on the serializer, so one instance serves every request and thread.
    """
    return serializer_class().to_representation
