"""`make bench`: MintGuard's API under load next to a raw SQL baseline, on this machine, in one run.

    .venv/bin/python -m bench.throughput [--quick | --smoke] [--runs 3] [--seconds 10] [--connections N]
                                         [--workers N] [--output docs] [--only healthz,transfers,replay,...]

1. Start a private PostgreSQL (scripts/with_postgres.py), migrate, seed through the services: an API
   client, 1,000 funded customer accounts, 4 contended ones, one account with >= 50,000 statement
   entries, 1,000 funded wallet users, and (before the pay scenario) one unpaid order per pay request.
2. Start gunicorn on loopback with gunicorn.conf.py (sync workers, 2 x cores + 1), DEBUG unset,
   LOG_LEVEL=WARNING and a rate limit no run reaches.
3. Drive each scenario with wrk (Debian's package, installed when missing): `--runs` runs of
   `--seconds` each after a short warm-up, `--connections` concurrent connections; every figure is
   the median of the runs. In the same cluster, pgbench runs the same double-entry transfer in raw
   SQL (bench/throughput/baseline.py), spread and hot, at the same concurrency and duration.
   `healthz` (GET /healthz, no database) is the framework's floor in the same run. `hold_capture`
   moves each transfer in two requests (a hold, then its capture) and counts transfers moved/s.
   `transfers` runs with events on and the client subscribed to every event by a webhook endpoint
   (loopback, never called: no worker runs); `transfers_no_events`, its control, runs the same load
   on a second gunicorn started with MINTGUARD_EVENTS=false, same data and connections, run for run
   in alternation with `transfers` (warm-up, run 1, run 2...), so drift in how busy the machine is
   falls on both alike.
4. After the seeding and after every API scenario, `manage.py reconcile` checks the books.
5. Last, bench/profile_request.py measures the in-process CPU of one API transfer on the same
   database (`cpu_per_transfer`).
6. Print the results and the targets (issue 15's 1-8, issue 18's 9, issue 19's 10), met or missed, and write
   `<output>/benchmarks.md` and `<output>/benchmarks.png`.
Everything it started is stopped and its temporary files removed, also on failure or Ctrl-C.

`--quick` is 1 run of 3 s per scenario (written to var/bench-quick/ unless --output is given);
`--smoke` is the CI check: tiny data, 1 run of 1 s, 2 workers, 2 connections.
"""

import argparse
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from ..system import load_with_postgres
from . import load, report, targets
from .harness import BASELINES, CPU_PROFILE, SCENARIOS, Bench, Plan, say
from .server import REPO, default_workers


