"""Dashboard pages of payments: orders, an order, its refund and void forms, the pending queue, refunds,
and the CSV downloads of the orders and refunds lists.

Thin function views: parse the request, call a selector or an operator service, render a page or,
for htmx, the fragment it swaps. Refunds, voids and resolutions go through `services.operator_refund`,
`services.operator_void` and `services.operator_resolve_pending`, which run the API's own services
and write the audit entry in the transaction that records the action.
"""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from ledger.currencies import format_amount
from ledger.forms import minor_to_major
from mintguard_site.api.selectors import owner_names
from mintguard_site.csv_export import csv_response
from mintguard_site.dashboard import list_page, list_state, operator_required, render_page, wants_partial
from mintguard_site.errors import DomainError

from . import searches, selectors, services
from .exceptions import OrderNotRefundable, RefundExceedsRemaining
from .forms import RefundForm, ResolvePendingForm, SettlementResolveForm, SettlementUploadForm, VoidForm
from .models import (
    BuyerTrust,
    ConfirmationResult,
    Order,
    OrderStatus,
    SettlementBreak,
    SettlementBreakKind,
    SettlementRun,
)
from .policies import authorization_expires_at
from .services import settlements as settlement_services


def _order_filters(request) -> dict:
    """The orders list's search, filters and sort from its URL: the page's and its CSV's."""
    return list_state(request, choices={"status": OrderStatus.values, "trust": BuyerTrust.values}, texts=("currency",))


@require_GET
@operator_required("payments.view_order")
def order_list(request):
    filters = _order_filters(request)
    context = list_page(request, searches.orders_search(**filters), filters)
    context |= {"statuses": OrderStatus.choices, "trusts": BuyerTrust.choices}
    if not wants_partial(request):
        context["currencies"] = searches.order_currencies()
    return render_page(request, "payments/order_list.html", context, partial="payments/_order_results.html")


@require_GET
@operator_required("payments.view_order")
def order_list_csv(request):
    """Stream every order the list shows with the same search, filters and sort, as CSV."""
    rows = searches.orders_csv_rows(**_order_filters(request))
    return csv_response(_export_name("orders"), searches.ORDERS_CSV_HEADER, rows)


@require_GET
@operator_required("payments.view_refund")
def refund_list_csv(request):
    """Stream every refund the list shows with the same search, filters and sort, as CSV."""
    rows = searches.refunds_csv_rows(**_refund_filters(request))
    return csv_response(_export_name("refunds"), searches.REFUNDS_CSV_HEADER, rows)


def _export_name(what: str) -> str:
    return f"{what}-{timezone.now():%Y%m%dT%H%M%SZ}.csv"


def _refundable(order: Order) -> bool:
    try:
        services.refund_eligibility(order=order)
    except OrderNotRefundable:
        return False
    return True


def _order_context(request, order, *, refund_form=None, confirm=None, void_form=None, void_review=False) -> dict:
    may_refund = request.user.has_perm("payments.refund_order")
    if may_refund and refund_form is None and _refundable(order):
        refund_form = RefundForm.fresh(order=order)
    detail = selectors.order_detail(order=order)
    authorization = detail.authorization
    if may_refund and void_form is None and order.status == OrderStatus.AUTHORIZED:
        void_form = VoidForm()
    return {
        "order": order,
        "detail": detail,
        # A submitted form stays on screen with its errors even if the order stopped being refundable.
        "can_refund": may_refund and refund_form is not None,
        "refund_form": refund_form,
        "refund_rest": minor_to_major(order.refundable_amount, order.currency),  # what "Refund the rest" fills in
        "confirm": confirm,
        # Voiding hands the buyer back held funds as a refund hands back paid ones: the same permission.
        "can_void": may_refund and void_form is not None,
        "void_form": void_form,
        "void_review": void_review,
        "authorization": authorization,
        "authorization_expires_at": authorization_expires_at(authorization) if authorization else None,
    }


@require_GET
@operator_required("payments.view_order")
def order_detail(request, order_id):
    order = get_object_or_404(Order, pk=order_id)
    return render_page(request, "payments/order_detail.html", _order_context(request, order))


