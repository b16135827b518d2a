"""The posting engines a ledger test runs on: both on PostgreSQL, the ORM alone on SQLite."""

import pytest

from ..db_helpers import ON_POSTGRES

ENGINES = ["auto", "python"] if ON_POSTGRES else ["python"]


@pytest.fixture(params=ENGINES, ids=lambda engine: "sql" if engine == "auto" else engine)
def ledger_engine(request, settings) -> str:
    """Run the test once per posting engine (MINTGUARD_LEDGER_ENGINE); return the setting's value."""
    settings.MINTGUARD_LEDGER_ENGINE = request.param
    return request.param
