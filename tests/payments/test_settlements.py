"""Settlement reconciliation: the simulator's fees and day report, the import (matching, breaks, fees
posted once, idempotent per file, malformed files refused whole), the commands and the API."""

import csv
import io
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from ledger.models import Direction, Posting, ReferenceNamespace, Transaction
from ledger.selectors import ledger_summary
from ledger.services import system_account_id
from mintguard_site.api.models import Scope
from mintguard_site.api.services import api_client_create
from payments.exceptions import SettlementBreakResolved, SettlementFileInvalid, SettlementNoteRequired
from payments.models import (
    Payment,
    PaymentStatus,
    Refund,
    SettlementBreak,
    SettlementLine,
    SettlementRun,
    SimulatedAuthorization,
    SimulatedCharge,
)
from payments.services.settlements import settlement_break_resolve, settlement_import

from ..concurrency import run_concurrently
from ..constraints import constraints_without_a_test, refused_by
from ..ledger.invariants import assert_ledger_consistent
from .helpers import authorized_order, capture, paid_order, refund

pytestmark = pytest.mark.django_db

HEADER = "provider_reference,type,amount,currency,fee,settled_at"
KINDS = {"missing_in_ledger", "missing_at_provider", "amount_mismatch", "currency_mismatch", "duplicate"}


# --- helpers ---------------------------------------------------------------------------------


def today() -> str:
    return timezone.now().astimezone(UTC).date().isoformat()


def now_iso() -> str:
    return timezone.now().astimezone(UTC).isoformat().replace("+00:00", "Z")


def fee_of(amount: int) -> int:
    """The simulator's default fee rule: 2.9% rounded down + 30 minor units."""
    return amount * 290 // 10_000 + 30


def reference_of(order: dict) -> str:
    return Payment.objects.get(order_id=order["id"], status=PaymentStatus.SUCCEEDED).provider_reference


def report(day: str | None = None) -> str:
    out = io.StringIO()
    call_command("provider_settlement_report", "--date", today() if day is None else day, stdout=out)
    return out.getvalue()