@require_POST
@operator_required("payments.refund_order")
def order_refund(request, order_id):
    """Two steps: "review" shows what will be refunded; "confirm" refunds it, once per form key.

    htmx swaps the refund panel for the review, and the whole order body after confirming, so the
    new refund and its ledger lines appear without a reload; without JavaScript each step renders
    the full page (and a success redirects to it).
    """
    order = get_object_or_404(Order, pk=order_id)
    form = RefundForm(request.POST, currency=order.currency)
    step = request.POST.get("step", "review")
    if not form.is_valid():
        return _refund_response(request, order, form=form, status=422, step=step)
    if step == "edit":  # back from the review to the form, with what was typed and the same key
        return _refund_response(request, order, form=form, step=step)
    if step != "confirm":
        # Early feedback only: refund_create asks the same rule again under the order's lock.
        try:
            services.refund_eligibility(order=order, amount=form.cleaned_data["amount"])
        except OrderNotRefundable:
            form.add_error(None, f"Order is {order.get_status_display().lower()}: nothing to refund.")
            return _refund_response(request, order, form=form, status=409, step=step)
        except RefundExceedsRemaining:
            remaining = format_amount(order.refundable_amount, order.currency)
            form.add_error("amount", f"Only {remaining} remains to refund.")
            return _refund_response(request, order, form=form, status=409, step=step)
        confirm = {
            "amount": form.cleaned_data["amount"],
            "remaining_after": order.refundable_amount - form.cleaned_data["amount"],
        }
        return _refund_response(request, order, form=form, confirm=confirm, step=step)
    try:
        result = services.operator_refund(
            actor=request.user, order_id=order.pk, amount=form.cleaned_data["amount"],
            reason=form.cleaned_data["reason"], idempotency_key=form.cleaned_data["idempotency_key"],
        )
    except DomainError as error:  # over-refund, not refundable, key reused: shown next to the form
        form.add_error(None, error.detail)
        return _refund_response(request, get_object_or_404(Order, pk=order_id), form=form, status=409, step=step)
    amount = format_amount(result.refund.amount, result.order.currency)
    if result.created:
        messages.success(request, f"Refunded {amount}.")
    else:
        messages.info(request, f"This refund of {amount} was already made: the form was sent twice.")
    if wants_partial(request):
        return render_page(request, "payments/order_detail.html", _order_context(request, result.order),
                           partial="payments/_order_body.html")
    return redirect("payments:order-detail", order_id=order.pk)


def _refund_response(request, order, *, form, step, confirm=None, status=200):
    context = _order_context(request, order, refund_form=form, confirm=confirm)
    # Review answers replace the refund panel; confirm answers replace the whole order body.
    partial = "payments/_order_body.html" if step == "confirm" else "payments/_refund_panel.html"
    return render_page(request, "payments/order_detail.html", context, partial=partial, status=status)


@require_POST
@operator_required("payments.refund_order")
def order_void(request, order_id):
    """Void an order's authorization with a note, in two steps as refunds: "review" asks, "confirm" voids.

    The question names the order and the amount held; only its Confirm calls the provider. htmx
    swaps the void panel for the question, and the whole order body once voided.
    """
    order = get_object_or_404(Order, pk=order_id)
    form = VoidForm(request.POST)
    step = request.POST.get("step", "review")
    if not form.is_valid():
        return _void_response(request, order, form=form, step=step, status=422)
    if step != "confirm":  # "edit" goes back from the question to the form, with the note typed
        if order.status != OrderStatus.AUTHORIZED:  # early feedback only: the service asks again
            form.add_error(None, f"Order is {order.get_status_display().lower()}: nothing to void.")
            return _void_response(request, order, form=form, step=step, status=409)
        return _void_response(request, order, form=form, step=step, review=step != "edit")
    try:
        result = services.operator_void(actor=request.user, order_id=order.pk, note=form.cleaned_data["note"])
    except DomainError as error:  # voided or captured meanwhile, expired, provider down: shown by the form
        form.add_error(None, error.detail)
        return _void_response(request, get_object_or_404(Order, pk=order_id), form=form, step=step, status=409)
    held = format_amount(result.payment.amount, result.order.currency)
    messages.success(request, f"Voided: the {held} held for order {str(order.pk)[:8]} was released.")
    if wants_partial(request):
        return render_page(request, "payments/order_detail.html", _order_context(request, result.order),
                           partial="payments/_order_body.html")
    return redirect("payments:order-detail", order_id=order.pk)


