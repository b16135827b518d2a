"""Helpers the browser tests call on a Playwright page (plain functions, not fixtures)."""

from django.conf import settings


def mark_page(page) -> None:
    """Tag the loaded document; `still_same_page` is then true only if nothing reloaded it."""
    page.evaluate("window.__mintguardMark = 'same-page'")


def still_same_page(page) -> bool:
    return page.evaluate("window.__mintguardMark") == "same-page"


def csrf_token(page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == settings.CSRF_COOKIE_NAME)
