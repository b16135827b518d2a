"""Dashboard pages of payments: orders, an order, its refund form, the pending queue, refunds.

Thin function views: parse the request, call a selector or an operator service, render a page or,
for htmx, the fragment it swaps. Refunds and resolutions go through `services.operator_refund` and
`services.operator_resolve_pending`, which run the API's own services and write the audit entry
in the same transaction.
"""

from functools import partial

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_GET, require_POST

from ledger.currencies import format_amount
from mintguard_site.api.selectors import owner_names
from mintguard_site.dashboard import operator_required, page_rows, render_page, wants_partial
from mintguard_site.errors import DomainError

from . import selectors, services
from .exceptions import OrderNotRefundable, RefundExceedsRemaining
from .forms import RefundForm, ResolvePendingForm
from .models import Order, OrderStatus


@require_GET
@operator_required("payments.view_order")
def order_list(request):
    status = request.GET.get("status", "")
    filters = {"q": request.GET.get("q", "")[:64], "status": status if status in OrderStatus.values else ""}
    orders, next_cursor = page_rows(request, "orders", partial(selectors.orders_page, owner=None, **filters))
    return render_page(request, "payments/order_list.html", {
        "orders": orders, "next_cursor": next_cursor, "filters": filters, "statuses": OrderStatus.choices,
    }, partial="payments/_order_results.html")


def _refundable(order: Order) -> bool:
    try:
        services.refund_eligibility(order=order)
    except OrderNotRefundable:
        return False
    return True


def _order_context(request, order, *, refund_form=None, confirm=None) -> dict:
    may_refund = request.user.has_perm("payments.refund_order")
    if may_refund and refund_form is None and _refundable(order):
        refund_form = RefundForm.fresh(order=order)
    return {
        "order": order,
        "detail": selectors.order_detail(order=order),
        # A submitted form stays on screen with its errors even if the order stopped being refundable.
        "can_refund": may_refund and refund_form is not None,
        "refund_form": refund_form,
        "confirm": confirm,
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


@require_GET
@operator_required("payments.view_order")
def pending_list(request):
    orders, next_cursor = page_rows(request, "pending", selectors.pending_queue, position=selectors.pending_position)
    return render_page(request, "payments/pending_list.html", {
        "orders": orders, "next_cursor": next_cursor,
        "can_resolve": request.user.has_perm("payments.resolve_pending"),
    }, partial="payments/_pending_results.html")


@require_POST
@operator_required("payments.resolve_pending")
def pending_resolve(request, order_id):
    """Mark a pending payment PAID or FAILED with a note, through the webhook's own service."""
    order = get_object_or_404(Order, pk=order_id)
    form = ResolvePendingForm(request.POST)
    if not form.is_valid():
        if wants_partial(request):
            return render_page(request, "payments/pending_list.html", {
                "order": order, "form": form, "can_resolve": True,
            }, partial="payments/_pending_row.html", status=422)
        messages.error(request, f"Order {str(order.pk)[:8]}: {' '.join(form.errors.get('note', ['Invalid.']))}")
        return redirect("payments:pending")
    try:
        result = services.operator_resolve_pending(
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
    refunds, next_cursor = page_rows(request, "refunds", partial(selectors.refunds_search, **filters))
    return render_page(request, "payments/refund_list.html", {
        "refunds": refunds, "next_cursor": next_cursor, "filters": filters,
        "currencies": selectors.order_currencies(),
        "names": owner_names(r.created_by for r in refunds),
    }, partial="payments/_refund_results.html")
