"""Check the files that build, run and test MintGuard outside Django: compose, Docker, CI, make, scripts.

The with_postgres tests start real PostgreSQL clusters; they skip only on a machine with no
PostgreSQL server binaries at all.
"""

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from bench.system import load_with_postgres

REPO = Path(__file__).resolve().parent.parent
WITH_POSTGRES = REPO / "scripts" / "with_postgres.py"


def load_compose() -> dict:
    return yaml.safe_load((REPO / "compose.yaml").read_text())


def service_environment(service: dict) -> dict:
    """Return a service's environment as a dict, whichever of compose's two forms it uses."""
    environment = service.get("environment", {})
    if isinstance(environment, list):
        return dict(item.partition("=")[::2] for item in environment)
    return environment


def dockerfile_instructions() -> list[tuple[str, str]]:
    """Return (INSTRUCTION, arguments) pairs, with continuation lines joined."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    instructions = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, arguments = line.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def exec_form(arguments: str) -> list[str]:
    """Parse an ENTRYPOINT/CMD argument in exec (JSON) or shell form into words."""
    return json.loads(arguments) if arguments.startswith("[") else ["sh", "-c", arguments]


@pytest.fixture
def postgres_available() -> None:
    with_postgres = load_with_postgres()
    try:
        with_postgres.find_pg_bin()
    except with_postgres.PostgresUnavailable as error:
        pytest.skip(str(error))


def run_with_postgres(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(WITH_POSTGRES), "--", sys.executable, "-c", code],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )


def port_is_open(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


# compose.yaml


def test_compose_runs_app_and_db_by_default_and_redis_only_under_its_profile():
    services = load_compose()["services"]

    assert {"app", "worker", "db", "redis"} <= services.keys()
    assert "profiles" not in services["app"]
    assert "profiles" not in services["worker"]
    assert "profiles" not in services["db"]
    assert services["redis"]["profiles"] == ["redis"]
    assert services["redis"]["image"].startswith("redis:7")
    assert services["db"]["image"].startswith("postgres:15")


def test_compose_app_database_url_is_postgresql_on_the_db_service_with_its_credentials():
    services = load_compose()["services"]
    url = urlsplit(service_environment(services["app"])["DATABASE_URL"])
    db = service_environment(services["db"])

    assert url.scheme in {"postgresql", "postgres"}
    assert url.hostname == "db"
    assert (url.port or 5432) == 5432
    assert url.username == db["POSTGRES_USER"]
    assert url.password == db["POSTGRES_PASSWORD"]
    assert url.path == f"/{db['POSTGRES_DB']}"


def test_compose_app_starts_only_after_db_healthcheck_passes():
    services = load_compose()["services"]

    assert services["app"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])


def test_compose_requires_secrets_from_the_environment_and_serves_plain_http():
    app = load_compose()["services"]["app"]
    environment = service_environment(app)

    for secret in ("SECRET_KEY", "MINTGUARD_PROVIDER_WEBHOOK_SECRET", "MINTGUARD_METRICS_TOKEN"):
        assert re.fullmatch(rf"\$\{{{secret}:\?[^}}]+\}}", environment[secret])
    assert str(environment["MINTGUARD_HTTPS"]).lower() == "false"
    assert environment["ALLOWED_HOSTS"]
    assert "8000:8000" in [str(port) for port in app["ports"]]


def test_compose_runs_a_worker_from_the_app_image_and_environment_that_leaves_migrating_to_the_app():
    services = load_compose()["services"]
    worker, app = services["worker"], services["app"]

    assert worker["build"] == app["build"]
    assert service_environment(worker) == service_environment(app)
    assert worker["entrypoint"] + worker["command"] == ["python", "manage.py", "run_worker"]
    assert worker["depends_on"]["db"]["condition"] == "service_healthy"
    assert worker["restart"] in {"always", "unless-stopped"}  # a restarted worker mends the schedule
    assert "ports" not in worker


def test_compose_keeps_database_files_in_a_named_volume():
    compose = load_compose()
    volume, _, target = compose["services"]["db"]["volumes"][0].partition(":")

    assert volume in compose["volumes"]
    assert target == "/var/lib/postgresql/data"


# Dockerfile


def test_dockerfile_runs_as_a_non_root_user():
    instructions = dockerfile_instructions()
    users = [arguments for keyword, arguments in instructions if keyword == "USER"]

    assert instructions[0] == ("FROM", "python:3.11-slim")
    assert users, "no USER: the container would run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}


def test_dockerfile_collects_static_at_build_without_baking_in_a_secret_key():
    instructions = dockerfile_instructions()
    runs = [arguments for keyword, arguments in instructions if keyword == "RUN"]
    persisted = [arguments for keyword, arguments in instructions if keyword in {"ENV", "ARG"}]

    assert any("manage.py collectstatic --noinput" in run for run in runs)
    assert not any("SECRET" in arguments for arguments in persisted)
    assert any("pip install -r requirements.txt" in run for run in runs)


def gunicorn_config() -> dict:
    """Evaluate gunicorn.conf.py as gunicorn would, with no overriding environment."""
    import runpy
    from unittest import mock

    env = {k: v for k, v in os.environ.items() if k not in {"GUNICORN_BIND", "PORT", "WEB_CONCURRENCY"}}
    env["PROMETHEUS_MULTIPROC_DIR"] = "/tmp"  # noqa: S108 - only read, never written here
    with mock.patch.dict(os.environ, env, clear=True):
        return runpy.run_path(str(REPO / "gunicorn.conf.py"))


def test_container_migrates_then_execs_gunicorn_serving_the_wsgi_app():
    instructions = dockerfile_instructions()
    workdir = [arguments for keyword, arguments in instructions if keyword == "WORKDIR"][-1]
    entrypoint = exec_form([a for keyword, a in instructions if keyword == "ENTRYPOINT"][-1])
    command = " ".join(exec_form([a for keyword, a in instructions if keyword == "CMD"][-1]))
    script = REPO / Path(entrypoint[-1]).relative_to(workdir)
    script_text = script.read_text()

    assert os.access(script, os.X_OK)
    assert "manage.py migrate --noinput" in script_text
    assert script_text.rstrip().endswith('exec "$@"')
    assert "gunicorn mintguard_site.wsgi:application" in command
    assert gunicorn_config()["bind"] == ["0.0.0.0:8000"]  # gunicorn reads ./gunicorn.conf.py itself
    assert ("EXPOSE", "8000") in instructions
    assert (REPO / "mintguard_site" / "wsgi.py").exists()
    assert re.search(r"^gunicorn\b", (REPO / "requirements.txt").read_text(), re.M | re.I)


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_build_context():
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()}

    assert {".git", ".venv", "var", ".env"} <= ignored


# CI and make


def test_ci_run_is_executable_strict_bash_running_make_test():
    ci_run = REPO / ".ci" / "run"
    text = ci_run.read_text()

    assert os.access(ci_run, os.X_OK)
    assert text.startswith("#!/usr/bin/env bash") or text.startswith("#!/bin/bash")
    assert "set -euo pipefail" in text
    assert re.search(r"^(exec )?make test$", text, re.M)
    assert subprocess.run(["bash", "-n", str(ci_run)]).returncode == 0


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_test_runs_sqlite_suite_then_postgres_suite():
    dry_run = subprocess.run(["make", "-n", "test", "PYTEST_ARGS=-x"], cwd=REPO,
                             capture_output=True, text=True, check=True).stdout

    sqlite_run = dry_run.index(".venv/bin/pytest -x")
    postgres_run = dry_run.index("scripts/with_postgres.py -- .venv/bin/pytest -x")
    assert sqlite_run < postgres_run


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_migrates_seeds_then_serves_with_a_worker_beside_the_server():
    dry_run = subprocess.run(["make", "-n", "run"], cwd=REPO, capture_output=True, text=True, check=True).stdout

    migrate = dry_run.index("manage.py migrate")
    seed = dry_run.index("manage.py seed_demo")
    serve = dry_run.index("scripts/with_worker.py -- .venv/bin/python manage.py runserver 127.0.0.1:8000")
    assert migrate < seed < serve


# scripts/with_worker.py


def run_with_worker(tmp_path, worker_code: str, command_code: str) -> tuple[int, list[str]]:
    """Run with_worker.py with a worker that logs its pid to a file; return the exit status and the pids."""
    pids = tmp_path / "pids"
    worker = f"import os, time; open({str(pids)!r}, 'a').write(f'{{os.getpid()}}\\n'); {worker_code}"
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "with_worker.py"), "--worker-command",
         shlex.join([sys.executable, "-c", worker]), "--", sys.executable, "-c", command_code],
        capture_output=True, text=True, timeout=60,
    )
    return result.returncode, pids.read_text().split() if pids.exists() else []


def process_exists(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    return True


def test_with_worker_stops_the_worker_when_the_command_ends_and_exits_with_its_status(tmp_path):
    status, pids = run_with_worker(tmp_path, "time.sleep(60)", "import time; time.sleep(1); raise SystemExit(3)")

    assert status == 3
    assert len(pids) == 1
    assert not process_exists(pids[0])


def test_with_worker_starts_a_worker_that_died_again(tmp_path):
    status, pids = run_with_worker(tmp_path, "raise SystemExit(1)", "import time; time.sleep(5)")

    assert status == 0
    assert len(pids) >= 2


# scripts/with_postgres.py


def test_with_postgres_gives_the_command_a_database_it_can_query_and_restart(postgres_available):
    code = """
