"""Dashboard pages of the ledger: accounts and balances (now or at an instant), an account's statement
(and its CSV), the trial balance (and its CSV), a transaction's postings (and reversing one), holds
(and voiding one), and reconciliation. Thin: parse, call a selector or service, render.

The ledger's core (models, services, selectors) never imports the dashboard; these views do.
"""

from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import BadRequest
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from mintguard_site.api.pagination import decode_cursor, encode_cursor
from mintguard_site.api.selectors import owner_names
from mintguard_site.csv_export import csv_response
from mintguard_site.dashboard import PAGE_SIZE, list_page, list_state, operator_required, render_page, wants_partial

from . import selectors, services
from .currencies import format_amount
from .exceptions import HoldNotActive, InvalidStatementPosition, LedgerError
from .forms import HoldVoidForm, TransactionReverseForm
from .models import Account, Hold, HoldStatus, Posting, ReconciliationRun, Transaction, balance_effect
from .operator_runs import reconciliation_run_now, reconciliation_start
from .searches import HOLD_SORTS, accounts_search, holds_search
from .services.reversals import OPPOSITE

# The account page lists this many of its active holds; the holds page has them all.
ACCOUNT_HOLDS_SHOWN = 5
# A poll gives up after this long: the worker that ran it may have been recycled.
RECONCILIATION_POLL_LIMIT = timedelta(minutes=10)


@require_GET
@operator_required("ledger.view_account")
def account_list(request):
    filters = list_state(request, texts=("currency",))
    context = list_page(request, accounts_search(**filters), filters)
    context["names"] = owner_names(a.owner for a in context["page_obj"])
    if not wants_partial(request):
        context |= {
            "books": selectors.ledger_books(),
            "system": selectors.system_account_matrix(),
            "currencies": selectors.account_currencies(),
        }
    return render_page(request, "ledger/account_list.html", context, partial="ledger/_account_results.html")


@require_GET
@operator_required("ledger.view_account")
def account_detail(request, account_id):
    account = get_object_or_404(Account.objects.with_balance(), pk=account_id)
    scope = f"statement:{account.pk}"
    try:
        entries, position = selectors.statement_page(
            account=account, limit=PAGE_SIZE, before=decode_cursor(request, scope)
        )
    except InvalidStatementPosition as exc:
        raise BadRequest(exc.detail) from None
    next_cursor = encode_cursor(scope, position) if position else None
    context = {"account": account, "entries": entries, "next_cursor": next_cursor}
    if not wants_partial(request):  # the statement's pager swaps only the statement
        context |= {
            "names": owner_names([account.owner]),
            # The holds that make `available` less than the balance, the soonest to lapse first.
            # One more than shown tells whether to offer the rest. A system account never holds money.
            "active_holds": selectors.account_active_holds(account=account, limit=ACCOUNT_HOLDS_SHOWN + 1),
            "holds_shown": ACCOUNT_HOLDS_SHOWN,
        }
        context |= as_of_state(request)
        if context["as_of"] is not None:
            context["balance_as_of"] = selectors.account_balance_as_of(account=account, as_of=context["as_of"])
    status = 400 if context.get("as_of_error") else 200
    return render_page(request, "ledger/account_detail.html", context, partial="ledger/_statement_results.html",
                       status=status)


@require_GET
@operator_required("ledger.view_account")
def account_statement_csv(request, account_id):
    """Stream the account's statement as CSV, oldest first, optionally within `?from=` and `?to=`."""
    account = get_object_or_404(Account, pk=account_id)
    try:
        posted_from = typed_instant(request.GET.get("from", ""))
        posted_to = typed_instant(request.GET.get("to", ""), day_end=True)
    except ValueError as error:
        raise BadRequest(str(error)) from None
    if posted_from and posted_to and posted_from > posted_to:
        raise BadRequest("The statement's start (from) is after its end (to).")
    rows = selectors.statement_export_rows(account=account, posted_from=posted_from, posted_to=posted_to)
    filename = f"statement-{str(account.pk)[:8]}-{timezone.now():%Y%m%dT%H%M%SZ}.csv"
    return csv_response(filename, selectors.STATEMENT_CSV_HEADER, rows)


def typed_instant(text: str, *, day_end: bool = False) -> datetime | None:
    """Return the instant an operator typed (None for nothing): an ISO 8601 date, or date and time.

    A time without an offset is UTC. A date alone is the start of that UTC day, or with `day_end`
    its end (its last microsecond, so "as of 2026-12-31" is the month-end balance and "to" a
    date includes that whole day). Raise ValueError, in words an operator reads, for anything else.
    """
    text = text.strip()
    if not text:
        return None
    try:
        return datetime.combine(date.fromisoformat(text), time.max if day_end else time.min, tzinfo=UTC)
    except ValueError:
        pass  # not a date alone
    try:
        moment = datetime.fromisoformat(text)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError(f"“{text[:40]}” is not a date (2026-12-31) or a date and time (2026-12-31T18:00).") from None


