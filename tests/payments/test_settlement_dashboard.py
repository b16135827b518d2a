"""/settlements/: the runs, an upload (through the command's own service), a run's breaks by kind, and
resolving a break with a note in two steps, audited; each action behind its permission."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from audit.models import AuditAction, AuditEntry
from ledger.models import Transaction
from payments.models import SettlementBreak, SettlementRun
from payments.services.settlements import settlement_import

from ..dashboard_helpers import htmx
from .helpers import paid_order
from .test_settlements import HEADER, fee_of, line, reference_of, settlement_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def day_file(api) -> bytes:
    """A settlement file with one matched line and one amount mismatch."""
    matched, short = paid_order(api, amount=1_000), paid_order(api, amount=2_000)
    return settlement_file(line(reference_of(matched), 1_000), line(reference_of(short), 2_400))


@pytest.fixture
def run(day_file) -> SettlementRun:
    return settlement_import(content=day_file, file_name="day.csv", created_by="ops").run


def upload(client, content: bytes, name: str = "day.csv"):
    return client.post("/settlements/upload/", {"file": SimpleUploadedFile(name, content, "text/csv")})


def resolve(client, settlement_break, note="provider ticket #7", step="confirm", **headers):
    data = {"note": note} if step is None else {"note": note, "step": step}
    return client.post(f"/settlements/breaks/{settlement_break.pk}/resolve/", data, **headers)


# --- reading -----------------------------------------------------------------------------------


def test_a_viewer_sees_the_runs_and_a_runs_breaks_by_kind_but_no_upload_or_resolve_form(viewer, run):
    listing = viewer.get("/settlements/")
    page = viewer.get(f"/settlements/{run.pk}/")

    assert listing.status_code == page.status_code == 200
    html = listing.content.decode()
    assert "day.csv" in html and "1 unresolved" in html and 'href="/settlements/"' in html
    assert 'data-testid="settlement-upload"' not in html
    body = page.content.decode()
    assert 'data-testid="breaks-amount_mismatch"' in body and "Amount mismatch" in body
    assert "24.00 USD" in body and "20.00 USD" in body  # the provider's figure and ours
    assert f"{fee_of(1_000) / 100:.2f} USD" in body  # the fees posted
    assert 'data-testid="review-resolve"' not in body


def test_anonymous_users_are_sent_to_the_login_page_and_others_without_the_role_get_403(run, as_role):
    assert Client().get("/settlements/").status_code == 302
    nobody = as_role(None)
    assert nobody.get("/settlements/").status_code == 403
    assert nobody.get(f"/settlements/{run.pk}/").status_code == 403


def test_a_viewer_may_neither_upload_nor_resolve(viewer, run, day_file):
    broken = run.breaks.get()

    assert upload(viewer, day_file, name="other.csv").status_code == 403
    assert resolve(viewer, broken).status_code == 403
    broken.refresh_from_db()
    assert broken.resolved_at is None and SettlementRun.objects.count() == 1


def test_an_unknown_run_or_break_is_404(operator):
    missing = "7e2d9a4b-1c3f-4a5e-8b6d-0f9e8d7c6b5a"

    assert operator.get(f"/settlements/{missing}/").status_code == 404
    assert operator.post(f"/settlements/breaks/{missing}/resolve/", {"note": "x", "step": "confirm"}).status_code == 404


# --- uploading -----------------------------------------------------------------------------------


def test_an_operator_uploads_a_file_and_lands_on_its_run_with_the_import_audited(operator, day_file):
    response = upload(operator, day_file)

    run = SettlementRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/settlements/{run.pk}/"
    assert (run.file_name, run.lines, run.matched, run.created_by) == ("day.csv", 2, 1, operator.user.username)
    assert list(run.breaks.values_list("kind", flat=True)) == ["amount_mismatch"]
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.target_type, entry.target_id, entry.actor) == (
        AuditAction.SETTLEMENT_IMPORTED, "settlement_run", str(run.pk), operator.user)
    assert entry.after["breaks"] == {"amount_mismatch": 1} and entry.after["fees"] == {"USD": fee_of(1_000)}
    page = operator.get(response["Location"]).content.decode()
    assert "1 break(s) to resolve" in page


def test_uploading_the_same_file_again_shows_the_first_run_and_posts_nothing(operator, day_file):
    first = upload(operator, day_file)
    fees = Transaction.objects.filter(kind="provider_fees").count()

    again = upload(operator, day_file, name="renamed.csv")

    assert again.status_code == 302 and again["Location"] == first["Location"]
    assert SettlementRun.objects.count() == 1 and SettlementBreak.objects.count() == 1
    assert Transaction.objects.filter(kind="provider_fees").count() == fees == 1
    assert "was imported before" in operator.get(again["Location"]).content.decode()
    assert AuditEntry.objects.count() == 1  # only the import that stored something


def test_a_malformed_upload_is_refused_422_with_line_numbers_and_nothing_stored(operator, api):
    order = paid_order(api, amount=1_000)
    content = settlement_file(line(reference_of(order), 1_000), "sim_ch_b,charge,12.50,USD,1,2026-01-15T10:00:00Z")

    response = upload(operator, content)

    assert response.status_code == 422
    html = response.content.decode()
    assert "Line 3: amount must be a whole number of minor units" in html
    assert SettlementRun.objects.count() == 0 and Transaction.objects.filter(kind="provider_fees").count() == 0
    assert AuditEntry.objects.count() == 0


@pytest.mark.parametrize("case", ["no file", "empty", "too large"])
def test_an_upload_without_a_file_empty_or_too_large_is_422(operator, monkeypatch, case):
    monkeypatch.setattr("payments.services.settlements.SETTLEMENT_FILE_MAX_BYTES", 100)
    if case == "no file":
        response = operator.post("/settlements/upload/", {})
        expected = "Choose a settlement file"
    elif case == "empty":
        response = upload(operator, b"")
        expected = "The file is empty"
    else:
        response = upload(operator, settlement_file(*["sim_ch_a,charge,5,USD,1,2026-01-15T10:00:00Z"] * 3))
        expected = "larger than"

    assert response.status_code == 422 and expected in response.content.decode()
    assert SettlementRun.objects.count() == 0


def test_an_upload_without_the_csrf_token_is_refused(operator_user, day_file):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator_user("operator"))

    response = upload(client, day_file)

    assert response.status_code == 403 and SettlementRun.objects.count() == 0


def test_the_upload_form_shows_the_header_it_expects(operator):
    html = operator.get("/settlements/").content.decode()

    assert 'data-testid="settlement-upload"' in html and HEADER in html and 'enctype="multipart/form-data"' in html


# --- resolving -----------------------------------------------------------------------------------


@pytest.mark.parametrize("step", [None, "review", "edit"])
def test_the_review_step_resolves_nothing(operator, run, step):
    broken = run.breaks.get()

    response = resolve(operator, broken, step=step)

    assert response.status_code == 200
    html = response.content.decode()
    if step == "edit":
        assert 'data-testid="review-resolve"' in html and "provider ticket #7" in html
    else:
        assert 'data-testid="resolve-question"' in html and "24.00 USD" in html and "provider ticket #7" in html
    broken.refresh_from_db()
    assert broken.resolved_at is None and AuditEntry.objects.count() == 0


def test_confirming_resolves_the_break_with_its_note_and_audits_it(operator, run):
    broken = run.breaks.get()

    response = resolve(operator, broken, note="Provider refunded the 4.00 difference, ticket #7")

    assert response.status_code == 302 and response["Location"] == f"/settlements/{run.pk}/"
    broken.refresh_from_db()
    assert (broken.note, broken.resolved_by) == ("Provider refunded the 4.00 difference, ticket #7", operator.user)
    assert broken.resolved_at is not None
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.target_type, entry.target_id, entry.actor, entry.note) == (
        AuditAction.SETTLEMENT_BREAK_RESOLVED, "settlement_break", str(broken.pk), operator.user,
        "Provider refunded the 4.00 difference, ticket #7")
    assert entry.before["resolved"] is False and entry.after["resolved"] is True
    assert entry.after["kind"] == "amount_mismatch" and entry.after["amount"] == 2_400
    page = operator.get(response["Location"]).content.decode()
    assert 'data-testid="break-note"' in page and "ticket #7" in page


@pytest.mark.parametrize("note", ["", "   "])
def test_confirming_without_a_note_is_422_and_resolves_nothing(operator, run, note):
    broken = run.breaks.get()

    response = resolve(operator, broken, note=note)

    assert response.status_code == 422 and "A note is required" in response.content.decode()
    broken.refresh_from_db()
    assert broken.resolved_at is None and AuditEntry.objects.count() == 0


def test_resolving_twice_is_409_and_keeps_the_first_note(operator, run):
    broken = run.breaks.get()
    resolve(operator, broken, note="first")

    again = resolve(operator, broken, note="second")
    review = resolve(operator, broken, note="second", step="review")

    assert again.status_code == review.status_code == 409
    assert "resolved already" in again.content.decode()
    broken.refresh_from_db()
    assert broken.note == "first" and AuditEntry.objects.count() == 1


def test_htmx_swaps_the_row_for_the_question_then_for_the_resolved_row(operator, run):
    broken = run.breaks.get()

    question = resolve(operator, broken, step="review", **htmx())
    done = resolve(operator, broken, **htmx())

    assert question.status_code == done.status_code == 200
    assert question.content.decode().lstrip().startswith("<tr") and "Confirm: resolve" in question.content.decode()
    html = done.content.decode()
    assert html.lstrip().startswith("<tr") and "resolved" in html and "provider ticket #7" in html


def test_the_navigation_links_to_settlements_for_those_who_may_read_them(viewer, as_role):
    assert 'href="/settlements/"' in viewer.get("/orders/").content.decode()
    assert as_role(None).get("/settlements/").status_code == 403


def test_the_audit_log_links_an_import_and_a_resolution_to_the_run(operator, admin_role, day_file):
    upload(operator, day_file)
    run = SettlementRun.objects.get()
    resolve(operator, run.breaks.get())

    html = admin_role.get("/audit/").content.decode()

    assert html.count(f'href="/settlements/{run.pk}/') == 2