def settlement_file(*lines: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode()


def line(reference: str, amount: int, *, type_="charge", currency="USD", fee=None, settled_at=None) -> str:
    return f"{reference},{type_},{amount},{currency},{fee_of(amount) if fee is None else fee},{settled_at or now_iso()}"


def run_import(tmp_path, content: bytes, name: str = "settlement.csv") -> tuple[int, str, str]:
    """Run `manage.py import_settlement`; return (exit code, stdout, stderr)."""
    path = tmp_path / name
    path.write_bytes(content)
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_settlement", str(path), stdout=out, stderr=err)
    except CommandError as error:
        err.write(str(error))
        return error.returncode, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def account_balance(name: str, currency: str = "USD") -> int:
    """Debits minus credits of a system account: its balance on the debit side."""
    postings = Posting.objects.filter(account_id=system_account_id(name, currency))
    debits = postings.filter(direction=Direction.DEBIT).aggregate(total=Sum("amount"))["total"] or 0
    credits = postings.filter(direction=Direction.CREDIT).aggregate(total=Sum("amount"))["total"] or 0
    return debits - credits


def scoped_key(*scopes: str, name: str = "scoped") -> APIClient:
    _, key = api_client_create(name=name, scopes=scopes)
    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return http


def books_key(name: str = "books") -> APIClient:
    return scoped_key(Scope.BOOKS, name=name)


def stored() -> tuple:
    return (SettlementRun.objects.count(), SettlementLine.objects.count(), SettlementBreak.objects.count(),
            Transaction.objects.count())


# --- the simulator: fees and its day's report -------------------------------------------------


def test_the_simulator_keeps_its_fee_on_charges_and_captures_and_none_on_refunds(api, django_capture_on_commit_callbacks):
    charged = paid_order(api, amount=10_000)
    held = authorized_order(api, amount=1_200)
    assert capture(api, held["id"], amount=800).status_code == 201
    with django_capture_on_commit_callbacks(execute=True):
        assert refund(api, charged["id"], amount=4_000).status_code == 201

    assert SimulatedCharge.objects.get().fee == 10_000 * 290 // 10_000 + 30 == 320
    assert SimulatedAuthorization.objects.get().fee == 800 * 290 // 10_000 + 30 == 53
    rows = list(csv.reader(io.StringIO(report())))
    assert rows[0] == HEADER.split(",")
    by_type = sorted((r[1], int(r[2]), r[3], int(r[4])) for r in rows[1:])
    assert by_type == [("charge", 800, "USD", 53), ("charge", 10_000, "USD", 320), ("refund", 4_000, "USD", 0)]
    references = {r[0] for r in rows[1:]}
    assert references == {reference_of(charged), reference_of(held), Refund.objects.get().provider_reference}
    for row in rows[1:]:
        settled_at = datetime.fromisoformat(row[5])
        assert settled_at.utcoffset() == timedelta(0) and row[5].endswith("Z")


def test_the_fee_rule_is_configurable_and_never_more_than_the_charge(api, settings):
    settings.MINTGUARD_SIMULATOR_FEE_BPS, settings.MINTGUARD_SIMULATOR_FEE_FIXED = 100, 50
    paid_order(api, amount=1_000)
    paid_order(api, amount=20)

    assert sorted(SimulatedCharge.objects.values_list("amount", "fee")) == [(20, 20), (1_000, 60)]


def test_a_report_of_a_day_without_activity_is_only_the_header(api):
    paid_order(api, amount=1_000)

    assert report("2001-01-01") == HEADER + "\n"


@pytest.mark.parametrize("day", ["2026-13-01", "yesterday", "2026-1-5", "", "2026-02-30"])
def test_a_report_for_a_bad_date_is_refused_with_exit_2(day):
    with pytest.raises(CommandError, match="--date") as refused:
        report(day)
    assert refused.value.returncode == 2


# --- importing: matching and fees ------------------------------------------------------------


def test_a_clean_report_matches_every_line_and_posts_its_fees_once(api, tmp_path, django_capture_on_commit_callbacks):
    first, second = paid_order(api, amount=10_000), paid_order(api, amount=2_500)
    with django_capture_on_commit_callbacks(execute=True):
        refund(api, first["id"], amount=1_000)
    cash_before = account_balance("cash")

    code, out, err = run_import(tmp_path, report().encode())

    assert (code, err) == (0, "")
    run = SettlementRun.objects.get()
    assert (run.lines, run.matched, run.fees, run.breaks.count()) == (3, 3, {"USD": 320 + 102}, 0)
    assert "3 line(s), 3 matched, 0 break(s); fees posted: 422 USD" in out
    # DR provider_fees / CR cash, once, under the file's system reference
    fees = run.fee_transaction
    assert (fees.namespace, fees.reference, fees.owner) == (ReferenceNamespace.SYSTEM,
                                                            f"settlement:{run.file_sha256}", "")
    legs = sorted((p.account_id, p.direction, p.amount) for p in fees.postings.all())
    assert legs == sorted([(system_account_id("provider_fees", "USD"), Direction.DEBIT, 422),
                           (system_account_id("cash", "USD"), Direction.CREDIT, 422)])
    assert account_balance("provider_fees") == 422
    assert account_balance("cash") == cash_before - 422
    assert set(SettlementLine.objects.values_list("status", flat=True)) == {"matched"}
    assert {line.payment_id or line.refund_id for line in SettlementLine.objects.all()} == {
        Payment.objects.get(order_id=first["id"]).id, Payment.objects.get(order_id=second["id"]).id,
        Refund.objects.get().id}
    assert ledger_summary()["balanced"]
    assert_ledger_consistent()


@pytest.fixture
def one_of_each(api):
    """Orders behind a settlement file with one line of each break kind (and one that matches)."""
    matched = paid_order(api, amount=1_000)
    short = paid_order(api, amount=2_000)
    elsewhere = paid_order(api, amount=3_000)
    unreported = paid_order(api, amount=4_000)
    content = settlement_file(
        line(reference_of(matched), 1_000),
        line(reference_of(matched), 1_000),  # the same reference again: duplicate
        line(reference_of(short), 2_500),  # the provider settled more than we booked: amount_mismatch
        line(reference_of(elsewhere), 3_000, currency="EUR"),  # currency_mismatch
        line("sim_ch_ffffffffffffffffffffffff", 900),  # nothing of ours: missing_in_ledger
    )  # and `unreported`, booked today, is in no line: missing_at_provider
    return {"matched": matched, "short": short, "elsewhere": elsewhere, "unreported": unreported,
            "content": content}


def test_a_file_with_one_line_of_each_break_kind_gives_exactly_those_breaks(one_of_each, tmp_path):
    code, out, err = run_import(tmp_path, one_of_each["content"])

    assert code == 1 and "5 break(s) to resolve" in err
    run = SettlementRun.objects.get()
    assert (run.lines, run.matched, run.fees) == (5, 1, {"USD": fee_of(1_000)})
    breaks = {b.kind: b for b in run.breaks.all()}
    assert len(breaks) == run.breaks.count() == 5 and set(breaks) == KINDS
    assert (breaks["duplicate"].provider_reference, breaks["duplicate"].line.line_number) == (
        reference_of(one_of_each["matched"]), 3)
    assert (breaks["amount_mismatch"].amount, breaks["amount_mismatch"].ledger_amount) == (2_500, 2_000)
    assert (breaks["currency_mismatch"].currency, breaks["currency_mismatch"].ledger_currency) == ("EUR", "USD")
    assert breaks["missing_in_ledger"].provider_reference == "sim_ch_ffffffffffffffffffffffff"
    assert breaks["missing_in_ledger"].payment_id is None
    missing = breaks["missing_at_provider"]
    assert (missing.provider_reference, missing.amount, missing.currency, missing.line_id) == (
        reference_of(one_of_each["unreported"]), 4_000, "USD", None)
    assert all(b.resolved_at is None for b in breaks.values())
    for kind in KINDS:
        assert f"{kind:<20} 1" in out
    # only the matched line's fee is posted
    assert account_balance("provider_fees") == fee_of(1_000)
    assert_ledger_consistent()


def test_importing_the_same_file_twice_stores_and_posts_nothing_and_exits_the_same(one_of_each, tmp_path):
    first = run_import(tmp_path, one_of_each["content"], name="day.csv")
    before = stored()
    fees_before = account_balance("provider_fees")

    # the same bytes, even under another name
    again = run_import(tmp_path, one_of_each["content"], name="day-again.csv")

    assert again[0] == first[0] == 1
    assert "was imported before" in again[1] and "nothing was stored or posted" in again[1]
    assert stored() == before
    assert account_balance("provider_fees") == fees_before == fee_of(1_000)
    assert Transaction.objects.filter(kind="provider_fees").count() == 1


def test_a_clean_file_imported_twice_exits_0_both_times_and_posts_once(api, tmp_path):
    paid_order(api, amount=5_000)
    content = report().encode()

    assert run_import(tmp_path, content)[0] == 0
    code, out, _ = run_import(tmp_path, content)

    assert code == 0 and "imported before" in out
    assert account_balance("provider_fees") == fee_of(5_000)
    assert SettlementRun.objects.count() == 1


def test_a_line_matched_by_an_earlier_file_is_a_duplicate_and_its_fee_is_not_posted_again(api, tmp_path):
    order = paid_order(api, amount=1_000)
    reference = reference_of(order)
    assert run_import(tmp_path, settlement_file(line(reference, 1_000)), name="a.csv")[0] == 0

    # another file (another settled_at, so other bytes) settles the same payment again
    code, _, _ = run_import(tmp_path, settlement_file(line(reference, 1_000, settled_at=now_iso())), name="b.csv")

    assert code == 1
    second = SettlementRun.objects.get(file_name="b.csv")
    assert list(second.breaks.values_list("kind", "provider_reference")) == [("duplicate", reference)]
    assert (second.matched, second.fees, second.fee_transaction) == (0, {}, None)
    assert account_balance("provider_fees") == fee_of(1_000)


def test_what_an_earlier_file_named_or_reported_missing_is_not_reported_missing_again(api, tmp_path):
    named, unreported = paid_order(api, amount=1_000), paid_order(api, amount=2_000)
    run_import(tmp_path, settlement_file(line(reference_of(named), 1_000)), name="a.csv")
    assert SettlementBreak.objects.get().payment.order_id == UUID(unreported["id"])

    # a second file covering the same day names neither of them
    code, _, _ = run_import(tmp_path, settlement_file(line("sim_ch_0000", 5)), name="b.csv")

    assert code == 1
    assert list(SettlementRun.objects.get(file_name="b.csv").breaks.values_list("kind", flat=True)) == [
        "missing_in_ledger"]


def test_only_the_days_the_file_covers_are_checked_for_missing_payments(api, tmp_path):
    order = paid_order(api, amount=1_000)  # booked today

    # a file of an old day does not cover today
    run_import(tmp_path, settlement_file("sim_ch_old,charge,5,USD,1,2001-01-01T12:00:00Z"), name="old.csv")
    assert list(SettlementBreak.objects.values_list("kind", flat=True)) == ["missing_in_ledger"]

    # a file whose settled_at run from that day to today covers every day between
    run_import(tmp_path, settlement_file("sim_ch_old2,charge,5,USD,1,2001-01-01T12:00:00Z",
                                         line("sim_ch_new", 5, settled_at=now_iso())), name="span.csv")
    span = SettlementRun.objects.get(file_name="span.csv")
    assert (span.covered_from.isoformat(), span.covered_to.isoformat()) == ("2001-01-01", today())
    assert sorted(span.breaks.values_list("kind", "provider_reference")) == [
        ("missing_at_provider", reference_of(order)), ("missing_in_ledger", "sim_ch_new"),
        ("missing_in_ledger", "sim_ch_old2")]


def test_a_captured_authorization_and_a_refund_match_by_what_was_taken(api, tmp_path,
                                                                          django_capture_on_commit_callbacks):
    held = authorized_order(api, amount=1_200)
    capture(api, held["id"], amount=800)
    with django_capture_on_commit_callbacks(execute=True):
        refund(api, held["id"], amount=300)

    code, _, _ = run_import(tmp_path, report().encode())

    run = SettlementRun.objects.get()
    assert (code, run.lines, run.matched, run.fees) == (0, 2, 2, {"USD": fee_of(800)})


def test_a_refund_the_provider_never_acknowledged_is_missing_at_provider(api, tmp_path):
    order = paid_order(api, amount=1_000)
    refund(api, order["id"], amount=400)  # its provider call (after commit) never ran
    assert Refund.objects.get().provider_reference == ""

    run_import(tmp_path, report().encode())

    missing = SettlementBreak.objects.get()
    assert (missing.kind, missing.provider_reference, missing.amount, missing.refund_id) == (
        "missing_at_provider", "", 400, Refund.objects.get().id)


def test_a_refund_line_naming_a_payment_reference_is_missing_in_ledger(api, tmp_path):
    order = paid_order(api, amount=1_000)

    run_import(tmp_path, settlement_file(line(reference_of(order), 1_000, type_="refund", fee=0)))

    assert set(SettlementBreak.objects.values_list("kind", flat=True)) == {"missing_in_ledger", "missing_at_provider"}


def test_an_empty_report_stores_a_run_with_no_line_and_no_break(api, tmp_path):
    paid_order(api, amount=1_000)

    code, out, _ = run_import(tmp_path, report("2001-01-01").encode())

    assert code == 0 and "0 line(s), 0 matched, 0 break(s); fees posted: none" in out
    assert (SettlementRun.objects.get().lines, SettlementBreak.objects.count()) == (0, 0)


def test_fees_in_two_currencies_post_one_balanced_transaction(api, tmp_path):
    usd, eur = paid_order(api, amount=1_000), paid_order(api, amount=2_000, currency="EUR")

    run_import(tmp_path, report().encode())

    run = SettlementRun.objects.get()
    assert run.fees == {"EUR": fee_of(2_000), "USD": fee_of(1_000)}
    assert (account_balance("provider_fees", "EUR"), account_balance("cash", "EUR")) == (
        fee_of(2_000), 2_000 - fee_of(2_000))
    assert reference_of(usd) and reference_of(eur)
    assert_ledger_consistent()


# --- malformed files: refused whole, with line numbers, nothing stored ---------------------------


GOOD = "sim_ch_aaaaaaaaaaaaaaaaaaaaaaaa,charge,1000,USD,59,2026-01-15T10:00:00Z"
AT = "2026-01-15T10:00:00Z"


# Each file starts with a good line that matches a payment (line 2): it must not be stored either.
@pytest.mark.parametrize(("header", "lines", "expected"), [
    ("provider_reference,type,amount,currency,fee", [], "line 1: the header must be exactly"),
    ("reference,type,amount,currency,fee,settled_at", [], "line 1: the header must be exactly"),
    (HEADER, ["sim_ch_b,charge,1000,USD,59"], "line 3: has 5 columns, not 6"),
    (HEADER, [GOOD, GOOD + ",extra"], "line 4: has 7 columns, not 6"),
    (HEADER, [f"sim_ch_b,charge,12.50,USD,59,{AT}"], "line 3: amount must be a whole number of minor units"),
    (HEADER, [f"sim_ch_b,charge,1e3,USD,59,{AT}"], "line 3: amount must be a whole number of minor units"),
    (HEADER, [f"sim_ch_b,charge,-1000,USD,59,{AT}"], "line 3: amount is negative"),
    (HEADER, [f"sim_ch_b,charge,0,USD,0,{AT}"], "line 3: amount must be from 1"),
    (HEADER, [f"sim_ch_b,charge,10000000000000000,USD,5,{AT}"], "line 3: amount must be from 1"),
    (HEADER, [f"sim_ch_b,charge,1000,USD,-5,{AT}"], "line 3: fee is negative"),
    (HEADER, [f"sim_ch_b,charge,1000,USD,,{AT}"], "line 3: fee must be a whole number of minor units"),
    (HEADER, [f"sim_ch_b,chargeback,1000,USD,59,{AT}"], "line 3: type must be charge or refund"),
    (HEADER, [f"sim_ch_b,charge,1000,usd,59,{AT}"], "line 3: currency 'usd' is not"),
    (HEADER, [f"sim_ch_b,charge,1000,XYZ1,59,{AT}"], "line 3: currency 'XYZ1' is not"),
    (HEADER, ["sim_ch_b,charge,1000,USD,59,2026-01-15T10:00:00"], "line 3: settled_at has no timezone"),
    (HEADER, ["sim_ch_b,charge,1000,USD,59,yesterday"], "line 3: settled_at must be an ISO 8601"),
    (HEADER, [f",charge,1000,USD,59,{AT}"], "line 3: provider_reference is empty"),
    (HEADER, [f" sim_ch_b,charge,1000,USD,59,{AT}"], "line 3: provider_reference has spaces"),
    (HEADER, ["x" * 101 + f",charge,1000,USD,59,{AT}"], "line 3: provider_reference is longer"),
    (HEADER, [GOOD, "", GOOD], "line 4: is empty"),
    (HEADER, [GOOD, f'sim_ch_b,"charge,1000,USD,59,{AT}'], "line 4: is not valid CSV"),
])
def test_a_malformed_file_is_refused_whole_with_its_line_number_and_nothing_is_stored(
    api, tmp_path, header, lines, expected
):
    order = paid_order(api, amount=1_000)
    before = stored()

    code, out, err = run_import(tmp_path, settlement_file(line(reference_of(order), 1_000), *lines, header=header))

    assert code == 2, (out, err)
    assert f"  {expected}" in err and "nothing was stored or posted" in err
    assert stored() == before
    assert account_balance("provider_fees") == 0


def test_every_bad_line_is_listed_with_its_number():
    content = settlement_file(GOOD, "a,charge,x,USD,1,2026-01-15T10:00:00Z", GOOD, "b,charge,5,USD,-1,nope")

    with pytest.raises(SettlementFileInvalid) as refused:
        settlement_import(content=content, file_name="f.csv", created_by="test")

    assert [number for number, _ in refused.value.errors] == [3, 5, 5]
    assert "line 3: amount must be a whole number" in refused.value.detail
    assert SettlementRun.objects.count() == 0


def test_a_file_too_large_or_not_utf8_or_empty_is_refused_and_a_missing_file_exits_2(tmp_path, monkeypatch):
    monkeypatch.setattr("payments.services.settlements.SETTLEMENT_FILE_MAX_BYTES", 200)
    monkeypatch.setattr("payments.management.commands.import_settlement.SETTLEMENT_FILE_MAX_BYTES", 200)
    large = settlement_file(*[GOOD] * 5)
    assert len(large) > 200

    code, _, err = run_import(tmp_path, large)
    assert code == 2 and "larger than 200 bytes" in err

    code, _, err = run_import(tmp_path, settlement_file(GOOD) + f"sim_ch_\xe9,charge,5,USD,1,{AT}\n".encode("latin-1"))
    assert code == 2 and "line 3: is not UTF-8 text" in err

    code, _, err = run_import(tmp_path, b"")
    assert code == 2 and "line 1: is empty" in err

    out, errors = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="Cannot read") as missing:
        call_command("import_settlement", str(tmp_path / "nope.csv"), stdout=out, stderr=errors)
    assert missing.value.returncode == 2
    assert SettlementRun.objects.count() == 0