import json, os, shlex, subprocess, psycopg
def query(sql):
    with psycopg.connect(os.environ["DATABASE_URL"]) as connection:
        return connection.execute(sql).fetchone()[0]
before = [query("select 1"), query("select current_database()"), query("show max_connections")]
pg_ctl = shlex.split(os.environ["MINTGUARD_PG_CTL"])
subprocess.run(pg_ctl + ["restart", "-m", "fast"], check=True, capture_output=True)
after = query("select 1")
print(json.dumps({"before": before, "after": after, "data": os.environ["MINTGUARD_PG_DATA"],
                  "bin": os.environ["MINTGUARD_PG_BIN"], "port": os.environ["PGPORT"]}))
"""
    result = run_with_postgres(code)

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["before"] == [1, "mintguard", "200"]
    assert report["after"] == 1
    assert (Path(report["bin"]) / "pg_ctl").exists()
    assert not Path(report["data"]).parent.exists()
    assert not port_is_open(int(report["port"]))


def test_with_postgres_exits_with_the_command_status_and_removes_the_cluster(postgres_available):
    code = """
import os
data = os.environ["MINTGUARD_PG_DATA"]
print(data, os.path.isdir(data), os.environ["PGPORT"])
raise SystemExit(3)
"""
    result = run_with_postgres(code)

    assert result.returncode == 3, result.stderr
    data, existed, port = result.stdout.split()
    assert existed == "True"
    assert not Path(data).parent.exists()
    assert not port_is_open(int(port))


def test_with_postgres_cleans_up_when_terminated(postgres_available):
    code = """
