"""The dashboard shell: login, logout, overview, audit log and API keys. Thin: parse, call, render."""

from django.contrib import messages
from django.contrib.auth import login, logout
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from mintguard_site.api.models import ApiClient
from mintguard_site.api.pagination import decode_cursor, page_of
from mintguard_site.ratelimit import login_rate_limited, login_retry_after

from . import selectors, services
from .charts import volume_chart
from .dashboard import PAGE_SIZE, operator_required, render_page
from .forms import ApiKeyCreateForm, LoginForm
from .models import AuditAction


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request):
    """Sign an operator in; every attempt counts against the login rate limit, before the password."""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        next_url = ""
    if request.method == "GET":
        if request.user.is_authenticated:
            return redirect(next_url or "operators:overview")
        return render(request, "operators/login.html", {"form": LoginForm(request), "next": next_url})

    if login_rate_limited(request, request.POST.get("username", "")):
        retry_after = login_retry_after()
        form = LoginForm(request)
        response = render(request, "operators/login.html", {
            "form": form, "next": next_url,
            "error": f"Too many sign-in attempts. Try again in {retry_after} seconds.",
        }, status=429)
        response["Retry-After"] = str(retry_after)
        return response
    form = LoginForm(request, data=request.POST)
    if not form.is_valid():
        return render(request, "operators/login.html", {"form": form, "next": next_url}, status=200)
    login(request, form.get_user())
    return redirect(next_url or "operators:overview")


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
@operator_required("operators.view_auditentry")
def audit(request):
    filters = {
        "action": request.GET.get("action", "") if request.GET.get("action") in AuditAction.values else "",
        "actor": request.GET.get("actor", "")[:150],
        "q": request.GET.get("q", "")[:64],
    }
    rows = selectors.audit_search(**filters, limit=PAGE_SIZE + 1, after=decode_cursor(request, "audit"))
    entries, next_cursor = page_of(rows, scope="audit", limit=PAGE_SIZE,
                                   position=lambda e: [e.created_at.isoformat(), e.pk])
    return render_page(request, "operators/audit.html", {
        "entries": entries, "next_cursor": next_cursor, "filters": filters,
        "actions": AuditAction.choices, "actors": selectors.audit_actors(),
    }, partial="operators/_audit_results.html")


# --- API keys ------------------------------------------------------------------------------


def _api_keys_page(request, *, form=None, new_key=None, status=200):
    return render_page(request, "operators/api_keys.html", {
        "clients": ApiClient.objects.order_by("-is_active", "name"),
        "form": form or ApiKeyCreateForm(),
        "new_key": new_key,
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
    client, key = services.operator_api_key_create(actor=request.user, name=form.cleaned_data["name"])
    # The key is shown once, in this response, and never stored in clear: no redirect after it.
    return _api_keys_page(request, new_key={"client": client, "key": key}, status=201)


@require_POST
@operator_required("api.change_apiclient")
def api_key_revoke(request, client_id):
    client = get_object_or_404(ApiClient, pk=client_id)
    services.operator_api_key_revoke(actor=request.user, client_id=client.pk)
    messages.success(request, f"Revoked the API key of {client.name}.")
    if request.htmx:
        return _api_keys_page(request)
    return redirect("operators:api-keys")
