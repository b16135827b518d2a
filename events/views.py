"""Dashboard pages of the events app: events and their deliveries, webhook endpoints, resending a
delivery and enabling or disabling an endpoint (both audited). Thin: parse, call a selector or
service, render.

A page never holds an endpoint's secret: every endpoint is read through `selectors.endpoints_shown`.
"""

import json

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_GET, require_POST

from mintguard_site.api.selectors import owner_names
from mintguard_site.dashboard import list_page, list_state, operator_required, render_page, wants_partial

from . import selectors, services
from .exceptions import WebhookEndpointDisabled, WebhookEndpointNotFound
from .forms import DeliveryResendForm, EndpointStateForm
from .models import DeliveryStatus, Event, WebhookEndpoint
from .searches import ENDPOINT_STATES, LIST_SORTS, endpoint_deliveries_search, endpoints_search, events_search
from .types import EVENT_TYPES

# A delivery retried for days has a few dozen attempts; its pages show the latest this many.
ATTEMPTS_SHOWN = 50


def _client_list(request, rows, filters: dict) -> dict:
    """The context of a list whose rows belong to clients: the page, the clients' names, the client filter."""
    context = list_page(request, rows, filters, sorts=LIST_SORTS)
    context["names"] = owner_names(row.owner for row in context["page_obj"])
    if not wants_partial(request):
        context["owners"] = selectors.owner_choices(filters["owner"])
    return context


def _refused(form, refusal: str, respond):
    """Answer a confirm that found the object changed since its review: 409, with why."""
    form.add_error(None, refusal or "This changed since the review: look again before confirming.")
    return respond(form=form, step="confirm", status=409)


def _two_step(request, form, *, refusal: str, respond, act):
    """An operator's action in two steps, as for a hold's void: "review" asks the question, only "confirm" acts.

    `refusal` (why the action cannot be taken now) answers 409, an invalid form 422; "edit" goes
    back from the review to the form, with the note typed. `respond(form=, step=, review=, status=)`
    renders an answer, `act(cleaned_data)` takes the action and answers.
    """
    step = request.POST.get("step", "review")
    if refusal:
        form.add_error(None, refusal)
        return respond(form=form, step=step, status=409)
    if not form.is_valid():
        return respond(form=form, step=step, status=422)
    if step != "confirm":
        return respond(form=form, step=step, review=step != "edit")
    return act(form.cleaned_data)


# --- events --------------------------------------------------------------------------------


@require_GET
@operator_required("events.view_event")
def event_list(request):
    filters = list_state(request, choices={"type": EVENT_TYPES}, texts=("owner",), sorts=LIST_SORTS)
    context = _client_list(request, events_search(**filters), filters)
    context["deliveries"] = selectors.delivery_counts(event.pk for event in context["page_obj"])
    context["types"] = sorted(EVENT_TYPES)
    return render_page(request, "events/event_list.html", context, partial="events/_event_results.html")


@require_GET
@operator_required("events.view_event")
def event_detail(request, event_id):
    event = get_object_or_404(Event, pk=event_id)
    deliveries = selectors.deliveries_with_attempts(attempts_shown=ATTEMPTS_SHOWN).filter(event=event)
    return render_page(request, "events/event_detail.html", {
        "event": event, "names": owner_names([event.owner]), "attempts_shown": ATTEMPTS_SHOWN,
        # Escaped by the template like any text: the data is what a client's request put there.
        "data": json.dumps(event.data, indent=2, sort_keys=True, ensure_ascii=False),
        "deliveries": list(deliveries.order_by("created_at", "id")),
        "unsent": selectors.endpoints_without_delivery(event=event),
    })


# --- one event's delivery to one endpoint, and resending it --------------------------------


def _event_and_endpoint(event_id, endpoint_id) -> tuple[Event, WebhookEndpoint]:
    """The event, and an endpoint of its owner (another client's is not found)."""
    event = get_object_or_404(Event, pk=event_id)
    return event, get_object_or_404(selectors.endpoints_shown(), pk=endpoint_id, owner=event.owner)


def _delivery_context(request, event: Event, endpoint: WebhookEndpoint, *, form=None, review=False) -> dict:
    deliveries = selectors.deliveries_with_attempts(attempts_shown=ATTEMPTS_SHOWN)
    return {
        "event": event, "endpoint": endpoint, "names": owner_names([event.owner]), "attempts_shown": ATTEMPTS_SHOWN,
        # None until a resend creates it: the endpoint was registered after the event, or not subscribed.
        "delivery": deliveries.filter(event=event, endpoint=endpoint).first(),
        # A submitted form stays on screen with its message even once the endpoint is deleted.
        "can_resend": request.user.has_perm("events.resend_delivery")
        and (endpoint.deleted_at is None or form is not None),
        "resend_form": form or DeliveryResendForm(), "review": review,
    }


@require_GET
@operator_required("events.view_delivery")
def delivery_detail(request, event_id, endpoint_id):
    event, endpoint = _event_and_endpoint(event_id, endpoint_id)
    return render_page(request, "events/delivery_detail.html", _delivery_context(request, event, endpoint))


def _resend_refusal(endpoint: WebhookEndpoint) -> str:
    if endpoint.deleted_at is not None:
        return "This endpoint was deleted: nothing can be sent to it any more."
    if not endpoint.enabled:
        return "This endpoint is disabled: enable it first, then resend."
    return ""