import os, time
print(os.environ["MINTGUARD_PG_DATA"], os.environ["PGPORT"], flush=True)
time.sleep(60)
"""
    wrapper = subprocess.Popen(
        [sys.executable, str(WITH_POSTGRES), "--", sys.executable, "-c", code],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # so a failed test can kill whatever the wrapper left behind
    )
    try:
        data, port = wrapper.stdout.readline().split()
        assert port_is_open(int(port))

        wrapper.send_signal(signal.SIGTERM)
        returncode = wrapper.wait(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(wrapper.pid, signal.SIGKILL)
        wrapper.communicate()

    assert returncode == 128 + signal.SIGTERM
    assert not Path(data).parent.exists()
    assert not port_is_open(int(port))


def test_with_postgres_refuses_to_run_without_a_command():
    result = subprocess.run([sys.executable, str(WITH_POSTGRES)], cwd=REPO,
                            capture_output=True, text=True, timeout=60)

    assert result.returncode == 2
    assert "CMD" in result.stderr


def test_with_postgres_reports_missing_binaries_clearly():
    result = subprocess.run(
        [sys.executable, str(WITH_POSTGRES), "--", "true"], cwd=REPO,
        env={**os.environ, "PG_BIN": "/nonexistent"}, capture_output=True, text=True, timeout=60,
    )

    assert result.returncode == 2
    assert "PG_BIN=/nonexistent" in result.stderr