def test_a_byte_order_mark_and_windows_line_ends_are_accepted(api, tmp_path):
    order = paid_order(api, amount=1_000)
    content = ("\ufeff" + HEADER + "\r\n" + line(reference_of(order), 1_000) + "\r\n").encode()

    assert run_import(tmp_path, content)[0] == 0
    assert SettlementRun.objects.get().matched == 1


# --- resolving -------------------------------------------------------------------------------


def test_a_break_is_resolved_once_with_a_note(one_of_each, operator_user):
    settlement_import(content=one_of_each["content"], file_name="f.csv", created_by="test")
    broken = SettlementBreak.objects.get(kind="amount_mismatch")
    clerk = operator_user("operator")

    with pytest.raises(SettlementNoteRequired):
        settlement_break_resolve(actor=clerk, break_id=broken.pk, note="   ")
    resolved = settlement_break_resolve(actor=clerk, break_id=broken.pk, note="provider ticket #42")
    with pytest.raises(SettlementBreakResolved):
        settlement_break_resolve(actor=clerk, break_id=broken.pk, note="again")

    broken.refresh_from_db()
    assert (broken.note, broken.resolved_by, broken.resolved_at) == ("provider ticket #42", clerk, resolved.resolved_at)


# --- API -------------------------------------------------------------------------------------


