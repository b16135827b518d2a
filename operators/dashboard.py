"""What every dashboard view shares: the permission check and htmx partials.

Pages are cursor-paged with the API's signed cursors (`mintguard_site.api.pagination`).

The apps' dashboard views (`ledger/views.py`, `payments/views.py`, ...) use these; the apps' cores
(models, services, selectors) never import the dashboard.
"""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django_htmx.http import HttpResponseClientRedirect

PAGE_SIZE = 50


def operator_required(permission: str):
    """Let a view run only for a signed-in user holding `permission` (a superuser holds all).

    Anonymous users are sent to the login page (htmx requests too, with a client-side redirect so
    the login form does not land inside a fragment); signed-in users without it get 403.
    """

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def checked(request, *args, **kwargs):
            if not request.user.is_authenticated:
                if request.htmx:
                    login = redirect_to_login(request.htmx.current_url_abs_path or request.get_full_path())
                    return HttpResponseClientRedirect(login.url)
                return redirect_to_login(request.get_full_path())
            if not request.user.has_perm(permission):
                raise PermissionDenied(f"You need the permission {permission!r}.")
            return view(request, *args, **kwargs)

        checked.permission = permission
        return checked

    return decorator


def wants_partial(request) -> bool:
    """True when htmx asks for a fragment; a history restore or a boosted link wants the page."""
    return bool(request.htmx) and not request.htmx.boosted and not request.htmx.history_restore_request


def render_page(request, template: str, context: dict, *, partial: str | None = None, status: int = 200):
    """Render the full page, or only `partial` when htmx asks for a fragment."""
    name = partial if partial and wants_partial(request) else template
    return render(request, name, context, status=status)
