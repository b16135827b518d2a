"""While the database is unreachable the API answers 503 with Retry-After, not 500 "internal_error".

Found by the bank test: during `pg_ctl restart` every request in flight failed with 500
internal_error and an ERROR traceback, the answer reserved for bugs. Losing the database for a
moment is not a bug in the request: it is 503 `database_unavailable` with `Retry-After`, so
clients retry (same Idempotency-Key) and alerts on 500s stay meaningful. The key is released, so
the retry executes afresh.
"""

import pytest
from django.db import InterfaceError, OperationalError

from ledger.models import Account
from mintguard_site.api.models import IdempotencyKey

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def open_account(api) -> str:
    response = api.post("/api/v1/accounts", {"owner_name": "Outage", "currency": "USD"}, format="json")
    assert response.status_code == 201
    return response.json()["id"]


@pytest.mark.parametrize("error", [
    OperationalError("server closed the connection unexpectedly"),
    InterfaceError("connection already closed"),
])
def test_a_read_while_the_database_is_away_is_503_with_retry_after(api, monkeypatch, error):
    account_id = open_account(api)

    def unreachable(**kwargs):
        raise error

    monkeypatch.setattr("ledger.api.views.selectors.account_get", unreachable)
    response = api.get(f"/api/v1/accounts/{account_id}")

    assert response.status_code == 503
    assert response["Content-Type"] == PROBLEM
    assert response["Retry-After"] == "1"
    assert response.json()["code"] == "database_unavailable"


def test_a_deposit_cut_off_from_the_database_is_503_and_its_retry_runs_afresh(api, monkeypatch):
    account_id = open_account(api)
    from ledger.api.views import AccountDeposit

    def cut_off(**kwargs):
        raise OperationalError("terminating connection due to administrator command")

    monkeypatch.setattr(AccountDeposit, "service", staticmethod(cut_off))
    failed = api.post(f"/api/v1/accounts/{account_id}/deposit", {"amount": 500}, format="json",
                      HTTP_IDEMPOTENCY_KEY="outage-1")
    monkeypatch.undo()

    assert failed.status_code == 503 and failed["Retry-After"] == "1"
    assert failed.json()["code"] == "database_unavailable"
    assert not IdempotencyKey.objects.filter(key="outage-1").exists()
    retried = api.post(f"/api/v1/accounts/{account_id}/deposit", {"amount": 500}, format="json",
                       HTTP_IDEMPOTENCY_KEY="outage-1")
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried
    assert Account.objects.with_balance().get(pk=account_id).balance == 500


def test_other_server_errors_stay_500(api, monkeypatch):
    account_id = open_account(api)

    def bug(**kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("ledger.api.views.selectors.account_get", bug)
    api.raise_request_exception = False
    response = api.get(f"/api/v1/accounts/{account_id}")

    assert response.status_code == 500
    assert response.json()["code"] == "internal_error"
