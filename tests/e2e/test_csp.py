"""Issue 14 item 7: the Content-Security-Policy holds in a real browser.

The dashboard, the Django admin and the API docs (Swagger UI, Redoc) render and log no CSP
violation: no page needs an inline script or anything from another origin.
"""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from playwright.sync_api import expect

pytestmark = pytest.mark.django_db(transaction=True)

# Recorded before any page script runs (an init script is not subject to the page's CSP).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation',
    (e) => window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
"""

# Redoc's sidebar footer always asks for its maker's logo from a CDN (and hides it when refused).
# MintGuard loads nothing from outside, so the policy refusing it is the one expected entry.
EXPECTED = {"/api/redoc/": ["img-src https://cdn.redoc.ly/redoc/logo-mini.svg"]}

PAGES = [
    ("/", "[data-testid=books-balanced]"),
    ("/orders/", "[data-testid=orders-table]"),
    ("/pending/", "[data-testid=pending-row]"),
    ("/refunds/", "[data-testid=refund-list]"),
    ("/ledger/", "[data-testid=customer-accounts]"),
    ("/holds/", "[data-testid=hold-list]"),
    ("/wallets/", "[data-testid=recent-wallets]"),
    ("/events/", "[data-testid=event-list]"),
    ("/events/endpoints/", "[data-testid=endpoint-list]"),
    ("/reconciliation/", "[data-testid=reconciliation-runs]"),
    ("/audit/", "[data-testid=audit-table]"),
    ("/api-keys/", "[data-testid=api-clients]"),
    ("/admin/", "#content"),
    ("/admin/api/apiclient/add/", "#apiclient_form"),
    ("/admin/ledger/account/", "#changelist"),
    ("/api/docs/", ".swagger-ui .info"),
    ("/api/v1/accounts", ".response-info"),
    ("/api/redoc/", "[role=search], .api-info"),
]


@pytest.fixture
def demo():
    call_command("seed_demo", stdout=open("/dev/null", "w"))
    return get_user_model().objects.get(username="admin")


def test_the_login_page_runs_under_the_policy_with_no_violation(page, site):
    errors = []
    page.add_init_script(RECORD_VIOLATIONS)
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)

    response = page.goto(site("/login/"))

    assert "default-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator("input[name=username]")).to_be_visible()
    assert page.evaluate("window.__cspViolations") == [] and errors == []


def test_dashboard_admin_and_api_docs_log_no_csp_violation(page, site, demo):
    site.sign_in(demo)
    page.add_init_script(RECORD_VIOLATIONS)
    errors = []
    page.on("console", lambda message: errors.append(f"{page.url}: {message.text}")
            if message.type == "error" else None)

    for path, ready in PAGES:
        response = page.goto(site(path))
        assert response.status == 200, path
        policy = response.headers["content-security-policy"]
        assert "script-src 'self';" in policy + ";", path  # no inline or eval exception for scripts
        expect(page.locator(ready).first).to_be_visible()
        page.wait_for_load_state("networkidle")
        violations = [" ".join(v.split(" ")[:2]) for v in page.evaluate("window.__cspViolations")]
        assert violations == EXPECTED.get(path, []), path
    refused = [error for error in errors if "Content Security Policy" in error and "cdn.redoc.ly" not in error]
    assert refused == []


def test_the_browsable_apis_log_out_link_works_under_the_policy(page, site, demo):
    site.sign_in(demo)
    page.add_init_script(RECORD_VIOLATIONS)
    page.goto(site("/api/v1/accounts"))

    page.locator(".navbar .dropdown-toggle").last.click()
    page.get_by_role("link", name="Log out").click()
    page.wait_for_load_state("networkidle")

    assert page.evaluate("window.__cspViolations") == []
    assert page.goto(site("/api/v1/accounts")).status in (401, 403)
    assert page.goto(site("/")).url.startswith(site("/login/"))
