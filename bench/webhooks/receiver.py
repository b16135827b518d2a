"""A webhook receiver on loopback: verifies every delivery's signature and records its `webhook-id`.

Its `mode` is what it does with a delivery: "ok" answers 200 (the delivery is accepted),
"500" answers 500, "timeout" holds the request past the sender's 10 s timeout, then answers 200 to
nobody (the sender has given up, so that delivery does not count as accepted).
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook, WebhookVerificationError

HANG_SECONDS = 11.5  # past events.destinations.TIMEOUT_SECONDS (10 s)


class Receiver:
    def __init__(self):
        self.lock = threading.Lock()
        self.mode = "ok"
        self.secret: str | None = None
        self.accepted: Counter = Counter()  # webhook-id -> deliveries answered 200 in time
        self.received: Counter = Counter()  # webhook-id -> every request, whatever the answer
        self.answers: Counter = Counter()  # mode -> requests answered so
        self.bad_signatures: list[str] = []
        self.id_mismatches: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="receiver", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/mintguard"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def set_mode(self, mode: str) -> None:
        with self.lock:
            self.mode = mode

    def handle(self, body: bytes, headers: dict[str, str]) -> tuple[int, float]:
        """Verify and record one delivery; return (status to answer, seconds to hang first)."""
        message_id = headers.get("webhook-id", "")
        with self.lock:
            mode, secret = self.mode, self.secret
        try:
            payload = Webhook(secret).verify(body, headers)
        except (WebhookVerificationError, ValueError, TypeError) as exc:
            with self.lock:
                self.bad_signatures.append(f"{message_id}: {exc!r}")
            return 400, 0.0
        with self.lock:
            self.received[message_id] += 1
            self.answers[mode] += 1
            if payload.get("id") != message_id:
                self.id_mismatches.append(f"{message_id} != {payload.get('id')}")
            if mode == "ok":
                self.accepted[message_id] += 1
        if mode == "500":
            return 500, 0.0
        if mode == "timeout":
            return 200, HANG_SECONDS
        return 200, 0.0

    def request_count(self) -> int:
        with self.lock:
            return sum(self.answers.values())

    def snapshot(self) -> dict:
        with self.lock:
            return {"accepted": Counter(self.accepted), "received": Counter(self.received),
                    "answers": dict(self.answers), "bad_signatures": list(self.bad_signatures),
                    "id_mismatches": list(self.id_mismatches)}


def _handler(receiver: Receiver):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {key.lower(): value for key, value in self.headers.items()}
            status, hang = receiver.handle(body, headers)
            if hang:
                time.sleep(hang)
            payload = json.dumps({"status": status}).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the sender gave up (the timeout window)
            self.close_connection = True

        def log_message(self, format, *args):  # noqa: A002 - quiet
            pass

    return Handler
