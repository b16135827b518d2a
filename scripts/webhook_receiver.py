#!/usr/bin/env python3
"""A tiny webhook receiver for development: verifies MintGuard's deliveries and prints one line each.

    python scripts/webhook_receiver.py [--port 8099] [--secret whsec_...]

It listens on 127.0.0.1:PORT (loopback only; register `http://127.0.0.1:PORT/...` as an endpoint,
which needs MINTGUARD_WEBHOOK_ALLOW_INSECURE=true on the server) and checks each POST's Standard
Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`) with the `standardwebhooks`
package and the endpoint's secret: `--secret`, else the WEBHOOK_SECRET environment variable (several,
comma-separated, during a rotation: any one that verifies will do). Per delivery it prints

    <event id> <type> <short data summary> signature ok

and answers 200; a delivery whose signature does not verify is printed with `signature BAD` and
answered 400, so MintGuard records the failure and retries it. A webhook-id seen before is printed
with `(repeat)` (delivery is at least once: a real receiver dedupes on it) and answered 200.
Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

HOST = "127.0.0.1"
MAX_BODY = 1024 * 1024
# The fields worth a glance, in this order, when an event's data has them.
SUMMARY_FIELDS = ("status", "type", "amount", "captured_amount", "refunded_amount", "paid_amount", "currency",
                  "user_id", "reference_id")


def summary(data) -> str:
    """A short `key=value` line about an event's data: the resource's id, then what changed."""
    if not isinstance(data, dict):
        return str(data)[:60]
    # order.* carry the order, refund.succeeded the refund, account.* the deposit or withdrawal, ...
    resource = data
    for key in ("order", "hold", "refund", "transfer", "transaction"):
        if isinstance(data.get(key), dict) and "id" not in data:
            resource = data[key]
            break
    parts = []
    for key in ("id", "transaction_id", "order_id"):
        if key in resource:
            parts.append(f"{key}={resource[key]}")
            break
    # Zero refunded/paid/captured amounts say nothing: only the amount itself is shown when 0.
    parts += [f"{key}={resource[key]}" for key in SUMMARY_FIELDS
              if resource.get(key) not in (None, "") and (key == "amount" or resource[key] != 0)]
    return " ".join(parts) or "-"


class Receiver(BaseHTTPRequestHandler):
    server_version = "webhook-receiver"
    verifiers: list[Webhook] = []
    seen: set[str] = set()
    lock = threading.Lock()

    def do_POST(self):  # noqa: N802 (http.server's name)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.answer(413, {"error": "too large"})
            return
        body = self.rfile.read(length)
        headers = {key.lower(): value for key, value in self.headers.items()}
        event, error = None, None
        for verifier in self.verifiers:
            try:
                event = verifier.verify(body, headers)
                break
            except WebhookVerificationError as failure:
                error = str(failure)
        webhook_id = headers.get("webhook-id", "-")
        if event is None:
            print(f"{webhook_id} ? - signature BAD ({error})", flush=True)
            self.answer(400, {"error": "signature"})
            return
        with self.lock:
            repeat = webhook_id in self.seen
            self.seen.add(webhook_id)
        line = f"{event.get('id', webhook_id)} {event.get('type', '?')} {summary(event.get('data'))} signature ok"
        print(line + (" (repeat)" if repeat else ""), flush=True)
        self.answer(200, {"ok": True})

    def answer(self, status: int, payload: dict) -> None:
        raw = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format, *args):  # noqa: A002 (http.server's signature)
        pass  # one line per event, printed above, is the whole output


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=int(os.environ.get("WEBHOOK_RECEIVER_PORT", "8099")),
                        help="port on 127.0.0.1 (default WEBHOOK_RECEIVER_PORT or 8099)")
    parser.add_argument("--secret", default=os.environ.get("WEBHOOK_SECRET", ""),
                        help="the endpoint's secret whsec_... (default WEBHOOK_SECRET); comma-separated for several")
    args = parser.parse_args(argv)
    secrets = [secret.strip() for secret in args.secret.split(",") if secret.strip()]
    if not secrets:
        parser.error("give the endpoint's secret: --secret whsec_... or WEBHOOK_SECRET")
    try:
        Receiver.verifiers = [Webhook(secret) for secret in secrets]
    except Exception as error:  # noqa: BLE001 (the package raises several kinds on a malformed secret)
        parser.error(f"not a Standard Webhooks secret: {error}")
    server = ThreadingHTTPServer((HOST, args.port), Receiver)
    print(f"listening on http://{HOST}:{args.port}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
