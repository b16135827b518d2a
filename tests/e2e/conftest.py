"""Browser tests: Playwright driving Debian's Chromium against pytest-django's live server.

One browser for all of them (pytest-playwright's fixtures, scoped to this package), a fresh
context per test. `playwright install` cannot download browsers here, so the system Chromium is used
(`apt-get install chromium`; `.ci/run` does it). Without it these tests are skipped, except in CI
(CI=true), where a missing browser must fail the run instead of passing silently.

Screenshots go to var/screenshots/ (git-ignored); MINTGUARD_SCREENSHOT_DIR=docs/screenshots
refreshes the committed set.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from playwright.sync_api import expect, sync_playwright

CHROMIUM = os.environ.get("MINTGUARD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
SCREENSHOTS = Path(os.environ.get("MINTGUARD_SCREENSHOT_DIR") or settings.BASE_DIR / "var" / "screenshots")
E2E_DIR = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)
            if not Path(CHROMIUM).exists() and os.environ.get("CI") != "true":
                item.add_marker(pytest.mark.skip(reason=f"no Chromium at {CHROMIUM}: apt-get install chromium"))


# --- Playwright, for this package only ------------------------------------------------------
# Playwright's sync API keeps an event loop marked running in this thread while it is started, and
# Django then refuses ORM calls here unless DJANGO_ALLOW_ASYNC_UNSAFE is set. The tests' ORM calls
# are plain synchronous ones, so it is set, but only while these tests run: Playwright starts and
# stops with this package (pytest-playwright's session-scoped fixtures, overridden), and the
# variable goes with it, so neither leaks into the rest of the suite or its subprocesses.


@pytest.fixture(scope="package")
def _async_unsafe_while_playwright_runs():
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="package")
def playwright(_async_unsafe_while_playwright_runs, _pw_api_request_contexts):
    pw = sync_playwright().start()
    if _pw_api_request_contexts:
        _pw_api_request_contexts.instrument(pw)
    yield pw
    pw.stop()


@pytest.fixture(scope="package")
def browser_type(playwright, browser_name):
    return getattr(playwright, browser_name)


@pytest.fixture(scope="package")
def launch_browser(browser_type_launch_args, browser_type):
    return lambda **kwargs: browser_type.launch(**{**browser_type_launch_args, **kwargs})


@pytest.fixture(scope="package")
def browser(launch_browser):
    browser = launch_browser()
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def base_url():
    """No base URL: tests build absolute URLs from the live server (replaces pytest-playwright's
    fallback fixture, which pytest 9 warns about)."""
    return None


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS, "headless": True}


@pytest.fixture(scope="session")
def browser_context_args():
    # Replaces pytest-playwright's, which needs the (here package-scoped) playwright for devices.
    return {"viewport": {"width": 1366, "height": 900}, "locale": "en-US", "timezone_id": "UTC"}


@pytest.fixture
def page(page):
    # ms, for actions and for expect(); a page on a loaded 2-core machine may take several seconds
    page.set_default_timeout(30_000)
    expect.set_options(timeout=30_000)
    return page


@pytest.fixture
def site(live_server, page):
    """The live server's URL helper, and a sign-in that skips the form (the login test uses it)."""

    class Site:
        url = live_server.url

        def __call__(self, path: str) -> str:
            return f"{live_server.url}{path}"

        def sign_in(self, user) -> None:
            session = SessionStore()
            session[SESSION_KEY] = str(user.pk)
            session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
            session[HASH_SESSION_KEY] = user.get_session_auth_hash()
            session.save()
            page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session.session_key,
                                       "url": live_server.url}])

    return Site()


@pytest.fixture
def shot(page):
    """Save a full-page screenshot under SCREENSHOTS/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save


@pytest.fixture(scope="session")
def axe_script() -> Path:
    """axe-core's script, installed from npm into var/node on first use (not vendored)."""
    script = Path(settings.BASE_DIR) / "var" / "node" / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        if shutil.which("npm") is None and os.environ.get("CI") != "true":
            pytest.skip("no npm to install axe-core: apt-get install npm")
        subprocess.run(["npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix", str(script.parents[2]),
                        "axe-core@4.14"], check=True, capture_output=True)
    return script