def test_the_api_lists_and_shows_runs_exactly_as_the_contract_says(one_of_each, tmp_path):
    run_import(tmp_path, one_of_each["content"], name="day.csv")
    run = SettlementRun.objects.get()
    books = books_key()

    listed = books.get("/api/v1/settlements")
    shown = books.get(f"/api/v1/settlements/{run.pk}")

    assert listed.status_code == shown.status_code == 200
    assert listed.json()["next_cursor"] is None and listed.json()["results"] == [shown.json()]
    body = shown.json()
    assert set(body) == {"id", "created_at", "file_name", "lines", "matched", "fees", "fees_by_currency", "breaks"}
    assert (body["id"], body["file_name"], body["lines"], body["matched"], body["fees"], body["fees_by_currency"]) == (
        str(run.pk), "day.csv", 5, 1, fee_of(1_000), {"USD": fee_of(1_000)})
    assert datetime.fromisoformat(body["created_at"].replace("Z", "+00:00")) == run.created_at
    assert {tuple(sorted(b)) for b in body["breaks"]} == {
        ("amount", "currency", "id", "kind", "provider_reference", "resolved")}
    assert sorted(b["kind"] for b in body["breaks"]) == sorted(KINDS)
    mismatch = next(b for b in body["breaks"] if b["kind"] == "amount_mismatch")
    assert (mismatch["amount"], mismatch["currency"], mismatch["resolved"]) == (2_500, "USD", False)


