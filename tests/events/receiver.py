"""A real webhook receiver on loopback: an http.server in a thread that records what it was sent."""

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Answers each POST with the next queued (status, body, extra headers), then with `default_status`."""

    def __init__(self, default_status: int = 204):
        self.received: list[Received] = []
        self.answers: list[tuple[int, bytes, dict]] = []
        self.default_status = default_status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                receiver.received.append(Received(self.path, dict(self.headers.items()), self.rfile.read(length)))
                status, body, extra = receiver.answers.pop(0) if receiver.answers else (receiver.default_status, b"",
                                                                                        {})
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/mintguard?source=test"

    def answer(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.answers.append((status, body, headers or {}))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
