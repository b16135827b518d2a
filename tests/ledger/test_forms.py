"""Amounts typed in major units become exact minor units, with Decimal, never rounded."""

import pytest
from django import forms

from ledger.forms import major_to_minor, minor_to_major


@pytest.mark.parametrize(("text", "currency", "minor"), [
    ("12.00", "USD", 1_200), ("12.5", "USD", 1_250), ("0.01", "USD", 1), ("12", "USD", 1_200),
    (" 3.10 ", "EUR", 310), ("1200", "JPY", 1_200), ("35", "GOLD", 35), ("1.234", "BHD", 1_234),
    ("0.29", "USD", 29), ("1000000000.01", "USD", 100_000_000_001), ("10000000000000", "USD", 10**15),
])
def test_major_units_convert_exactly(text, currency, minor):
    assert major_to_minor(text, currency) == minor


@pytest.mark.parametrize(("text", "currency"), [
    ("12.001", "USD"), ("1.5", "JPY"), ("1.0", "GOLD"), ("-1", "USD"), ("+1", "USD"), ("1e2", "USD"),
    ("1,000", "USD"), ("", "USD"), ("abc", "USD"), ("0", "USD"), ("10000000000000.01", "USD"), ("١٢", "USD"),
])
def test_anything_else_is_an_error(text, currency):
    with pytest.raises(forms.ValidationError):
        major_to_minor(text, currency)


@pytest.mark.parametrize(("minor", "currency", "text"), [
    (1_250, "USD", "12.50"), (5, "USD", "0.05"), (1_200, "JPY", "1200"), (35, "GOLD", "35"), (1_234, "BHD", "1.234"),
])
def test_minor_units_show_as_the_plain_major_amount_an_input_takes(minor, currency, text):
    assert minor_to_major(minor, currency) == text
    assert major_to_minor(text, currency) == minor