def test_the_api_shows_a_resolved_break_as_resolved(one_of_each, operator_user):
    settlement_import(content=one_of_each["content"], file_name="f.csv", created_by="test")
    broken = SettlementBreak.objects.get(kind="duplicate")
    settlement_break_resolve(actor=operator_user("operator"), break_id=broken.pk, note="counted once")

    body = books_key().get(f"/api/v1/settlements/{broken.run_id}").json()

    assert {b["kind"]: b["resolved"] for b in body["breaks"]}["duplicate"] is True


def test_the_settlement_list_pages_with_a_cursor(api, tmp_path):
    for day in ("2001-01-01", "2001-01-02", "2001-01-03"):
        run_import(tmp_path, settlement_file(f"sim_ch_x,charge,5,USD,1,{day}T00:00:00Z"), name=f"{day}.csv")
    books = books_key()

    first = books.get("/api/v1/settlements?limit=2").json()
    second = books.get(f"/api/v1/settlements?limit=2&cursor={first['next_cursor']}").json()

    names = [r["file_name"] for r in first["results"] + second["results"]]
    assert names == ["2001-01-03.csv", "2001-01-02.csv", "2001-01-01.csv"]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(("path", "status", "code"), [
    ("/api/v1/settlements?limit=0", 400, "invalid_parameter"),
    ("/api/v1/settlements?limit=abc", 400, "invalid_parameter"),
    ("/api/v1/settlements?cursor=forged", 400, "invalid_cursor"),
    ("/api/v1/settlements/7e2d9a4b-1c3f-4a5e-8b6d-0f9e8d7c6b5a", 404, "settlement_not_found"),
    ("/api/v1/settlements/not-a-uuid", 404, "settlement_not_found"),
])
def test_bad_settlement_requests_are_problems(path, status, code):
    response = books_key().get(path)

    assert (response.status_code, response["Content-Type"], response.json()["code"]) == (
        status, "application/problem+json", code)


