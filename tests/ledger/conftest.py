"""Ledger test fixtures: `ledger_engine` runs a test once per posting engine (see engines.py)."""

from .engines import ledger_engine  # noqa: F401 - a fixture, found by pytest here
