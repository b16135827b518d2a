#!/usr/bin/env python3
"""Replay the December 2026 security audit's reproductions against a running MintGuard.

    make run                                   # in one terminal
    .venv/bin/python scripts/audit_replay.py   # in another

Each check sends what the audit sent and says what came back: every answer must be a 4xx or 429
(or the 200 the fix promises), never a 500, and nothing the fix refuses may be stored. It needs the
demo data (`seed_demo`: the demo API key and logins) and creates one extra API key with
`manage.py create_api_key`, so run it on the machine that serves. It signs provider webhooks with
the DEBUG default secret unless MINTGUARD_PROVIDER_WEBHOOK_SECRET says otherwise.

It runs the login lockout last: afterwards the demo logins and this address stay locked out for
MINTGUARD_LOGIN_COOLOFF seconds (900 by default), or until `manage.py axes_reset`.
Exit status: 0 when every check passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from payments.webhooks import sign  # noqa: E402  (the repository's own signer)

DEMO_KEY = "mg_demo_local_only_key_do_not_use_in_production"
# seed_demo's published demo password, and the settings' DEBUG default webhook secret.
DEMO_PASSWORD = "mintguard-demo"  # noqa: S105  # nosec B105
DEBUG_WEBHOOK_SECRET = "dev-only-webhook-secret-for-debug"  # noqa: S105  # nosec B105


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Site:
    """One browser-like caller: its own cookies, no redirects followed."""

    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies), NoRedirect)

    def request(self, method: str, path: str, *, body: bytes | None = None, headers: dict | None = None):
        # The base URL is checked to be http(s) in main().
        request = urllib.request.Request(self.base + path, data=body, method=method, headers=headers or {})  # noqa: S310
        try:
            with self.opener.open(request, timeout=30) as response:  # noqa: S310  # nosec B310
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def api(self, method: str, path: str, payload=None, *, key: str = DEMO_KEY, headers: dict | None = None):
        body = None if payload is None else (payload if isinstance(payload, bytes) else json.dumps(payload).encode())
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", **(headers or {})}
        status, response_headers, content = self.request(method, path, body=body, headers=headers)
        try:
            parsed = json.loads(content) if content else None
        except ValueError:
            parsed = None
        return status, response_headers, parsed

    def csrf(self) -> str:
        return next((c.value for c in self.cookies if c.name == "csrftoken"), "")

    def login_post(self, path: str, username: str, password: str) -> int:
        self.request("GET", path)
        form = urllib.parse.urlencode({"username": username, "password": password,
                                       "csrfmiddlewaretoken": self.csrf()}).encode()
        status, _, _ = self.request("POST", path, body=form, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Referer": self.base + path})
        return status

    def signed_in(self) -> bool:
        return any(c.name == "sessionid" for c in self.cookies)


class Report:
    def __init__(self):
        self.failures = 0

    def check(self, item: str, what: str, ok: bool, seen) -> None:
        self.failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} [{item}] {what}: {seen}")


def create_narrow_key(scopes: str) -> str:
    """A key without `books`, made the way an operator makes one."""
    output = subprocess.run(
        [sys.executable, "manage.py", "create_api_key", "--name", f"audit-{uuid.uuid4().hex[:8]}", "--scopes", scopes],
        cwd=ROOT, check=True, capture_output=True, text=True,
        env={**os.environ, "DEBUG": os.environ.get("DEBUG", "true")},
    ).stdout
    return output.strip().splitlines()[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    args = parser.parse_args()
    if urllib.parse.urlsplit(args.url).scheme not in ("http", "https"):
        parser.error("--url must be an http:// or https:// URL")
    secret = os.environ.get("MINTGUARD_PROVIDER_WEBHOOK_SECRET", DEBUG_WEBHOOK_SECRET).split(",")[0]
    site, report = Site(args.url), Report()
    run = uuid.uuid4().hex[:8]

    # 2. A client deposit keyed `payment:<its pending payment id>` must not block the provider's PAID.
    _, _, order = site.api("POST", "/api/v1/orders", {"user_id": f"audit-{run}", "amount": 1500, "currency": "USD"})
    _, _, paid = site.api("POST", f"/api/v1/orders/{order['id']}/pay", {"buyer_trust": "trusted"},
                          headers={"Idempotency-Key": f"audit-pay-{run}", "X-Provider-Simulate": "outage"})
    payment_id = paid["payment"]["id"]
    _, _, account = site.api("POST", "/api/v1/accounts", {"owner_name": "audit", "currency": "USD"})
    status, _, _ = site.api("POST", f"/api/v1/accounts/{account['id']}/deposit", {"amount": 100},
                            headers={"Idempotency-Key": f"payment:{payment_id}"})
    report.check("2", "deposit keyed payment:<pending payment id>", status == 201, status)
    body = json.dumps({"event_id": f"evt-{run}", "order_id": order["id"], "outcome": "PAID"}).encode()
    status, _, ack = site.api("POST", "/api/v1/webhooks/provider", body, key="",
                              headers=sign(secret=secret, webhook_id=f"msg-{run}", body=body))
    _, _, after = site.api("GET", f"/api/v1/orders/{order['id']}")
    report.check("2", "then the provider's signed PAID webhook", status == 200 and after["status"] == "PAID",
                 f"{status} {ack}, order {after['status']}")

    # 3. The company's books need the `books` scope.
    narrow = create_narrow_key("accounts,wallets,payments")
    status, _, problem = site.api("GET", "/api/v1/ledger/summary", key=narrow)
    report.check("3", "ledger summary with a key without books", status == 403 and problem["code"] == "scope_denied"
                 and "currencies" not in problem, f"{status} {problem and problem.get('code')}")

    # 4. Unsigned webhook POSTs: refused, throttled per address, never a 500.
    statuses = [site.api("POST", "/api/v1/webhooks/provider", b"x" * 65_000, key="")[0] for _ in range(40)]
    report.check("4", "40 unsigned 64 KiB webhook POSTs", set(statuses) <= {401, 429} and statuses[-1] == 429,
                 f"{statuses.count(401)} x 401, {statuses.count(429)} x 429")

    # 5. Input PostgreSQL refuses, and input that used to raise.
    for path in ("/api/v1/wallets/user%00x/balance", "/api/v1/orders?user_id=a%00b"):
        status = site.api("GET", path)[0]
        report.check("5", f"GET {path}", status == 400, status)
    status, _, problem = site.api("POST", "/api/v1/transfers", b"[" * 1000, headers={"Idempotency-Key": f"deep-{run}"})
    report.check("5", "1,000 nested [", status == 400, f"{status} {problem and problem.get('code')}")

    # 8. An invisible character cannot open a second, identical-looking wallet.
    status, _, problem = site.api("POST", "/api/v1/wallets/topup", {
        "user_id": "user-cai\u200b", "amount": 100, "reference_id": f"zw-{run}"})
    report.check("8", "top-up for 'user-cai' + zero-width space", status == 422, status)
    _, _, wallet_tx = site.api("POST", "/api/v1/wallets/topup", {
        "user_id": f"wallet-{run}", "amount": 100, "reference_id": f"w-{run}"})
    _, _, balance = site.api("GET", f"/api/v1/wallets/wallet-{run}/balance")
    status, _, problem = site.api("POST", f"/api/v1/accounts/{balance['accounts'][0]['id']}/withdraw", {"amount": 50},
                                  headers={"Idempotency-Key": f"wd-{run}"})
    report.check("8", "withdraw from a wallet's account through the account route",
                 status == 409 and problem["code"] == "wallet_account", f"{status} {problem.get('code')}")

    # 9. Another client's transfer is 404.
    _, _, second = site.api("POST", "/api/v1/accounts", {"owner_name": "audit 2", "currency": "USD"})
    _, _, transfer = site.api("POST", "/api/v1/transfers", {
        "source_account_id": account["id"], "destination_account_id": second["id"], "amount": 10},
        headers={"Idempotency-Key": f"tr-{run}"})
    status = site.api("GET", f"/api/v1/transfers/{transfer['id']}", key=narrow)[0]
    report.check("9", "another client's transfer", status == 404, status)

    # Dashboard: 5 (NUL, non-ASCII digits) and 7 (no-store, CSP), signed in as the demo admin.
    admin = Site(args.url)
    admin.login_post("/login/", "admin", DEMO_PASSWORD)
    for path in ("/orders/?q=a%00b", "/wallets/?user_id=a%00b", "/audit/?actor=a%00b", "/ledger/?currency=U%00SD"):
        status = admin.request("GET", path)[0]
        report.check("5", f"dashboard GET {path}", status == 400, status)
    status, headers, _ = admin.request("GET", "/reconciliation/?run=%C2%B2")
    report.check("5", "dashboard GET /reconciliation/?run=²", status == 200, status)
    status, headers, _ = admin.request("GET", "/orders/")
    report.check("7", "dashboard page headers", headers.get("Cache-Control") == "no-store"
                 and "script-src 'self'" in headers.get("Content-Security-Policy", ""),
                 f"{headers.get('Cache-Control')}; CSP {'set' if 'Content-Security-Policy' in headers else 'missing'}")

    # 6. A key made in the Django admin is shown in the body, never in a cookie.
    before = {c.name: c.value for c in admin.cookies}
    admin.request("GET", "/admin/api/apiclient/add/")
    form = urllib.parse.urlencode([("name", f"admin-made-{run}"), ("csrfmiddlewaretoken", admin.csrf()),
                                   *[("scopes", scope) for scope in ("accounts", "wallets", "payments")]]).encode()
    status, headers, page = admin.request("POST", "/admin/api/apiclient/add/", body=form, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Referer": args.url + "/admin/api/apiclient/add/"})
    key = re.search(rb"mg_[A-Za-z0-9_-]{20,}", page)
    cookies = {c.name: c.value for c in admin.cookies}
    leaked = key is not None and any(key.group().decode() in value for value in cookies.values())
    report.check("6", "API key created in the admin", status == 201 and key is not None and not leaked
                 and cookies.get("messages") == before.get("messages"),
                 f"{status}, key in body: {key is not None}, in a cookie: {leaked}")

    # 1. Every login form shares one lockout: six wrong passwords, then the right one.
    for path, user in (("/api-auth/login/", "viewer"), ("/admin/login/", "admin")):
        caller = Site(args.url)
        statuses = [caller.login_post(path, user, "wrong-password") for _ in range(6)]
        final = caller.login_post(path, user, DEMO_PASSWORD)
        report.check("1", f"{path}: 6 wrong passwords, then the right one", final == 429 and not caller.signed_in(),
                     f"{statuses} then {final}, session: {caller.signed_in()}")

    print(f"\n{report.failures} check(s) failed." if report.failures else "\nEvery check passed.")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