def as_of_state(request) -> dict:
    """The "as of" picker's state: `?as_of=` a date (the end of that UTC day) or a date and time, and
    `?at=` an optional time (UTC) on that date.

    Returns `as_of` (the instant, or None when none was asked), `as_of_label` (how the page names
    it), the values to show in the date and time inputs, and `as_of_error` for what does not parse.
    """
    day, at = request.GET.get("as_of", "").strip(), request.GET.get("at", "").strip()
    state = {"as_of": None, "as_of_label": "", "as_of_error": "", "as_of_day": day[:40], "as_of_at": at[:20]}
    if not day:
        if at:
            state["as_of_error"] = f"Pick a date for the time “{at[:20]}”."
        return state
    try:
        instant = typed_instant(f"{day}T{at}" if at else day, day_end=True)
    except ValueError as error:
        state["as_of_error"] = str(error)
        return state
    day_end = instant.time() == time.max
    state |= {
        "as_of": instant, "as_of_day": f"{instant:%Y-%m-%d}", "as_of_at": "" if day_end else f"{instant:%H:%M:%S}",
        "as_of_label": f"the end of {instant:%Y-%m-%d} (UTC)" if day_end else f"{instant:%Y-%m-%d %H:%M:%S} UTC",
    }
    # For links to the same instant on another page.
    state["as_of_query"] = urlencode({"as_of": state["as_of_day"], "at": state["as_of_at"]} if state["as_of_at"]
                                     else {"as_of": state["as_of_day"]})
    return state


def _trial_balance_request(request) -> tuple[dict, str]:
    """The trial balance's instant and currency from its URL: (as-of state, error or "")."""
    state = as_of_state(request)
    currency = request.GET.get("currency", "").strip()
    state["currency"] = currency[:12]
    if state["as_of_error"]:
        return state, state["as_of_error"]
    if currency and currency not in selectors.account_currencies():
        return state, f"No account is kept in “{currency[:12]}”."
    return state, ""


@require_GET
@operator_required("ledger.view_account")
def trial_balance(request):
    """Every account's balance at an instant (now by default), per currency, debits beside credits."""
    state, error = _trial_balance_request(request)
    context = state | {"error": error, "currencies": selectors.account_currencies(), "tb": None}
    if error:
        return render_page(request, "ledger/trial_balance.html", context, status=400)
    context["tb"] = selectors.trial_balance(as_of=state["as_of"], currency=state["currency"] or None)
    return render_page(request, "ledger/trial_balance.html", context)


@require_GET
@operator_required("ledger.view_account")
def trial_balance_csv(request):
    """The trial balance the page shows, as CSV: one row per account and currency."""
    state, error = _trial_balance_request(request)
    if error:
        raise BadRequest(error)
    tb = selectors.trial_balance(as_of=state["as_of"], currency=state["currency"] or None)
    return csv_response(f"trial-balance-{tb.as_of:%Y%m%dT%H%M%SZ}.csv", selectors.TRIAL_BALANCE_CSV_HEADER,
                        selectors.trial_balance_csv_rows(tb))


def _transaction(transaction_id) -> Transaction:
    # With its reversal links either way, in the same query (each a `Reversal` row, or none).
    return get_object_or_404(Transaction.objects.select_related("reversed_by", "reverses"), pk=transaction_id)


def _transaction_context(request, txn: Transaction, *, form=None, review: bool = False) -> dict:
    postings = selectors.transaction_postings(transaction=txn)
    reversed_by = getattr(txn, "reversed_by", None)
    context = {
        "txn": txn, "postings": postings,
        "debits": sum(p.amount for p in postings if p.direction == "DEBIT"),
        "credits": sum(p.amount for p in postings if p.direction == "CREDIT"),
        "names": owner_names([txn.owner]),
        "reversed_by": reversed_by, "reverses": getattr(txn, "reverses", None),
        # A submitted form stays on screen with its message, even one refused.
        "can_reverse": request.user.has_perm("ledger.reverse_transaction") and (
            form is not None or (services.is_reversible(txn) and reversed_by is None)),
        "reverse_form": form or TransactionReverseForm(), "review": review,
    }
    if review:  # what the reversal will post, and what it leaves available on each customer account
        customers = Account.objects.with_balance().in_bulk({p.account_id for p in postings if not p.account.is_system})
        context["reversal_legs"] = [_reversal_leg(p, customers.get(p.account_id)) for p in postings]
    return context


