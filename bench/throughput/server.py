"""The system under test: gunicorn (sync workers, gunicorn.conf.py) on loopback, production settings."""

import contextlib
import http.client
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..system import REPO, production_env
from ..system import manage as run_manage


def default_workers() -> int:
    """What gunicorn.conf.py picks without WEB_CONCURRENCY: 2 x cores + 1, at most 12."""
    return min(2 * multiprocessing.cpu_count() + 1, 12)


def django_env(*, database_url: str, workdir: Path, workers: int, port: int) -> dict[str, str]:
    """Production settings on loopback with a rate limit no run can reach (events on, loopback webhooks allowed)."""
    return production_env(database_url=database_url, workdir=workdir, workers=workers, api_rate="100000000/min",
                          GUNICORN_BIND=f"127.0.0.1:{port}", PYTHONPATH=str(REPO),
                          # The bench client's webhook endpoint is a loopback http:// URL (never called).
                          MINTGUARD_WEBHOOK_ALLOW_INSECURE="true")


def manage(env: dict, *args: str, timeout: float = 600) -> None:
    result = run_manage(env, *args, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


class Server:
    """gunicorn in its own process group, so stopping it stops every worker."""

    def __init__(self, *, env: dict, port: int, log_path: Path):
        self.env, self.port, self.log_path = env, port, log_path
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> None:
        (Path(self.env["PROMETHEUS_MULTIPROC_DIR"])).mkdir(exist_ok=True)
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", str(REPO / "gunicorn.conf.py")], cwd=REPO, env=self.env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.process.returncode}):\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                if self.request("GET", "/readyz")[0] == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not become ready in {timeout} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text()[-chars:] if self.log_path.exists() else ""

    def request(self, method: str, path: str, body=None, headers: dict | None = None, timeout: float = 120):
        """Send one request; return (status, headers, parsed JSON body or raw text)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            payload = None if body is None else (body if isinstance(body, str) else json.dumps(body))
            all_headers = dict(headers or {})
            if payload is not None:
                all_headers["Content-Type"] = "application/json"
            connection.request(method, path, body=payload, headers=all_headers)
            response = connection.getresponse()
            raw = response.read().decode()
        finally:
            connection.close()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw
        return response.status, dict(response.getheaders()), parsed

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
