"""manage.py reconcile: clean on a seeded ledger, and one precise drift per kind of damage.

Each drift is injected by raw SQL, the way a bad migration, a manual fix or a bug below the
services would cause it; on PostgreSQL the triggers are skipped for the test's transaction only.
"""

import io
import json
import re
import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from ledger import reconciliation
from ledger.models import Account, Posting, ReconciliationRun
from ledger.reconciliation import Drift, reconcile_run, register_check
from ledger.selectors import currency_totals
from ledger.services import system_account_id
from operators.management.commands.seed_demo import DEMO_CUSTOMERS

from ..db_helpers import db_uuid, raw_sql

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded():
    """Seed the demo data; return the demo customers' accounts (one opening deposit each) by name."""
    call_command("seed_demo", stdout=io.StringIO())
    names = [name for name, *_ in DEMO_CUSTOMERS]
    return {account.name: account for account in Account.objects.filter(is_system=False, name__in=names)}


def reconcile(*args) -> tuple[int, str, dict | None]:
    """Run the command; return (exit status, human report, parsed --json run or None)."""
    out = io.StringIO()
    try:
        call_command("reconcile", *args, stdout=out)
        status = 0
    except CommandError as error:
        status = error.returncode
    text = out.getvalue()
    return status, text, json.loads(text) if "--json" in args else None


def drift_records(run: dict, check: str) -> list[dict]:
    return [drift for drift in run["drifts"] if drift["check"] == check]


def test_reconcile_exits_zero_on_a_clean_seeded_ledger_and_stores_the_run(seeded):
    runs_before = ReconciliationRun.objects.count()  # seed_demo may store one for the dashboard

    status, report, _ = reconcile()

    assert status == 0
    assert "Clean: the books balance." in report
    assert ReconciliationRun.objects.count() == runs_before + 1
    run = ReconciliationRun.objects.latest("started_at")
    assert run.ok is True
    assert run.drift_count == 0
    assert run.drifts == []
    assert [check["name"] for check in run.checks][:3] == [
        "ledger.transactions", "ledger.accounts", "ledger.currency_totals",
    ]
    assert run.finished_at >= run.started_at


def test_reconcile_json_reports_a_clean_run_as_one_object(seeded):
    status, _, run = reconcile("--json")

    assert status == 0
    assert run["ok"] is True
    assert run["drift_count"] == 0
    assert run["id"] == ReconciliationRun.objects.latest("started_at").pk
    assert {check["name"]: check["drift_count"] for check in run["checks"]}["ledger.accounts"] == 0


def test_stored_balance_changed_behind_the_ledger_is_reported_against_postings_and_last_entry(seeded):
    alice = seeded["Alice"]
    raw_sql("UPDATE ledger_balancebucket SET balance = balance + 7 WHERE account_id = %s", (db_uuid(alice.id),))

    status, report, _ = reconcile()
    _, _, run = reconcile("--json")

    assert status == 1
    assert (f"Account {alice.id} (Alice, USD): stored balance 50007 differs from the sum of its postings 50000 "
            "(by 7).") in report
    assert (f"Account {alice.id} (Alice, USD): stored balance 50007 differs from balance_after 50000 of its last "
            "posting (entry 1).") in report
    [by_postings] = drift_records(run, "balance_matches_postings")
    assert by_postings == {"check": "balance_matches_postings", "message": by_postings["message"],
                           "account_id": str(alice.id), "currency": "USD", "expected": 50000, "actual": 50007}
    [by_last_entry] = drift_records(run, "balance_matches_last_entry")
    assert (by_last_entry["expected"], by_last_entry["actual"]) == (50000, 50007)
    assert run["drift_count"] == 2


