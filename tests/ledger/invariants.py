"""Assertions every ledger test can make about the whole database."""

from ledger.reconciliation import check_balances, check_currency_totals, check_transactions


def assert_ledger_consistent() -> None:
    """Every transaction balances; every balance bucket equals its postings; no gaps; no overdraft.

    The ledger's own reconciliation checks, run directly: any drift fails with its message.
    """
    drifts = [drift.message for check in (check_transactions, check_balances, check_currency_totals)
              for drift in check()]
    assert drifts == []
