"""Dashboard pages of payments: orders, an order, its refund form, the pending queue, refunds.

Thin function views: parse the request, call a selector or an operator service, render a page or,
for htmx, the fragment it swaps. Refunds and resolutions go through `operators.services`, which
call the same payments services as the API and write the audit entry in the same transaction.
"""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from ledger.currencies import format_amount
from mintguard_site.api.pagination import decode_cursor, newest_first, page_of
from mintguard_site.errors import DomainError
from operators import selectors as dashboard
from operators import services as operator_services
from operators.dashboard import PAGE_SIZE, operator_required, render_page, wants_partial
from operators.forms import RefundForm, ResolvePendingForm

from .exceptions import OrderNotFound
from .models import OrderStatus
from .selectors import order_get
from .transitions import REFUNDABLE_STATUSES


def _order(order_id):
    try:
        return order_get(order_id=order_id)
    except OrderNotFound:
        raise Http404("No such order.") from None


@require_GET
@operator_required("payments.view_order")
def order_list(request):
    status = request.GET.get("status", "")
    filters = {"q": request.GET.get("q", "")[:64], "status": status if status in OrderStatus.values else ""}
    rows = dashboard.orders_search(**filters, limit=PAGE_SIZE + 1, after=decode_cursor(request, "orders"))
    orders, next_cursor = page_of(rows, scope="orders", limit=PAGE_SIZE,
                                  position=newest_first)
    return render_page(request, "payments/order_list.html", {
        "orders": orders, "next_cursor": next_cursor, "filters": filters, "statuses": OrderStatus.choices,
    }, partial="payments/_order_results.html")


def _order_context(request, order, *, refund_form=None, confirm=None) -> dict:
    may_refund = request.user.has_perm("operators.refund_order")
    if may_refund and refund_form is None and order.status in REFUNDABLE_STATUSES:
        refund_form = RefundForm.fresh(order=order)
    return {
        "order": order,
        "detail": dashboard.order_detail(order=order),
        # A submitted form stays on screen with its errors even if the order stopped being refundable.
        "can_refund": may_refund and refund_form is not None,
        "refund_form": refund_form,
        "confirm": confirm,
    }


@require_GET
@operator_required("payments.view_order")
def order_detail(request, order_id):
    order = _order(order_id)
    return render_page(request, "payments/order_detail.html", _order_context(request, order))


@require_POST
@operator_required("operators.refund_order")
def order_refund(request, order_id):
    """Two steps: "review" shows what will be refunded; "confirm" refunds it, once per form key.

    htmx swaps the refund panel for the review, and the whole order body after confirming, so the
    new refund and its ledger lines appear without a reload; without JavaScript each step renders
    the full page (and a success redirects to it).
    """
    order = _order(order_id)
    form = RefundForm(request.POST, currency=order.currency)
    step = request.POST.get("step", "review")
    if not form.is_valid():
        return _refund_response(request, order, form=form, status=422, step=step)
    if step == "edit":  # back from the review to the form, with what was typed and the same key
        return _refund_response(request, order, form=form, step=step)
    if step != "confirm":
        # Early feedback only: refund_create checks both again under the order's lock.
        if order.status not in REFUNDABLE_STATUSES:
            form.add_error(None, f"Order is {order.get_status_display().lower()}: nothing to refund.")
            return _refund_response(request, order, form=form, status=409, step=step)
        if form.cleaned_data["amount"] > order.refundable_amount:
            remaining = format_amount(order.refundable_amount, order.currency)
            form.add_error("amount", f"Only {remaining} remains to refund.")
            return _refund_response(request, order, form=form, status=409, step=step)
        confirm = {
            "amount": form.cleaned_data["amount"],
            "remaining_after": order.refundable_amount - form.cleaned_data["amount"],
        }
        return _refund_response(request, order, form=form, confirm=confirm, step=step)
    try:
        result = operator_services.operator_refund(
            actor=request.user, order_id=order.pk, amount=form.cleaned_data["amount"],
            reason=form.cleaned_data["reason"], idempotency_key=form.cleaned_data["idempotency_key"],
        )
    except DomainError as error:  # over-refund, not refundable, key reused: shown next to the form
        form.add_error(None, error.detail)
        return _refund_response(request, _order(order_id), form=form, status=409, step=step)
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


@require_GET
@operator_required("payments.view_order")
def pending_list(request):
    rows = dashboard.pending_queue(limit=PAGE_SIZE + 1, after=decode_cursor(request, "pending"))
    orders, next_cursor = page_of(rows, scope="pending", limit=PAGE_SIZE,
                                  position=lambda o: [o.pending_since.isoformat(), str(o.pk)])
    return render_page(request, "payments/pending_list.html", {
        "orders": orders, "next_cursor": next_cursor,
        "can_resolve": request.user.has_perm("operators.resolve_pending"),
    }, partial="payments/_pending_results.html")


@require_POST
@operator_required("operators.resolve_pending")
def pending_resolve(request, order_id):
    """Mark a pending payment PAID or FAILED with a note, through the webhook's own service."""
    order = _order(order_id)
    form = ResolvePendingForm(request.POST)
    if not form.is_valid():
        if wants_partial(request):
            return render_page(request, "payments/pending_list.html", {
                "order": order, "form": form, "can_resolve": True,
            }, partial="payments/_pending_row.html", status=422)
        messages.error(request, f"Order {str(order.pk)[:8]}: {' '.join(form.errors.get('note', ['Invalid.']))}")
        return redirect("payments:pending")
    try:
        result = operator_services.operator_resolve_pending(
            actor=request.user, order_id=order.pk, outcome=form.cleaned_data["outcome"],
            note=form.cleaned_data["note"],
        )
    except DomainError as error:
        form.add_error(None, error.detail)
        return render_page(request, "payments/pending_list.html", {
            "order": order, "form": form, "can_resolve": True,
        }, partial="payments/_pending_row.html", status=409)
    if wants_partial(request):
        return render_page(request, "payments/pending_list.html", {"resolved": result, "order": result.order},
                           partial="payments/_pending_row.html")
    messages.success(request, f"Order {str(order.pk)[:8]} is now {result.order.get_status_display()}.")
    return redirect("payments:pending")


@require_GET
@operator_required("payments.view_refund")
def refund_list(request):
    source, acknowledged = request.GET.get("source", ""), request.GET.get("acknowledged", "")
    filters = {
        "q": request.GET.get("q", "")[:64],
        "currency": request.GET.get("currency", "")[:12],
        "source": source if source in ("operator", "api") else "",
        "acknowledged": acknowledged if acknowledged in ("yes", "no") else "",
    }
    rows = dashboard.refunds_search(**filters, limit=PAGE_SIZE + 1, after=decode_cursor(request, "refunds"))
    refunds, next_cursor = page_of(rows, scope="refunds", limit=PAGE_SIZE,
                                   position=newest_first)
    return render_page(request, "payments/refund_list.html", {
        "refunds": refunds, "next_cursor": next_cursor, "filters": filters,
        "currencies": dashboard.order_currencies(),
        "names": dashboard.owner_names(r.created_by for r in refunds),
    }, partial="payments/_refund_results.html")
