"""Reconciliation from the dashboard: run, poll, and every drift with links to its rows."""

from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from audit.models import AuditAction, AuditEntry
from ledger.models import ReconciliationRun
from ledger.reconciliation import Drift, reconcile_run

from ..dashboard_helpers import htmx
from ..operators.factories import paid_order

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def inline_runs(settings):
    # The test's transaction is invisible to another thread's connection: run inline.
    settings.MINTGUARD_RECONCILIATION_IN_BACKGROUND = False


def test_an_operator_starts_a_run_and_the_poll_returns_its_result(operator):
    paid_order()

    started = operator.post("/reconciliation/run/", **htmx(target="reconciliation-panel"))

    assert started.status_code == 202
    html = started.content.decode()
    assert "Reconciliation running" in html and 'hx-trigger="load delay:1s"' in html
    since = html.split("since=")[1].split('"')[0]
    poll = operator.get(f"/reconciliation/status/?since={since}", **htmx())
    assert poll.status_code == 200
    run = ReconciliationRun.objects.get()
    assert run.ok and f"Run #{run.pk}" in poll.content.decode()
    assert "clean: the books balance" in poll.content.decode()


def test_the_poll_keeps_polling_until_a_run_started_after_the_click_is_stored(viewer):
    reconcile_run()  # an older run does not answer a newer click
    since = (timezone.now() + timedelta(seconds=1)).isoformat()

    response = viewer.get("/reconciliation/status/", {"since": since}, **htmx())

    assert response.status_code == 202 and b"Reconciliation running" in response.content


def test_without_javascript_the_run_happens_in_the_request_and_redirects_to_it(operator):
    response = operator.post("/reconciliation/run/")

    run = ReconciliationRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/reconciliation/?run={run.pk}"


def test_starting_a_run_is_recorded_in_the_audit_log(operator):
    operator.post("/reconciliation/run/", **htmx(target="reconciliation-panel"))
    operator.post("/reconciliation/run/")

    runs = list(ReconciliationRun.objects.order_by("started_at"))
    entries = list(AuditEntry.objects.order_by("created_at", "id"))
    assert [(e.actor, e.action, e.target_type) for e in entries] == [
        (operator.user, AuditAction.RECONCILIATION_STARTED, "reconciliation")] * 2
    # The moment each run was started names it: the run the page polls for starts at it or after.
    assert datetime.fromisoformat(entries[0].target_id) <= runs[0].started_at
    assert entries[1].target_id == runs[1].started_at.isoformat()
    assert [e.after for e in entries] == [{}, {"run_id": runs[1].pk}]
    log = operator.get("/audit/").content.decode()
    assert "Reconciliation started" in log and f'href="/reconciliation/?run={runs[1].pk}"' in log


def test_every_drift_is_listed_with_links_to_its_rows(viewer):
    order = paid_order()
    txn = order.payments.get().ledger_transaction
    account_id = txn.postings.first().account_id

    def broken_books():
        yield Drift("balance_matches_postings", "Stored balance differs by 5.", account_id=str(account_id),
                    currency="USD", expected=100, actual=105)
        yield Drift("payments.order_booked", "Order paid but booked twice.", order_id=str(order.pk),
                    transaction_id=str(txn.pk), expected=1, actual=2)

    run = reconcile_run(checks={"test.broken": broken_books})

    html = viewer.get(f"/reconciliation/?run={run.pk}").content.decode()
    assert "2 drifts" in html
    assert "Stored balance differs by 5." in html and "Order paid but booked twice." in html
    assert f'href="/ledger/accounts/{account_id}/"' in html
    assert f'href="/ledger/transactions/{txn.pk}/"' in html
    assert f'href="/orders/{order.pk}/"' in html


def test_a_click_while_a_run_is_under_way_waits_for_that_run(operator):
    from ledger.operator_runs import _ReconciliationSlot as slot

    earlier = timezone.now() - timedelta(seconds=30)
    assert slot.lock.acquire(blocking=False)
    slot.started_at = earlier
    try:
        response = operator.post("/reconciliation/run/", **htmx())
    finally:
        slot.started_at = None
        slot.lock.release()

    assert response.status_code == 202
    assert b"A run was already under way" in response.content
    assert earlier.isoformat().replace("+", "%2B").replace(":", "%3A") in response.content.decode()
    assert ReconciliationRun.objects.count() == 0
    assert AuditEntry.objects.count() == 0  # this click started nothing


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "2000-01-01T00:00:00+00:00"])
def test_a_poll_for_a_moment_outside_the_poll_window_shows_the_panel_instead_of_failing(viewer, since):
    response = viewer.get("/reconciliation/status/", {"since": since}, **htmx())

    assert response.status_code == 200
    assert b"since=" not in response.content  # no further polling
