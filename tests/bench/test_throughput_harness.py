"""`make bench` still works: every scenario and both raw SQL baselines run for 1 s against a private
PostgreSQL and gunicorn (`python -m bench.throughput --smoke`), answer with 2xx only, the books
reconcile after each scenario, the CPU per transfer is measured, and the report judges issue 15's
targets, issue 18's and issue 19's and is written with its chart.

The harness starts its own cluster and server, whatever database the suite uses. Without wrk or
PostgreSQL server binaries the tests skip, except under CI (CI=true), where they fail.
"""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.system import load_with_postgres

REPO = Path(__file__).resolve().parents[2]
# The first test also waits for the module's smoke run (under a minute on a quiet machine): a
# loaded 2-core machine gets several times that before anything is called a failure.
SMOKE_RUN_SECONDS = 600
pytestmark = pytest.mark.timeout(SMOKE_RUN_SECONDS + 120)
API_SCENARIOS = ["healthz", "transfers", "transfers_no_events", "hold_capture", "topup", "topup_one_bucket", "pay", "spend", "contended", "replay",
                 "statement_page_1", "statement_deep"]


def harness_prerequisites_missing() -> str | None:
    module = load_with_postgres()
    try:
        module.find_pg_bin()
    except module.PostgresUnavailable as error:
        return str(error)
    from bench.throughput.load import ensure_wrk

    try:
        ensure_wrk()  # installs Debian's wrk when missing, as `make bench` does
    except RuntimeError as error:
        return str(error)
    return None


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    if missing := harness_prerequisites_missing():
        # A developer's machine may lack them; CI (`.ci/run` sets CI=true) must not skip silently.
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and the benchmark harness cannot run: {missing}")
        pytest.skip(missing)
    out = tmp_path_factory.mktemp("bench")
    result = subprocess.run(
        [sys.executable, "-m", "bench.throughput", "--smoke", "--output", str(out), "--json", str(out / "raw.json")],
        cwd=REPO, capture_output=True, text=True, timeout=SMOKE_RUN_SECONDS,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return out, json.loads((out / "raw.json").read_text()), result.stdout


def test_every_api_scenario_serves_requests_without_a_single_error(smoke_run):
    _, raw, output = smoke_run
    for name in API_SCENARIOS:
        median = raw["results"][name]["median"]
        assert median["rps"] > 0, (name, output)
        assert median["errors"] == 0, (name, raw["results"][name]["runs"])


def test_the_replay_scenario_gets_replays_and_the_deep_statement_page_is_served(smoke_run):
    _, raw, _ = smoke_run
    replay = raw["results"]["replay"]["median"]
    assert replay["replayed"] == replay["requests"] > 0
    assert raw["results"]["statement_deep"]["median"]["p50_ms"] > 0


def test_hold_capture_captures_every_hold_it_creates_and_counts_transfers_moved(smoke_run):
    _, raw, _ = smoke_run
    connections = raw["machine"]["connections"]
    result = raw["results"]["hold_capture"]
    assert result["median"]["transfers_per_s"] > 0
    for run in result["runs"]:
        # Every 2xx is a hold or its capture; only the holds in flight when wrk stopped are left.
        assert run["captured"] > 0 and run["statuses"] == {"201": run["ok"]}
        assert 0 <= run["ok"] - 2 * run["captured"] <= connections, run
        assert run["transfers_per_s"] == run["captured"] / run["seconds"]


def test_transfers_run_with_events_and_a_webhook_endpoint_and_again_with_events_off(smoke_run):
    _, raw, output = smoke_run
    assert raw["machine"]["webhook_endpoint"] == 'http://127.0.0.1:9/bench-webhooks, events ["*"]'
    # The two run in alternation, each on a gunicorn of its own (a smoke run is one slice each).
    assert "bench: transfers run1.1:" in output and "bench: transfers_no_events run1.1:" in output
    assert "each on a fresh gunicorn" in raw["machine"]["paired"]
    target = next(t for t in raw["targets"] if t["number"] == 10)
    share = raw["results"]["transfers"]["median"]["rps"] / raw["results"]["transfers_no_events"]["median"]["rps"]
    assert target["issue"] == 19 and target["value"] == share


def test_batch_transfers_are_measured_or_reported_as_not_available(smoke_run):
    _, raw, _ = smoke_run
    if "batch" in raw["results"]:
        batch = raw["results"]["batch"]["median"]
        assert batch["transfers_per_s"] > 0 and batch["errors"] == 0
    else:
        assert raw["notes"]["batch"].startswith("not available")


def test_the_raw_sql_baselines_run_in_the_same_cluster(smoke_run):
    _, raw, _ = smoke_run
    for name in ("sql_spread", "sql_hot"):
        assert raw["results"][name]["median"]["rps"] > 0
        assert raw["results"][name]["median"]["errors"] == 0


def test_the_report_names_the_machine_and_every_target(smoke_run):
    out, raw, _ = smoke_run
    text = (out / "benchmarks.md").read_text()
    assert raw["machine"]["cpu_model"] in text and "PostgreSQL" in text and "gunicorn" in text
    assert "## Targets (issues 15, 18 and 19)" in text
    for target in (">= 0.2 x raw SQL spread", ">= 0.18 x raw SQL spread", ">= 0.5 x /healthz", ">= 3 x raw SQL spread",
                   "<= 2 ms", ">= 0.9 x API transfers", "<= 1.5 x page-1 p50 latency", "0 drifts",
                   ">= 1 x raw SQL spread", ">= 0.4 x API transfers", ">= 0.85 x transfers with events off"):
        assert target in text, target
    assert [target["number"] for target in raw["targets"]] == [1, 2, 3, 4, 5, 6, 6, 7, 8, 9, 10]
    assert next(t for t in raw["targets"] if t["number"] == 9)["value"] is not None
    assert next(t for t in raw["targets"] if t["number"] == 10)["value"] is not None
    if importlib.util.find_spec("matplotlib"):
        assert (out / "benchmarks.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_reconcile_runs_after_the_seeding_and_every_api_scenario_and_finds_the_books_clean(smoke_run):
    _, raw, _ = smoke_run
    reconciliations = raw["checks"]["reconciliations"]
    measured = [name for name in raw["results"] if not name.startswith("sql_")]
    assert [run["after"] for run in reconciliations] == ["setup", *measured]
    assert all(run["drift_count"] == 0 and run["clean"] for run in reconciliations), reconciliations
    assert next(t for t in raw["targets"] if t["number"] == 7)["met"] is True


def test_the_in_process_cpu_per_transfer_is_measured_on_the_runs_database_and_judged(smoke_run):
    _, raw, _ = smoke_run
    cpu = raw["checks"]["cpu"]
    assert cpu["scenario"] == "transfer" and cpu["requests"] == 30
    assert 0 < cpu["cpu_ms_median"] < cpu["wall_ms_median"] * 2 and cpu["queries"] > 0
    assert next(t for t in raw["targets"] if t["number"] == 5)["value"] == cpu["cpu_ms_median"]