def test_last_balance_after_that_disagrees_with_the_stored_balance_is_reported_alone(seeded):
    bob = seeded["Bob"]
    raw_sql("UPDATE ledger_posting SET balance_after = balance_after - 1 WHERE account_id = %s", (db_uuid(bob.id),))

    status, report, _ = reconcile()

    assert status == 1
    assert (f"Account {bob.id} (Bob, USD): stored balance 12000 differs from balance_after 11999 of its last "
            "posting (entry 1).") in report
    run = ReconciliationRun.objects.latest("started_at")
    assert [drift["check"] for drift in run.drifts] == ["balance_matches_last_entry"]


def test_posting_amount_changed_behind_the_ledger_unbalances_its_transaction_and_the_currency(seeded):
    alice = seeded["Alice"]
    posting = Posting.objects.get(account=alice)
    debits, credits = currency_totals()["USD"]
    raw_sql("UPDATE ledger_posting SET amount = amount + 5 WHERE id = %s", (posting.id,))

    status, report, run = reconcile("--json")

    assert status == 1
    [unbalanced] = drift_records(run, "transaction_balanced")
    assert unbalanced["message"] == (
        f"Transaction {posting.transaction_id} does not balance in USD: credits exceed debits by 5."
    )
    assert (unbalanced["transaction_id"], unbalanced["expected"], unbalanced["actual"]) == (
        str(posting.transaction_id), 0, -5,
    )
    [totals] = drift_records(run, "debits_equal_credits")
    assert totals["message"] == f"Ledger total in USD: debits {debits} differ from credits {credits + 5} (by -5)."
    assert (totals["currency"], totals["expected"], totals["actual"]) == ("USD", credits + 5, debits)
    [account] = drift_records(run, "balance_matches_postings")
    assert (account["account_id"], account["expected"], account["actual"]) == (str(alice.id), 50005, 50000)


def test_transaction_without_postings_is_reported(seeded):
    orphan = uuid.uuid4()
    raw_sql(
        "INSERT INTO ledger_transaction (id, owner, namespace, reference, kind, description, metadata, created_at) "
        "VALUES (%s, '', 'client', 'orphan-1', 'deposit', '', '{}', %s)",
        (db_uuid(orphan), timezone.now()),
    )

    status, report, _ = reconcile()

    assert status == 1
    assert f"[transaction_has_two_postings] Transaction {orphan} has fewer than two postings." in report
    run = ReconciliationRun.objects.latest("started_at")
    assert run.drifts == [{
        "check": "transaction_has_two_postings",
        "message": f"Transaction {orphan} has fewer than two postings.",
        "transaction_id": str(orphan), "expected": ">= 2", "actual": "< 2",
    }]


def test_gap_in_entry_numbers_is_reported(seeded):
    chiyo = seeded["Chiyo"]
    raw_sql("UPDATE ledger_posting SET entry_number = 3 WHERE account_id = %s", (db_uuid(chiyo.id),))
    raw_sql("UPDATE ledger_balancebucket SET last_entry_number = 3 WHERE account_id = %s", (db_uuid(chiyo.id),))

    status, report, run = reconcile("--json")

    assert status == 1
    [gap] = run["drifts"]
    assert gap["check"] == "entry_numbers_gapless"
    assert gap["message"] == (
        f"Account {chiyo.id} (Chiyo, JPY): 1 posting(s) numbered up to 3, last entry number recorded 3; "
        "expected 1..1 with no gap."
    )
    assert gap["expected"] == {"postings": 1, "max_entry": 1, "last_entry": 1}
    assert gap["actual"] == {"postings": 1, "max_entry": 3, "last_entry": 3}


def test_last_entry_number_ahead_of_the_postings_is_reported_as_a_gap(seeded):
    dmitri = seeded["Dmitri"]
    raw_sql("UPDATE ledger_balancebucket SET last_entry_number = 2 WHERE account_id = %s", (db_uuid(dmitri.id),))

    status, _, run = reconcile("--json")

    assert status == 1
    gaps = drift_records(run, "entry_numbers_gapless")
    assert [gap["account_id"] for gap in gaps] == [str(dmitri.id)]
    assert gaps[0]["actual"] == {"postings": 1, "max_entry": 1, "last_entry": 2}


