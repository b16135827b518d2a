"""The bank test, short: a few thousand operations through gunicorn while workers die and PostgreSQL restarts.

It runs `python -m bench.bank` in a child process, which starts its own private PostgreSQL and
gunicorn: it never touches the suite's test database. It needs PostgreSQL server binaries, so it
runs in the PostgreSQL pass of `make test` (skipped on the SQLite pass, where the same run would
only repeat itself); MINTGUARD_BANK_TEST=1 runs it in any pass, =0 skips it. The long run is
`make reliability`.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.db_helpers import ON_POSTGRES

REPO = Path(__file__).resolve().parents[2]
FORCED = os.environ.get("MINTGUARD_BANK_TEST", "")

pytestmark = pytest.mark.skipif(
    FORCED == "0" or (not ON_POSTGRES and FORCED != "1"),
    reason="runs once per `make test`, in the PostgreSQL pass (MINTGUARD_BANK_TEST=1 forces it)",
)

SHORT_RUN = [
    "--ops", "2500", "--clients", "8", "--workers", "3", "--accounts", "20",
    "--kills", "5", "--kills-between", "0.05", "0.2", "--pg-restarts", "1", "--restart-at", "0.3",
    # The whole budget: sending stops after 300 s, an unanswered operation gives up after 120 s. A
    # quiet 2-core machine sends everything in about 75 s; a loaded one gets four times that.
    "--max-seconds", "300", "--max-op-seconds", "120", "--seed", "7",
]
# bench.bank's own deadline: sending, the last answers, then 120 s to wind down.
RUN_SECONDS = 300 + 120 + 120


@pytest.mark.timeout(RUN_SECONDS + 120)
def test_a_short_bank_run_with_killed_workers_and_a_postgres_restart_loses_and_duplicates_nothing(tmp_path):
    """Money ops, orders, pays and refunds, holds and order authorizations (captured, voided, expired)."""
    report_path = tmp_path / "bank.json"

    run = subprocess.run(
        [sys.executable, "-m", "bench.bank", *SHORT_RUN, "--json", str(report_path)],
        cwd=REPO, capture_output=True, text=True, timeout=RUN_SECONDS + 60,
    )

    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    report = json.loads(report_path.read_text())
    print(run.stdout)  # the report, for `pytest -s` and failed runs
    assert report["violations"]["total"] == 0, report["violations"]
    assert report["operations"]["attempted"] == 2500
    assert report["operations"]["indeterminate"] == 0
    assert report["faults"]["worker_kills"] >= 2
    assert report["faults"]["pg_restarts"] == 1
    # The faults bit: requests died with their workers, answers were lost after the server had
    # committed (clients gave up too early), and the resends were replayed, not executed again.
    assert report["requests"]["cut"] >= 1
    assert report["requests"]["timeouts"] >= 1
    assert report["retries"]["operations_retried"] >= 1
    assert report["retries"]["answers_replayed"] >= 1
    assert len(report["checks"]) >= 40
    # Holds and authorizations were reserved, captured, voided and expired under the same faults, and
    # the expiry jobs ran beside the clients.
    ok = report["operations"]["ok_by_kind"]
    for kind in ("hold_create", "hold_capture", "hold_void", "order_authorize", "order_capture", "order_void"):
        assert ok.get(kind, 0) >= 1, (kind, ok)
    jobs = report["jobs"]
    assert jobs["expire_holds_runs"] >= 1 and jobs["expire_authorizations_runs"] >= 1, jobs
    assert {"CAPTURED", "VOIDED", "EXPIRED"} <= set(jobs["holds_by_final_status"]), jobs
    assert {"SUCCEEDED", "VOIDED"} <= set(jobs["authorizations_by_final_status"]), jobs
    assert jobs["available_samples"] >= 1, jobs
