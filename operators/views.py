"""The dashboard shell: login, logout, overview, audit log and API keys. Thin: parse, call, render."""

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.db import IntegrityError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from audit.models import AuditAction
from audit.selectors import AUDIT_SORTS, audit_actors, audit_search
from mintguard_site import observability
from mintguard_site.api.models import ApiClient
from mintguard_site.dashboard import list_page, list_state, operator_required, render_page

from . import selectors, services
from .charts import volume_chart
from .forms import ApiKeyCreateForm, LoginForm
from .lockout import seconds_until_unlocked


class LoginView(auth_views.LoginView):
    """Sign an operator in with Django's login view; django-axes refuses a locked-out caller.

    The same view answers /login/ and the browsable API's /api-auth/login/. `next` is followed only
    to this host (Django's check); an operator already signed in goes straight there.
    """

    template_name = "operators/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True
    next_page = "operators:overview"


login_view = LoginView.as_view()


def login_locked_out(request, original_response=None, credentials=None):
    """Answer a locked-out sign-in (any login view: dashboard, admin, browsable API): 429, Retry-After.

    django-axes calls this (AXES_LOCKOUT_CALLABLE) instead of the view's own answer, so no session
    is created; the login page says when to try again.
    """
    retry_after = seconds_until_unlocked(request, credentials)
    observability.record_rate_limited("login")
    response = render(request, "operators/login.html", {
        "form": LoginForm(request),
        "next": "",
        "error": f"Too many failed sign-in attempts. Try again in {retry_after} seconds.",
    }, status=429)
    response["Retry-After"] = str(retry_after)
    return response


@require_POST
def logout_view(request):
    logout(request)
    return redirect("operators:login")


@require_GET
@operator_required("payments.view_order")
def overview(request):
    data = selectors.overview()
    return render_page(request, "operators/overview.html", {
        "overview": data,
        "charts": [volume_chart(volume) for volume in data.volumes],
    })


@require_GET
@operator_required("audit.view_auditentry")
def audit(request):
    filters = list_state(request, choices={"action": AuditAction.values}, texts=("actor",), sorts=AUDIT_SORTS)
    context = list_page(request, audit_search(**filters), filters, sorts=AUDIT_SORTS)
    context |= {"actions": AuditAction.choices, "actors": audit_actors()}
    return render_page(request, "operators/audit.html", context, partial="operators/_audit_results.html")


# --- API keys ------------------------------------------------------------------------------


def _api_keys_page(request, *, form=None, new_key=None, revoke=None, status=200):
    return render_page(request, "operators/api_keys.html", {
        "clients": ApiClient.objects.order_by("-is_active", "name"),
        "form": form or ApiKeyCreateForm(),
        "new_key": new_key,
        "revoke": revoke,  # the client whose revocation awaits confirmation
    }, partial="operators/_api_keys_panel.html", status=status)


@require_GET
@operator_required("api.view_apiclient")
def api_keys(request):
    return _api_keys_page(request)


@require_POST
@operator_required("api.add_apiclient")
def api_key_create(request):
    form = ApiKeyCreateForm(request.POST)
    if not form.is_valid():
        return _api_keys_page(request, form=form, status=422)
    try:
        client, key = services.operator_api_key_create(
            actor=request.user, name=form.cleaned_data["name"], scopes=form.cleaned_data["scopes"],
        )
    except IntegrityError:  # a twin request took the name between the form's check and the insert
        form.add_error("name", form.NAME_TAKEN)
        return _api_keys_page(request, form=form, status=422)
    # The key is shown once, in this response, and never stored in clear: no redirect after it.
    return _api_keys_page(request, new_key={"client": client, "key": key}, status=201)


@require_POST
@operator_required("api.change_apiclient")
def api_key_revoke(request, client_id):
    """Two steps: "review" asks which key stops working; only "confirm" revokes it."""
    client = get_object_or_404(ApiClient, pk=client_id)
    if request.POST.get("step") != "confirm":
        return _api_keys_page(request, revoke=client)
    services.operator_api_key_revoke(actor=request.user, client_id=client.pk)
    messages.success(request, f"Revoked the API key of {client.name}.")
    if request.htmx:
        return _api_keys_page(request)
    return redirect("operators:api-keys")
