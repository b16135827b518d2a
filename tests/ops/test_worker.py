"""Workers and the schedule across connections and processes: racing ticks and starts, a killed
worker's tick, the mending thread, and a real `manage.py run_worker` process.

Every test commits (the worker closes and reopens its connection, threads have their own).
"""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from ledger.models import Hold, HoldStatus, ReconciliationRun
from ledger.services import hold_create
from mintguard_site.management.commands.run_worker import chain_keep
from mintguard_site.schedule import JOBS, schedule_chain_ensure, schedule_run_due, schedule_tick, ticks_waiting

from ..concurrency import run_concurrently
from ..ledger.factories import AccountFactory

pytestmark = pytest.mark.django_db(transaction=True)

REPO = Path(__file__).resolve().parents[2]
WORKERS = 8


def test_racing_ticks_enqueue_each_due_job_once():
    now = timezone.now()

    claimed = run_concurrently(lambda: schedule_run_due(now=now), [()] * WORKERS, workers=WORKERS)

    assert not [result for result in claimed if isinstance(result, Exception)]
    assert sorted(name for names in claimed for name in names) == sorted(job.name for job in JOBS)
    paths = sorted(DBTaskResult.objects.values_list("task_path", flat=True))
    assert paths == sorted(job.task.module_path for job in JOBS)


def test_workers_starting_together_enqueue_one_tick():
    started = run_concurrently(schedule_chain_ensure, [()] * WORKERS, workers=WORKERS)

    assert sorted(started, key=str) == [False] * (WORKERS - 1) + [True]
    assert ticks_waiting().count() == 1


def test_a_tick_left_running_by_a_killed_worker_is_replaced_once_and_run_worker_runs_the_due_jobs():
    # given the chain's only tick, claimed by a worker that was then SIGKILLed (left RUNNING for ever)
    killed = schedule_tick.enqueue()
    DBTaskResult.objects.filter(pk=killed.id).update(status=TaskResultStatus.RUNNING, started_at=timezone.now())
    assert not ticks_waiting().exists()

    # when a worker starts, in batch mode (run what is due now, then exit)
    call_command("run_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)

    # then it enqueued a tick and ran it, and the tick's jobs: all due, as none ever ran
    ran = DBTaskResult.objects.filter(status=TaskResultStatus.SUCCESSFUL).values_list("task_path", flat=True)
    assert sorted(ran) == sorted([schedule_tick.module_path] + [job.task.module_path for job in JOBS])
    assert ReconciliationRun.objects.count() == 1
    # and the chain goes on with one tick waiting; the dead worker's is left as it was
    [waiting] = ticks_waiting()
    assert waiting.run_after > timezone.now()
    assert DBTaskResult.objects.get(pk=killed.id).status == TaskResultStatus.RUNNING
    # and a second start enqueues no second tick
    assert schedule_chain_ensure() is False
    assert ticks_waiting().count() == 1


def test_the_worker_thread_mends_a_chain_that_broke_while_the_worker_lived():
    stop = threading.Event()
    keeper = threading.Thread(target=chain_keep, args=(stop, 0.05), daemon=True)
    keeper.start()
    try:
        for _ in range(2):  # a tick that failed leaves none: the thread enqueues one, again and again
            deadline = time.monotonic() + 30
            while not ticks_waiting().exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert ticks_waiting().count() == 1
            ticks_waiting().update(status=TaskResultStatus.FAILED)
    finally:
        stop.set()
        keeper.join(timeout=30)
    assert not keeper.is_alive()


# --- a real worker process ---------------------------------------------------------------


def this_test_database_url() -> str:
    """DATABASE_URL of the database this test runs on, for a child process."""
    name = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":
        return f"sqlite:///{Path(name).resolve()}"
    return urlunsplit(urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{name}"))


def wait_for(condition, *, timeout: float, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the worker exited with status {process.returncode}"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_a_worker_process_runs_the_schedule_tick_after_tick_and_stops_on_sigterm(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "mintguard_site.settings_test",
           "DATABASE_URL": this_test_database_url(), "MINTGUARD_SCHEDULE_TICK": "1",
           "MINTGUARD_SCHEDULE_HOLDS_EXPIRE": "1", "MINTGUARD_LOG_FORMAT": "text"}
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "run_worker", "--no-reload", "--no-startup-delay", "--interval", "0.2"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        # the first tick runs every job (none ever ran): a reconciliation is stored
        wait_for(ReconciliationRun.objects.exists, timeout=90, process=worker)
        # a hold that runs out later is expired by a later tick
        source, destination = AccountFactory(balance=500), AccountFactory()
        hold = hold_create(source_id=source.id, destination_id=destination.id, amount=200, owner="client-a",
                           expires_in=1)
        wait_for(lambda: Hold.objects.get(pk=hold.pk).status == HoldStatus.EXPIRED, timeout=60, process=worker)

        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        log.close()
        print((tmp_path / "worker.log").read_text()[-4000:])  # shown when the test fails
    assert ReconciliationRun.objects.count() == 1  # hourly: once
    assert ticks_waiting().get().run_after <= timezone.now() + timedelta(seconds=1)