def _reversal_leg(posting: Posting, customer: Account | None) -> dict:
    """A leg the reversal will post: the posting's, direction flipped, with a customer's available after it."""
    direction = OPPOSITE[posting.direction]
    leg = {"account": posting.account, "direction": direction, "amount": posting.amount, "currency": posting.currency}
    if customer is not None:
        change = balance_effect(debit_normal=customer.debit_normal, direction=direction, amount=posting.amount)
        leg |= {"available": customer.available, "available_after": customer.available + change}
    return leg


@require_GET
@operator_required("ledger.view_transaction")
def transaction_detail(request, transaction_id):
    txn = _transaction(transaction_id)
    return render_page(request, "ledger/transaction_detail.html", _transaction_context(request, txn))


@require_POST
@operator_required("ledger.reverse_transaction")
def transaction_reverse(request, transaction_id):
    """Two steps, as for refunds and voids: "review" names the transaction and the legs it will post
    with their amounts; only "confirm" reverses (audited, with the note).

    htmx swaps the reversal panel for the review; the confirmation reloads the page, whose facts and
    links all change. Without JavaScript each step renders the full page.
    """
    txn = _transaction(transaction_id)
    form = TransactionReverseForm(request.POST)
    step = request.POST.get("step", "review")
    # Early feedback; the service asks again, and the reversal's unique index has the last word.
    refusal = services.reversal_refusal(txn, reversed_already=getattr(txn, "reversed_by", None) is not None)
    if refusal is not None:
        return _reverse_refused(request, txn, form=form, message=refusal.detail)
    if not form.is_valid():
        return _reverse_response(request, txn, form=form, status=422)
    if step != "confirm":  # "edit" goes back from the review to the form, with the note typed
        return _reverse_response(request, txn, form=form, review=step != "edit")
    try:
        reversal = services.operator_transaction_reverse(transaction_id=txn.pk, user=request.user,
                                                         note=form.cleaned_data["note"])
    except LedgerError as error:  # reversed since the review, insufficient funds now, a wallet's account
        return _reverse_refused(request, _transaction(transaction_id), form=form, message=error.detail)
    messages.success(request, f"Reversed {txn.kind} {str(txn.pk)[:8]}: reversal {str(reversal.pk)[:8]} posted "
                              "its opposite legs.")
    url = reverse("ledger:transaction-detail", kwargs={"transaction_id": txn.pk})
    return HttpResponseClientRedirect(url) if wants_partial(request) else redirect(url)


def _reverse_refused(request, txn: Transaction, *, form, message: str):
    form.is_valid()  # keep the note typed
    form.add_error(None, message)
    return _reverse_response(request, txn, form=form, status=409)


def _reverse_response(request, txn: Transaction, *, form, review=False, status=200):
    return render_page(request, "ledger/transaction_detail.html",
                       _transaction_context(request, txn, form=form, review=review),
                       partial="ledger/_reversal_panel.html", status=status)


# --- holds ---------------------------------------------------------------------------------


@require_GET
@operator_required("ledger.view_hold")
def hold_list(request):
    filters = list_state(request, choices={"status": HoldStatus.values}, texts=("account",),
                         sorts=HOLD_SORTS, default_sort="expiring")
    context = list_page(request, holds_search(**filters), filters, sorts=HOLD_SORTS)
    context["statuses"] = HoldStatus.choices
    return render_page(request, "ledger/hold_list.html", context, partial="ledger/_hold_results.html")


def _hold(hold_id) -> Hold:
    return get_object_or_404(Hold.objects.select_related("source_account", "destination_account"), pk=hold_id)


def _hold_context(request, hold: Hold, *, form=None, review: bool = False) -> dict:
    active = hold.current_status == HoldStatus.HELD
    capture = selectors.hold_capture_transaction(hold=hold)
    return {
        "hold": hold, "active": active, "capture": capture, "names": owner_names([hold.owner]),
        # A submitted form stays on screen with its message even once the hold stopped being active.
        "can_void": request.user.has_perm("ledger.void_hold") and (active or form is not None),
        "void_form": form or HoldVoidForm(), "review": review,
    }


@require_GET
@operator_required("ledger.view_hold")
def hold_detail(request, hold_id):
    return render_page(request, "ledger/hold_detail.html", _hold_context(request, _hold(hold_id)))