@require_POST
@operator_required("events.resend_delivery")
def delivery_resend(request, event_id, endpoint_id):
    """Two steps: "review" names the event, the endpoint and its client; only "confirm" resends (audited).

    htmx swaps the resend panel for the review, and the whole delivery after confirming; without
    JavaScript each step renders the full page (and a success redirects to it).
    """
    event, endpoint = _event_and_endpoint(event_id, endpoint_id)
    form = DeliveryResendForm(request.POST)

    def respond(*, form, step, review=False, status=200):
        context = _delivery_context(request, *_event_and_endpoint(event_id, endpoint_id), form=form, review=review)
        # Review answers replace the resend panel; confirm answers replace the whole delivery.
        partial = "events/_delivery_body.html" if step == "confirm" else "events/_resend_panel.html"
        return render_page(request, "events/delivery_detail.html", context, partial=partial, status=status)

    def act(data):
        try:
            services.operator_delivery_resend(endpoint_id=endpoint.pk, event_id=event.pk, user=request.user,
                                              note=data["note"])
        except (WebhookEndpointDisabled, WebhookEndpointNotFound):  # disabled or deleted since the review
            fresh = get_object_or_404(selectors.endpoints_shown(), pk=endpoint.pk)
            return _refused(form, _resend_refusal(fresh), respond)
        messages.success(request, f"Event {event.type} {str(event.pk)[:8]} is sent to {endpoint.url} again now.")
        if wants_partial(request):
            return respond(form=None, step="confirm")
        return redirect("events:delivery-detail", event_id=event.pk, endpoint_id=endpoint.pk)

    return _two_step(request, form, refusal=_resend_refusal(endpoint), respond=respond, act=act)


# --- webhook endpoints ---------------------------------------------------------------------


@require_GET
@operator_required("events.view_webhookendpoint")
def endpoint_list(request):
    filters = list_state(request, choices={"state": ENDPOINT_STATES}, texts=("owner",), sorts=LIST_SORTS)
    context = _client_list(request, endpoints_search(**filters), filters)
    context["states"] = ENDPOINT_STATES
    return render_page(request, "events/endpoint_list.html", context, partial="events/_endpoint_results.html")


def _endpoint(endpoint_id) -> WebhookEndpoint:
    return get_object_or_404(selectors.endpoints_shown(), pk=endpoint_id)


def _endpoint_context(request, endpoint: WebhookEndpoint, *, form=None, review=False) -> dict:
    return {
        "endpoint": endpoint, "names": owner_names([endpoint.owner]),
        "can_switch": request.user.has_perm("events.change_endpoint_state")
        and (endpoint.deleted_at is None or form is not None),
        "state_form": form or EndpointStateForm(), "review": review,
        "pending": selectors.pending_delivery_count(endpoint=endpoint),
    }


@require_GET
@operator_required("events.view_webhookendpoint")
def endpoint_detail(request, endpoint_id):
    endpoint = _endpoint(endpoint_id)
    filters = list_state(request, choices={"status": DeliveryStatus.values}, sorts=LIST_SORTS)
    context = list_page(request, endpoint_deliveries_search(endpoint=endpoint, **filters), filters, sorts=LIST_SORTS)
    context["statuses"] = DeliveryStatus.choices
    if not wants_partial(request):  # the deliveries' pager and filters swap only the deliveries
        context |= _endpoint_context(request, endpoint)
    return render_page(request, "events/endpoint_detail.html", context, partial="events/_endpoint_deliveries.html")


def _state_refusal(endpoint: WebhookEndpoint, enabled: bool | None) -> str:
    if endpoint.deleted_at is not None:
        return "This endpoint was deleted: it stays disabled."
    if enabled is not None and endpoint.enabled == enabled:
        return f"This endpoint is already {'enabled' if enabled else 'disabled'}."
    return ""


@require_POST
@operator_required("events.change_endpoint_state")
def endpoint_set_enabled(request, endpoint_id):
    """Two steps, as for a resend: "review" names the endpoint, its client and what changes; "confirm" acts."""
    endpoint = _endpoint(endpoint_id)
    form = EndpointStateForm(request.POST)
    form.is_valid()  # whether the state asked for is the endpoint's already is a refusal, checked first
    enabled = form.cleaned_data.get("enabled")

    def respond(*, form, step, review=False, status=200):
        context = _endpoint_context(request, _endpoint(endpoint_id), form=form, review=review)
        partial = "events/_endpoint_body.html" if step == "confirm" else "events/_endpoint_state_panel.html"
        return render_page(request, "events/endpoint_detail.html", context, partial=partial, status=status)

    def act(data):
        try:
            switched, changed = services.operator_endpoint_set_enabled(
                endpoint_id=endpoint.pk, enabled=data["enabled"], user=request.user, note=data["note"])
        except WebhookEndpointNotFound:  # deleted since the review
            changed = False
        if not changed:  # switched, or deleted, by someone else since the review
            return _refused(form, _state_refusal(_endpoint(endpoint_id), enabled), respond)
        messages.success(request, f"{'Enabled' if switched.enabled else 'Disabled'} the endpoint {switched.url}.")
        if wants_partial(request):
            return respond(form=None, step="confirm")
        return redirect("events:endpoint-detail", endpoint_id=endpoint.pk)

    return _two_step(request, form, refusal=_state_refusal(endpoint, enabled), respond=respond, act=act)