def test_a_key_without_books_gets_403_scope_denied_on_settlements(one_of_each, tmp_path):
    run_import(tmp_path, one_of_each["content"])
    run = SettlementRun.objects.get()
    payments_only = scoped_key(Scope.ACCOUNTS, Scope.WALLETS, Scope.PAYMENTS, Scope.WEBHOOKS)

    for path in ("/api/v1/settlements", f"/api/v1/settlements/{run.pk}"):
        response = payments_only.get(path)
        assert (response.status_code, response.json()["code"]) == (403, "scope_denied")
        assert run.file_sha256 not in response.content.decode()


def test_settlements_are_the_platforms_books_every_books_key_sees_the_same_run(one_of_each, tmp_path):
    run_import(tmp_path, one_of_each["content"])
    run = SettlementRun.objects.get()

    answers = [books_key(name).get(f"/api/v1/settlements/{run.pk}") for name in ("finance", "audit-team")]

    assert [a.status_code for a in answers] == [200, 200]
    assert answers[0].json() == answers[1].json()


# --- metrics and readiness -------------------------------------------------------------------


def scrape_unresolved() -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {settings.MINTGUARD_METRICS_TOKEN}")
    assert response.status_code == 200
    return {s.labels["kind"]: s.value for family in text_string_to_metric_families(response.content.decode())
            for s in family.samples if s.name == "mintguard_settlement_breaks_unresolved"}