@require_POST
@operator_required("ledger.void_hold")
def hold_void(request, hold_id):
    """Two steps, as for refunds: "review" names the hold, its account and amount; only "confirm" voids.

    htmx swaps the void panel for the review, and the whole hold after confirming; without
    JavaScript each step renders the full page (and a success redirects to it).
    """
    hold = _hold(hold_id)
    form = HoldVoidForm(request.POST)
    step = request.POST.get("step", "review")
    if hold.current_status != HoldStatus.HELD:  # early feedback; the service asks again under the hold's lock
        return _not_active_response(request, hold, form=form, step=step)
    if not form.is_valid():
        return _void_response(request, hold, form=form, step=step, status=422)
    if step != "confirm":  # "edit" goes back from the review to the form, with the note typed
        return _void_response(request, hold, form=form, step=step, review=step != "edit")
    try:
        hold = services.operator_hold_void(hold_id=hold.pk, user=request.user, note=form.cleaned_data["note"])
    except HoldNotActive:  # voided, captured or expired since the review
        return _not_active_response(request, _hold(hold_id), form=form, step=step)
    amount = format_amount(hold.amount, hold.currency)
    messages.success(request, f"Voided hold {str(hold.pk)[:8]}: {amount} is available again on {hold.source_account}.")
    if wants_partial(request):
        return render_page(request, "ledger/hold_detail.html", _hold_context(request, hold),
                           partial="ledger/_hold_body.html")
    return redirect("ledger:hold-detail", hold_id=hold.pk)


def _not_active_response(request, hold: Hold, *, form, step):
    status = HoldStatus(hold.current_status).label.lower()
    form.add_error(None, f"This hold is {status}: it reserves nothing any more, so there is nothing to void.")
    return _void_response(request, hold, form=form, step=step, status=409)


def _void_response(request, hold: Hold, *, form, step, review=False, status=200):
    # Review answers replace the void panel; confirm answers replace the whole hold.
    partial = "ledger/_hold_body.html" if step == "confirm" else "ledger/_hold_void_panel.html"
    return render_page(request, "ledger/hold_detail.html", _hold_context(request, hold, form=form, review=review),
                       partial=partial, status=status)


# --- reconciliation ------------------------------------------------------------------------


def _reconciliation_context(request, *, selected_id=None) -> dict:
    runs = selectors.reconciliation_runs()
    selected = None
    if selected_id:
        run_id = str(selected_id)
        if run_id.isascii() and run_id.isdigit():  # "²".isdigit() is True, and int("²") raises
            selected = ReconciliationRun.objects.filter(pk=run_id).first()
    elif runs:
        selected = ReconciliationRun.objects.get(pk=runs[0].pk)
    return {
        "runs": runs,
        "selected": selected,
        "can_run": request.user.has_perm("ledger.run_reconciliation"),
    }


@require_GET
@operator_required("ledger.view_reconciliationrun")
def reconciliation(request):
    context = _reconciliation_context(request, selected_id=request.GET.get("run"))
    context["books"] = selectors.ledger_books()
    return render_page(request, "ledger/reconciliation.html", context, partial="ledger/_reconciliation_panel.html")


@require_POST
@operator_required("ledger.run_reconciliation")
def reconciliation_run(request):
    """Start a run (audited). htmx polls for its result; without JavaScript the request waits for it."""
    if not wants_partial(request):
        run = reconciliation_run_now(actor=request.user)
        return redirect(f"{reverse('ledger:reconciliation')}?run={run.pk}")
    since, started_now = reconciliation_start(actor=request.user)
    return render_page(request, "ledger/reconciliation.html", {
        "since": since.isoformat(), "already_running": not started_now,
    }, partial="ledger/_reconciliation_running.html", status=202)


@require_GET
@operator_required("ledger.view_reconciliationrun")
def reconciliation_status(request):
    """Answer a poll: still running (poll again), or the panel with the run that finished."""
    try:
        since = datetime.fromisoformat(request.GET.get("since", ""))
    except ValueError:
        since = None
    # A moment outside the last poll window is no run of ours (and an extreme one would overflow).
    if since is None or timezone.is_naive(since) or not (
        timezone.now() - RECONCILIATION_POLL_LIMIT <= since <= timezone.now() + timedelta(minutes=1)
    ):
        return render_page(request, "ledger/reconciliation.html", _reconciliation_context(request),
                           partial="ledger/_reconciliation_panel.html")
    finished = selectors.reconciliation_run_since(since)
    if finished is None and timezone.now() - since < RECONCILIATION_POLL_LIMIT:
        return render_page(request, "ledger/reconciliation.html", {"since": since.isoformat()},
                           partial="ledger/_reconciliation_running.html", status=202)
    context = _reconciliation_context(request, selected_id=finished.pk if finished else None)
    context["lost"] = finished is None
    return render_page(request, "ledger/reconciliation.html", context, partial="ledger/_reconciliation_panel.html")