def _void_response(request, order, *, form, step, review=False, status=200):
    context = _order_context(request, order, void_form=form, void_review=review)
    # The question and refusals before it replace the void panel; a confirm's answer the whole order body.
    partial = "payments/_order_body.html" if step == "confirm" else "payments/_void_panel.html"
    return render_page(request, "payments/order_detail.html", context, partial=partial, status=status)


@require_GET
@operator_required("payments.view_order")
def pending_list(request):
    filters = list_state(request, choices={"trust": BuyerTrust.values}, texts=("currency",),
                         sorts=searches.PENDING_SORTS, default_sort="waiting")
    context = list_page(request, searches.pending_search(**filters), filters, sorts=searches.PENDING_SORTS)
    context |= {"trusts": BuyerTrust.choices, "can_resolve": request.user.has_perm("payments.resolve_pending")}
    if not wants_partial(request):
        context["currencies"] = searches.order_currencies()
    return render_page(request, "payments/pending_list.html", context, partial="payments/_pending_results.html")


@require_POST
@operator_required("payments.resolve_pending")
def pending_resolve(request, order_id):
    """Mark a pending payment PAID or FAILED with a note, through the webhook's own service.

    Two steps, as for refunds: "review" asks "Mark order 1a2b3c4d paid: 489.00 USD?" and only
    "confirm" resolves. The outcome is chosen, never a default, so a bare Enter in the note can at
    most ask the question; without an outcome the answer is a 422 that says so.
    """
    order = get_object_or_404(Order, pk=order_id)
    form = ResolvePendingForm(request.POST)
    step = request.POST.get("step", "review")
    if not form.is_valid():
        return _pending_row_response(request, order, form=form, status=422)
    if step != "confirm":  # "edit" goes back from the question to the form, with what was typed
        return _pending_row_response(request, order, form=form, review=step != "edit")
    try:
        result = services.operator_resolve_pending(
            actor=request.user, order_id=order.pk, outcome=form.cleaned_data["outcome"],
            note=form.cleaned_data["note"],
        )
    except DomainError as error:
        form.add_error(None, error.detail)
        return _pending_row_response(request, order, form=form, status=409)
    if wants_partial(request):
        return render_page(request, "payments/pending_list.html", {"resolved": result, "order": result.order},
                           partial="payments/_pending_row.html")
    summary = f"Order {str(order.pk)[:8]} is now {result.order.get_status_display()}."
    if result.result == ConfirmationResult.APPLIED:
        messages.success(request, summary)
    else:  # the order had moved on (expired, settled by the provider): say what happened instead
        messages.warning(request, f"{summary} Your outcome was not applied: {result.result_label}.")
    return redirect("payments:pending")


def _pending_row_response(request, order, *, form, review=False, status=200):
    """The order's row of the queue for htmx; without JavaScript, a page holding only that row."""
    # The queue's own read, for the row's waiting time; an order no longer pending keeps its row.
    order = searches.pending_search().filter(pk=order.pk).first() or order
    return render_page(request, "payments/pending_resolve.html", {
        "order": order, "form": form, "review": review, "can_resolve": True,
    }, partial="payments/_pending_row.html", status=status)


def _refund_filters(request) -> dict:
    """The refunds list's search, filters and sort from its URL: the page's and its CSV's."""
    return list_state(request, choices={"source": ("operator", "api"), "acknowledged": ("yes", "no")},
                      texts=("currency",))


@require_GET
@operator_required("payments.view_refund")
def refund_list(request):
    filters = _refund_filters(request)
    context = list_page(request, searches.refunds_search(**filters), filters)
    context["names"] = owner_names(r.created_by for r in context["page_obj"])
    if not wants_partial(request):  # the filter form is not part of a partial
        context["currencies"] = searches.order_currencies()
    return render_page(request, "payments/refund_list.html", context, partial="payments/_refund_results.html")


# --- settlements -------------------------------------------------------------------------


def _settlement_list_response(request, *, form=None, status=200):
    context = list_page(request, selectors.settlement_runs_list(), {})
    unresolved = selectors.settlement_breaks_unresolved()
    context |= {
        "can_import": request.user.has_perm("payments.import_settlement"),
        "upload_form": form or SettlementUploadForm(),
        "unresolved": [(label, unresolved[kind]) for kind, label in SettlementBreakKind.choices],
    }
    return render_page(request, "payments/settlement_list.html", context,
                       partial="payments/_settlement_results.html", status=status)