def test_customer_balance_below_zero_is_reported(seeded):
    bob = seeded["Bob"]
    # The balance row's CHECK allows a negative balance only where allow_negative: forge that too.
    raw_sql("UPDATE ledger_balancebucket SET allow_negative = %s, balance = -100 WHERE account_id = %s",
            (True, db_uuid(bob.id)))

    status, report, run = reconcile("--json")

    assert status == 1
    [negative] = drift_records(run, "customer_balance_not_negative")
    assert negative["message"] == f"Account {bob.id} (Bob, USD): customer balance is -100, below zero."
    assert (negative["account_id"], negative["expected"], negative["actual"]) == (str(bob.id), ">= 0", -100)


def test_system_accounts_may_be_negative_without_drift(seeded):
    cash = Account.objects.with_balance().get(pk=system_account_id("cash", "USD"))

    status, _, _ = reconcile()

    assert cash.balance > 0  # cash is an asset: it grew with the deposits
    assert status == 0
    assert cash.is_system


def test_command_prints_every_drift_and_its_check_in_the_human_report(seeded):
    alice, bob = seeded["Alice"], seeded["Bob"]
    raw_sql("UPDATE ledger_balancebucket SET balance = balance + 1 WHERE account_id IN (%s, %s)",
            (db_uuid(alice.id), db_uuid(bob.id)))

    status, report, _ = reconcile()

    assert status == 1
    assert "4 drift(s):" in report
    assert re.search(r"^  ledger\.accounts +4 drift\(s\) +\d+ ms$", report, re.M)
    assert report.count("[balance_matches_postings]") == 2
    assert report.count("[balance_matches_last_entry]") == 2


def test_stored_drifts_are_capped_but_all_are_counted(seeded, settings):
    settings.MINTGUARD_RECONCILIATION_MAX_DRIFTS = 3
    customers = Account.objects.filter(is_system=False)
    with_postings = customers.filter(postings__isnull=False).distinct().count()
    raw_sql("UPDATE ledger_balancebucket SET balance = balance + 1 WHERE allow_negative = %s", (False,))

    status, report, run = reconcile("--json")

    assert status == 1
    assert with_postings >= 4
    # Every customer's balance disagrees with its postings, and (if it has any) its last entry.
    assert run["drift_count"] == customers.count() + with_postings
    assert len(run["drifts"]) == 3
    assert run["drifts_truncated"] is True


def test_checks_registered_by_other_apps_run_and_their_drifts_count(seeded, monkeypatch):
    monkeypatch.setattr(reconciliation, "_checks", dict(reconciliation._checks))
    register_check("tests.orders", lambda: iter([
        Drift("order_payment_matches_ledger", "Order o-1 is PAID but has no payment transaction.",
              order_id="o-1", expected="1 transaction", actual="0 transactions"),
    ]))

    status, report, run = reconcile("--json")

    assert status == 1
    assert {key: run["checks"][-1][key] for key in ("name", "drift_count")} == {"name": "tests.orders",
                                                                               "drift_count": 1}
    assert run["drifts"] == [{
        "check": "order_payment_matches_ledger", "message": "Order o-1 is PAID but has no payment transaction.",
        "order_id": "o-1", "expected": "1 transaction", "actual": "0 transactions",
    }]


def test_a_check_that_crashes_is_a_drift_not_a_pass(seeded, monkeypatch):
    monkeypatch.setattr(reconciliation, "_checks", dict(reconciliation._checks))

    def broken():
        raise RuntimeError("orders table missing")
        yield  # pragma: no cover

    register_check("tests.broken", broken)

    run = reconcile_run()

    assert run.ok is False
    assert run.drifts == [{
        "check": "check_failed", "message": "Check tests.broken could not run: RuntimeError: orders table missing",
        "expected": "completed", "actual": "failed",
    }]
    *others, crashed = run.checks
    assert (crashed["name"], crashed["drift_count"]) == ("tests.broken", 1)
    assert [check["drift_count"] for check in others] == [0] * len(others)  # the others still ran
    assert len(others) >= 3
