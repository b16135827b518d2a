"""Assertions every ledger test can make about the whole database."""

from ledger import selectors


def assert_ledger_consistent() -> None:
    """Every transaction balances; every balance bucket equals its postings; no gaps; no overdraft."""
    assert list(selectors.unbalanced_transactions()) == []
    assert list(selectors.transactions_with_too_few_postings()) == []
    for totals in selectors.bucket_totals():
        assert totals.has_row, totals
        assert totals.stored_balance == totals.posted_balance, totals
        assert totals.posting_count == totals.max_entry_number == totals.last_entry_number, totals
        if totals.posting_count:
            assert totals.last_balance_after == totals.stored_balance, totals
        if not totals.is_system:
            assert totals.stored_balance >= 0, totals
    for currency, (debits, credits) in selectors.currency_totals().items():
        assert debits == credits, currency