@require_GET
@operator_required("payments.view_settlementrun")
def settlement_list(request):
    """The imported settlement files, newest first, with their breaks; the upload form for who may import."""
    return _settlement_list_response(request)


@require_POST
@operator_required("payments.import_settlement")
def settlement_upload(request):
    """Import an uploaded settlement file through the command's own service; show its run.

    A refused file comes back on the list with every problem by line number (422), nothing stored.
    A file imported before shows its first run: nothing is stored or posted again.
    """
    form = SettlementUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _settlement_list_response(request, form=form, status=422)
    upload = form.cleaned_data["file"]
    try:
        result = settlement_services.settlement_import(
            content=upload.read(), file_name=upload.name, created_by=request.user.get_username(), actor=request.user,
        )
    except DomainError as error:  # the file refused: its problems, line by line
        for line, message in getattr(error, "errors", [(0, error.detail)])[:20]:
            form.add_error("file", f"Line {line}: {message}" if line else message)
        if len(getattr(error, "errors", ())) > 20:
            form.add_error("file", f"... and {len(error.errors) - 20} more problems.")
        return _settlement_list_response(request, form=form, status=422)
    run = result.run
    if not result.created:
        messages.info(request, f"{upload.name} was imported before, on {run.created_at:%Y-%m-%d %H:%M} UTC: "
                               "nothing was stored or posted again.")
    elif result.break_count:
        messages.warning(request, f"Imported {run.file_name}: {run.lines} lines, {run.matched} matched, "
                                  f"{result.break_count} break(s) to resolve.")
    else:
        messages.success(request, f"Imported {run.file_name}: all {run.lines} lines matched.")
    return redirect("payments:settlement-detail", run_id=run.pk)


@require_GET
@operator_required("payments.view_settlementrun")
def settlement_detail(request, run_id):
    """A settlement run: what the file held and posted, and its breaks grouped by kind."""
    run = get_object_or_404(SettlementRun.objects.select_related("fee_transaction"), pk=run_id)
    return render_page(request, "payments/settlement_detail.html", {
        "run": run, "groups": selectors.settlement_break_groups(run=run),
        "can_resolve": request.user.has_perm("payments.resolve_settlement_break"),
    })


@require_POST
@operator_required("payments.resolve_settlement_break")
def settlement_resolve(request, break_id):
    """Resolve a break with a note in two steps: "review" asks, only "confirm" resolves (and audits).

    htmx swaps the break's row for the question, then for the resolved row; without JavaScript the
    question is a page holding that row, and a resolution returns to the run's page.
    """
    settlement_break = get_object_or_404(SettlementBreak.objects.select_related("run"), pk=break_id)
    form = SettlementResolveForm(request.POST)
    step = request.POST.get("step", "review")
    if not form.is_valid():
        return _break_row_response(request, settlement_break, form=form, status=422)
    if step != "confirm":  # "edit" goes back from the question to the form, with the note typed
        if settlement_break.resolved_at is not None:  # early feedback only: the service asks again
            form.add_error(None, "This break was resolved already.")
            return _break_row_response(request, settlement_break, form=form, status=409)
        return _break_row_response(request, settlement_break, form=form, review=step != "edit")
    try:
        resolved = settlement_services.settlement_break_resolve(
            actor=request.user, break_id=settlement_break.pk, note=form.cleaned_data["note"],
        )
    except DomainError as error:  # resolved by someone else meanwhile
        form.add_error(None, error.detail)
        settlement_break.refresh_from_db()
        return _break_row_response(request, settlement_break, form=form, status=409)
    if wants_partial(request):
        return _break_row_response(request, resolved, form=None)
    messages.success(request, f"Break {resolved.get_kind_display().lower()} "
                              f"{resolved.provider_reference or str(resolved.pk)[:8]} resolved.")
    return redirect("payments:settlement-detail", run_id=resolved.run_id)


def _break_row_response(request, settlement_break, *, form, review=False, status=200):
    """The break's row for htmx; without JavaScript, a page holding only that row."""
    return render_page(request, "payments/settlement_resolve.html", {
        "b": settlement_break, "run": settlement_break.run, "form": form, "review": review, "can_resolve": True,
    }, partial="payments/_settlement_break_row.html", status=status)
