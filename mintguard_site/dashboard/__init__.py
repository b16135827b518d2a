"""The operators' dashboard frame that every app's pages share: role checks, htmx partials, paging.

Each app's dashboard `views.py` uses these, as each app registers its pages in the Django admin
with a frame that knows no app: this package imports no app of ours. Lists are paged by number
with Django's Paginator, `PAGE_SIZE` rows at a time and a count ("1-50 of 326"), and carry their
whole state (search, filters, sort, page) in the URL, so a view can be bookmarked. An account's
statement keeps the API's signed cursors: its entries are numbered per bucket, not countable cheaply.

This package is also an installed app, for its template tags (`{% load dashboard %}`), so it is
imported while Django loads the apps: it must not import models at module level.
"""

from collections.abc import Callable, Collection
from datetime import date
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import render
from django_htmx.http import HttpResponseClientRedirect

from mintguard_site.search import SORTS

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


def list_state(
    request, *, choices: dict[str, Collection[str]] | None = None, texts: Collection[str] = (),
    sorts: Collection[str] = tuple(SORTS), default_sort: str = "-created",
) -> dict:
    """Return a list's state as its URL gives it, what its selector and its template take.

    `q` (the search box), `created_from` and `created_to` (`?from=` and `?to=`, UTC days), `sort`
    (one of `sorts`), each filter of `choices` when its value is one of them, and each of `texts`
    as typed. Anything else is ignored rather than refused: a stale bookmark still shows a list.
    """
    state = {"q": request.GET.get("q", "").strip()[:64]}
    for name, values in (choices or {}).items():
        value = request.GET.get(name, "")
        state[name] = value if value in values else ""
    for name in texts:
        state[name] = request.GET.get(name, "").strip()[:150]
    state["created_from"] = _day(request.GET.get("from", ""))
    state["created_to"] = _day(request.GET.get("to", ""))
    sort = request.GET.get("sort", "")
    state["sort"] = sort if sort in sorts else default_sort
    return state


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def list_page(request, rows, filters: dict, *, sorts: dict = SORTS) -> dict:
    """Return the template context of one page of a list: `page_obj`, `filters`, `filtered`, `sorts`.

    `rows` is the list's ordered queryset: the page `?page=` asks for costs one COUNT and one query
    for its rows. A number past the end gives the last page, and anything not a page number the
    first, so an old link never fails; with no row at all it is an empty first page. `filtered`
    tells whether a search or a filter narrowed the list (sorting does not), so an empty state can
    offer to clear them.
    """
    return {
        "page_obj": Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page")),
        "filters": filters,
        "filtered": any(value for name, value in filters.items() if name != "sort"),
        "sorts": sorts,
    }
