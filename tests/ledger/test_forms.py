"""Amounts typed in major units become exact minor units, with Decimal, never rounded."""

import pytest
from django import forms

from ledger.forms import major_to_minor, minor_to_major, parse_major_amount


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


@pytest.mark.parametrize(("text", "currency", "minor"), [
    ("1,000.00", "USD", 100_000), ("1,000.00 USD", "USD", 100_000), ("$5", "USD", 500), ("$ 5", "USD", 500),
    ("5 USD", "USD", 500), ("USD 5", "USD", 500), ("usd 5.25", "USD", 525), ("US$5", "USD", 500),
    ("$5", "CAD", 500), ("€1,234.5", "EUR", 123_450), ("5\u00a0EUR", "EUR", 500), ("¥1,800", "JPY", 1_800),
    ("1,800", "JPY", 1_800), ("1,800 JPY", "JPY", 1_800), ("12.50", "USD", 1_250), ("35 GOLD", "GOLD", 35),
    ("1,234,567.89", "USD", 123_456_789),
])
def test_amounts_are_accepted_as_the_dashboard_prints_them(text, currency, minor):
    assert parse_major_amount(text, currency) == minor


@pytest.mark.parametrize(("text", "currency", "message"), [
    ("€5", "USD", "This amount is in USD: € is another currency's symbol."),
    ("¥1,800", "USD", "This amount is in USD: ¥ is another currency's symbol."),
    ("$5", "EUR", "This amount is in EUR: $ is another currency's symbol."),
    ("5 EUR", "USD", "This amount is in USD, not EUR."),
    ("JPY 1800", "USD", "This amount is in USD, not JPY."),
    ("1.000,00", "USD", "Use a comma only between thousands, as in 1,000.00; a point separates the decimals."),
    ("1,00", "USD", "Use a comma only between thousands, as in 1,000.00; a point separates the decimals."),
    ("1,0000", "JPY", "Use a comma only between thousands, as in 1,000; a point separates the decimals."),
    ("1,800", "BHD", "Ambiguous in BHD: write it without commas."),
    ("1,000.001", "USD", "USD amounts have at most 2 decimals."),
    ("$5 USD", "USD", "Enter an amount in USD such as 12.55."),
    ("5 apples", "USD", "Enter an amount in USD such as 12.55."),
    ("-$5", "USD", "Enter an amount in USD such as 12.55."),
    ("USD", "USD", "Enter an amount in USD such as 12.55."),
    ("$0", "USD", "Enter an amount greater than zero."),
    ("10,000,000,000,000.01", "USD", "Enter at most 10,000,000,000,000.00 USD."),
    ("١٢ USD", "USD", "Enter an amount in USD such as 12.55."),
])
def test_anything_ambiguous_or_in_another_currency_is_refused_with_a_precise_message(text, currency, message):
    with pytest.raises(forms.ValidationError) as refused:
        parse_major_amount(text, currency)

    assert refused.value.messages == [message]
