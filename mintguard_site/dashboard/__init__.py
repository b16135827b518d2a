"""The operators' dashboard frame that every app's pages share: role checks, htmx partials, paging.

Each app's dashboard `views.py` uses these, as each app registers its pages in the Django admin
with a frame that knows no app: this package imports no app of ours. Pages are cursor-paged with
the API's signed cursors (`mintguard_site.api.pagination`), `PAGE_SIZE` rows at a time.

This package is also an installed app, for its template tags (`{% load dashboard %}`), so it is
imported while Django loads the apps: it must not import models at module level.
"""

from collections.abc import Callable
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.shortcuts import render
from django_htmx.http import HttpResponseClientRedirect

from mintguard_site.api.pagination import decode_cursor, newest_first, page_of

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
                # Imported here: auth's views import the User model, not loadable with the apps.
                from django.contrib.auth.views import redirect_to_login

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


def page_rows(
    request, scope: str, fetch: Callable[..., list], *, position: Callable[[object], list] = newest_first
) -> tuple[list, str | None]:
    """Return one page of a list and the cursor of the next (None: last page).

    `fetch(limit=, after=)` is the app's selector; it gets one row more than a page, to tell
    whether another page follows, and the position decoded from `?cursor=` (signed for `scope`).
    """
    rows = fetch(limit=PAGE_SIZE + 1, after=decode_cursor(request, scope))
    return page_of(rows, scope=scope, limit=PAGE_SIZE, position=position)