def make_plan(args) -> Plan:
    workers = args.workers or (2 if args.smoke else default_workers())
    if args.smoke:
        return Plan(runs=args.runs or 1, seconds=args.seconds or 1, warmup=0, connections=args.connections or 2,
                    workers=workers, accounts=20, contended=4, wallet_users=20, deep_page=3, page_size=50,
                    mode="smoke", cpu_requests=30, max_batch=100)
    quick = args.quick
    return Plan(runs=args.runs or (1 if quick else 3), seconds=args.seconds or (3 if quick else 10),
                warmup=1 if quick else 2, connections=args.connections or 2 * workers, workers=workers,
                accounts=1000, contended=4, wallet_users=1000, deep_page=args.deep_page, page_size=50,
                mode="quick" if quick else "full", cpu_requests=200 if quick else 300, max_batch=1000)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="1 run of 3 s per scenario, for iterating")
    size.add_argument("--smoke", action="store_true", help="tiny data, 1 run of 1 s: checks the harness works")
    parser.add_argument("--runs", type=int, help="runs per scenario (median reported); default 3")
    parser.add_argument("--seconds", type=float, help="seconds per run; default 10")
    parser.add_argument("--connections", type=int, help="concurrent connections (pgbench clients); default 2 x workers")
    parser.add_argument("--workers", type=int, help="gunicorn workers; default what gunicorn.conf.py picks")
    parser.add_argument("--deep-page", type=int, default=1000, help="the deep statement page (50 entries each)")
    parser.add_argument("--only", help=f"comma-separated scenarios (and sql_spread, sql_hot, {CPU_PROFILE}) to run")
    parser.add_argument("--output", type=Path,
                        help="where benchmarks.md/.png go (default docs/; --quick and --smoke: var/bench-quick/)")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--render", type=Path, metavar="JSON",
                        help="measure nothing: rewrite the report from the raw results of an earlier --json")
    args = parser.parse_args(argv)
    plan = make_plan(args)
    if args.render:
        saved = json.loads(args.render.read_text())
        plan_mode = saved["machine"]["mode"]
        output = args.output or (REPO / ("docs" if plan_mode == "full" else "var/bench-quick"))
        write_report(output, saved["machine"], saved["results"], saved["notes"], saved.get("checks", {}), None)
        return 0
    output = args.output or (REPO / ("docs" if plan.mode == "full" else "var/bench-quick"))
    only = set(args.only.split(",")) if args.only else None
    known = {s.name for s in SCENARIOS} | {name for name, *_ in BASELINES} | {CPU_PROFILE}
    if only and only - known:
        parser.error(f"unknown scenarios {sorted(only - known)}; known: {sorted(known)}")
    if only and targets.bases_of(only) - only:
        say(f"--only: also running {', '.join(sorted(targets.bases_of(only) - only))}, which its targets divide by")
        only |= targets.bases_of(only)

    # SIGTERM/SIGHUP unwind like Ctrl-C, so every `with` below cleans up.
    def stop(signum, _frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    started = time.monotonic()
    # Other work on these cores skews every figure: the report says how busy the machine was.
    load_before = os.getloadavg()[0]
    try:
        wrk = load.ensure_wrk()
        with contextlib.ExitStack() as stack:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mintguard-bench-")))
            pg = stack.enter_context(load_with_postgres().private_postgres())
            say(f"PostgreSQL {pg.url}; {plan.mode} plan: {plan.runs} x {plan.seconds:g} s per scenario, "
                f"{plan.connections} connections")
            bench = Bench(plan, workdir, wrk)
            bench.setup(pg, stack)
            for name, kind, title in BASELINES:
                if only is None or name in only:
                    bench.measure_baseline(name, kind, title)
            chosen = [scenario for scenario in SCENARIOS if only is None or scenario.name in only]
            controls = {scenario.control_of: scenario for scenario in chosen if scenario.control_of}
            for scenario in chosen:
                if scenario.control_of not in {measured.name for measured in chosen}:
                    bench.run_scenario(scenario, controls.get(scenario.name))
            if only is None or CPU_PROFILE in only:
                bench.measure_cpu_per_transfer()
            machine = bench.machine()
    except (KeyboardInterrupt, load_with_postgres().Terminated):
        print("bench: interrupted; everything it started is stopped and removed", file=sys.stderr)
        return 130
    machine["total_seconds"] = round(time.monotonic() - started)
    machine["load_before"] = f"{load_before:.1f}"
    write_report(output, machine, bench.results, bench.notes, bench.checks, args.json)
    return 0


def write_report(output: Path, machine: dict, results: dict, notes: dict, checks: dict,
                 raw_json: Path | None) -> None:
    """Print the table and the targets; write benchmarks.md, the chart and (when asked) the raw results."""
    output.mkdir(parents=True, exist_ok=True)
    judged = targets.judge(results, notes, checks)
    rows = report.rows(results, notes, judged)
    print(report.console(rows, machine, judged))
    (output / "benchmarks.md").write_text(report.markdown(rows, machine, judged, checks))
    chart = report.chart(rows, output / "benchmarks.png")
    say(f"wrote {output / 'benchmarks.md'}" + (f" and {chart}" if chart else " (no chart: matplotlib missing)"))
    if raw_json:
        raw_json.write_text(json.dumps({"machine": machine, "results": results, "notes": notes, "checks": checks,
                                        "targets": judged, "rows": rows}, indent=2, default=str))


if __name__ == "__main__":
    sys.exit(main())
