"""Dashboard pages of payments: orders, an order, its refund and void forms, the pending queue, refunds.

Thin function views: parse the request, call a selector or an operator service, render a page or,
for htmx, the fragment it swaps. Refunds, voids and resolutions go through `services.operator_refund`,
`services.operator_void` and `services.operator_resolve_pending`, which run the API's own services
and write the audit entry in the transaction that records the action.
"""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_GET, require_POST

from ledger.currencies import format_amount
from ledger.forms import minor_to_major
from mintguard_site.api.selectors import owner_names
from mintguard_site.dashboard import list_page, list_state, operator_required, render_page, wants_partial
from mintguard_site.errors import DomainError

from . import searches, selectors, services
from .exceptions import OrderNotRefundable, RefundExceedsRemaining
from .forms import RefundForm, ResolvePendingForm, VoidForm
from .models import BuyerTrust, ConfirmationResult, Order, OrderStatus
from .policies import authorization_expires_at


@require_GET
@operator_required("payments.view_order")
def order_list(request):
    filters = list_state(request, choices={"status": OrderStatus.values, "trust": BuyerTrust.values},
                         texts=("currency",))
    context = list_page(request, searches.orders_search(**filters), filters)
    context |= {"statuses": OrderStatus.choices, "trusts": BuyerTrust.choices}
    if not wants_partial(request):
        context["currencies"] = searches.order_currencies()
    return render_page(request, "payments/order_list.html", context, partial="payments/_order_results.html")


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


@require_GET
@operator_required("payments.view_refund")
def refund_list(request):
    filters = list_state(request, choices={"source": ("operator", "api"), "acknowledged": ("yes", "no")},
                         texts=("currency",))
    context = list_page(request, searches.refunds_search(**filters), filters)
    context["names"] = owner_names(r.created_by for r in context["page_obj"])
    if not wants_partial(request):  # the filter form is not part of a partial
        context["currencies"] = searches.order_currencies()
    return render_page(request, "payments/refund_list.html", context, partial="payments/_refund_results.html")