def test_metrics_expose_unresolved_breaks_by_kind_and_readyz_stays_200(one_of_each, operator_user):
    assert scrape_unresolved() == dict.fromkeys(KINDS, 0)
    settlement_import(content=one_of_each["content"], file_name="f.csv", created_by="test")
    assert scrape_unresolved() == dict.fromkeys(KINDS, 1)

    settlement_break_resolve(actor=operator_user("operator"), break_id=SettlementBreak.objects.get(
        kind="duplicate").pk, note="fine")

    assert scrape_unresolved() == {**dict.fromkeys(KINDS, 1), "duplicate": 0}
    assert Client().get("/readyz").status_code == 200


# --- the database's own word ---------------------------------------------------------------------


def one_break_run(name: str = "one-break.csv") -> SettlementRun:
    return settlement_import(content=settlement_file(f"sim_ch_{name},charge,5,USD,1,2001-01-01T00:00:00Z"),
                             file_name=name, created_by="test").run


def raw_line(run: SettlementRun, **fields) -> SettlementLine:
    return SettlementLine.objects.create(**{
        "run": run, "line_number": 9, "provider_reference": "sim_ch_raw", "type": "charge", "amount": 5,
        "currency": "USD", "fee": 1, "settled_at": timezone.now(), "status": "matched", **fields})


def test_payments_settlement_matched_within():
    run = one_break_run()
    with refused_by(SettlementRun, "payments_settlement_matched_within"):
        SettlementRun.objects.filter(pk=run.pk).update(matched=run.lines + 1)


def test_a_settlement_file_is_stored_once_by_its_sha256():
    run = one_break_run()
    with pytest.raises(IntegrityError), transaction.atomic():
        SettlementRun.objects.create(created_by="x", file_name="again.csv", file_sha256=run.file_sha256, lines=0,
                                     matched=0)


