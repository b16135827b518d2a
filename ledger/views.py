"""Dashboard pages of the ledger: accounts and balances, an account's statement, a transaction's
postings, holds (and voiding one), and reconciliation. Thin: parse, call a selector or service, render.

The ledger's core (models, services, selectors) never imports the dashboard; these views do.
"""

from datetime import datetime, timedelta

from django.contrib import messages
from django.core.exceptions import BadRequest
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from mintguard_site.api.pagination import decode_cursor, encode_cursor
from mintguard_site.api.selectors import owner_names
from mintguard_site.dashboard import PAGE_SIZE, list_page, list_state, operator_required, render_page, wants_partial

from . import selectors, services
from .currencies import format_amount
from .exceptions import HoldNotActive, InvalidStatementPosition
from .forms import HoldVoidForm
from .models import Account, Hold, HoldStatus, ReconciliationRun, Transaction
from .operator_runs import reconciliation_run_now, reconciliation_start
from .searches import HOLD_SORTS, accounts_search, holds_search

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
    return render_page(request, "ledger/account_detail.html", context, partial="ledger/_statement_results.html")


@require_GET
@operator_required("ledger.view_transaction")
def transaction_detail(request, transaction_id):
    txn = get_object_or_404(Transaction, pk=transaction_id)
    postings = selectors.transaction_postings(transaction=txn)
    return render_page(request, "ledger/transaction_detail.html", {
        "txn": txn, "postings": postings,
        "debits": sum(p.amount for p in postings if p.direction == "DEBIT"),
        "credits": sum(p.amount for p in postings if p.direction == "CREDIT"),
        "names": owner_names([txn.owner]),
    })


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
