#!/usr/bin/env python3
"""Run a command (the development server) with a task worker beside it; stop the worker when it ends.

    python scripts/with_worker.py [--worker-command "CMD ARGS"] -- CMD [ARGS...]

`make run` runs `scripts/with_worker.py -- .venv/bin/python manage.py runserver 127.0.0.1:8000`.
The worker (default: `manage.py run_worker` with this script's Python) runs in its own process
group, so Ctrl-C reaches the server only; a worker that dies is started again after a pause (and
a new worker mends the schedule's tick chain). When CMD exits, Ctrl-C included, or this script is
terminated, the worker's group gets SIGTERM (db_worker finishes the task in hand) and SIGKILL after
a grace period. The exit status is CMD's.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

MANAGE = Path(__file__).resolve().parent.parent / "manage.py"
GRACE_SECONDS = 15
RESTART_DELAY_SECONDS = 2
POLL_SECONDS = 0.2


def start(command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(command, start_new_session=True)


def stop(process: subprocess.Popen, grace: float = GRACE_SECONDS) -> None:
    """SIGTERM the process's group, then SIGKILL it if it is still there after `grace` seconds."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def supervise(command: list[str], worker_command: list[str]) -> int:
    """Run `command` to its end with `worker_command` running beside it; return command's exit status."""
    worker = start(worker_command)
    server = subprocess.Popen(command)
    # Ctrl-C goes to the terminal's whole foreground group: the server handles it, we wait for it.
    signal.signal(signal.SIGINT, lambda *_: None)
    signal.signal(signal.SIGTERM, lambda *_: server.terminate())
    try:
        while server.poll() is None:
            if worker.poll() is not None:
                print(f"with_worker: the worker exited with status {worker.returncode}; starting it again",
                      file=sys.stderr, flush=True)
                time.sleep(RESTART_DELAY_SECONDS)
                worker = start(worker_command)
            time.sleep(POLL_SECONDS)
    finally:
        stop(worker)
        if server.poll() is None:
            server.terminate()
            server.wait()
    return server.returncode if server.returncode >= 0 else 128 - server.returncode


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worker-command", default=shlex.join([sys.executable, str(MANAGE), "run_worker"]),
                        help="the worker to run beside CMD (default: %(default)s)")
    parser.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD [ARGS...]")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --, e.g. -- python manage.py runserver")
    return supervise(command, shlex.split(args.worker_command))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