@pytest.mark.parametrize("fields", [{"amount": 0}, {"amount": -5}, {"fee": -1}])
def test_payments_settleline_amounts(fields):
    with refused_by(SettlementLine, "payments_settleline_amounts"):
        raw_line(one_break_run(), **fields)


def test_payments_settleline_type():
    with refused_by(SettlementLine, "payments_settleline_type"):
        raw_line(one_break_run(), type="credit")


def test_payments_settleline_status():
    with refused_by(SettlementLine, "payments_settleline_status"):
        raw_line(one_break_run(), status="fine")


def test_payments_settleline_number_unique():
    run = one_break_run()
    with refused_by(SettlementLine, "payments_settleline_number_unique"):
        raw_line(run, line_number=2)


def test_payments_settleline_payment_once(api):
    payment = Payment.objects.get(order_id=paid_order(api, amount=1_000)["id"])
    raw_line(one_break_run("a.csv"), payment=payment)
    raw_line(one_break_run("b.csv"), payment=payment, status="duplicate")  # a duplicate may name it again
    with refused_by(SettlementLine, "payments_settleline_payment_once"):
        raw_line(one_break_run("c.csv"), payment=payment)


def test_payments_settleline_refund_once(api):
    order = paid_order(api, amount=1_000)
    refund(api, order["id"], amount=100)
    raw_line(one_break_run("a.csv"), refund=Refund.objects.get(), type="refund")
    with refused_by(SettlementLine, "payments_settleline_refund_once"):
        raw_line(one_break_run("b.csv"), refund=Refund.objects.get(), type="refund")


def test_payments_settlebreak_kind():
    broken = SettlementBreak.objects.get(run=one_break_run())
    with refused_by(SettlementBreak, "payments_settlebreak_kind"):
        SettlementBreak.objects.filter(pk=broken.pk).update(kind="lost")


@pytest.mark.parametrize("resolution", [
    {"note": "a note but not resolved"},
    {"resolved_at": "now", "note": "nobody resolved it"},
    {"resolved_at": "now", "resolved_by": "operator", "note": ""},
])
def test_payments_settlebreak_resolved_with_note(operator_user, resolution):
    broken = SettlementBreak.objects.get(run=one_break_run())
    values = {**resolution}
    if "resolved_at" in values:
        values["resolved_at"] = timezone.now()
    if "resolved_by" in values:
        values["resolved_by"] = operator_user("operator")
    with refused_by(SettlementBreak, "payments_settlebreak_resolved_with_note"):
        SettlementBreak.objects.filter(pk=broken.pk).update(**values)


def test_every_settlement_constraint_has_a_test_named_after_it():
    assert constraints_without_a_test(SettlementRun, SettlementLine, SettlementBreak, tests=globals()) == []


# --- concurrency (PostgreSQL: the unique indexes queue the twins) ---------------------------------


def import_bytes(content: bytes, name: str):
    return settlement_import(content=content, file_name=name, created_by="test")


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_imports_of_one_file_store_one_run_and_post_its_fees_once(api):
    order = paid_order(api, amount=1_000)
    content = settlement_file(line(reference_of(order), 1_000))

    results = run_concurrently(import_bytes, [(content, f"copy-{n}.csv") for n in range(8)], workers=8)

    assert [r for r in results if isinstance(r, Exception)] == []
    assert sorted(r.created for r in results) == [False] * 7 + [True]
    assert {r.run.pk for r in results} == {SettlementRun.objects.get().pk}
    assert Transaction.objects.filter(kind="provider_fees").count() == 1
    assert account_balance("provider_fees") == fee_of(1_000)


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_files_settling_one_payment_match_it_once(api):
    order = paid_order(api, amount=1_000)
    files = [(settlement_file(line(reference_of(order), 1_000, settled_at=f"2026-01-15T10:00:0{n}Z")), f"{n}.csv")
             for n in range(6)]

    results = run_concurrently(import_bytes, files, workers=6)

    assert [r for r in results if isinstance(r, Exception)] == []
    assert SettlementLine.objects.filter(status="matched").count() == 1
    assert SettlementLine.objects.filter(status="duplicate").count() == 5
    assert account_balance("provider_fees") == fee_of(1_000)
    assert_ledger_consistent()
