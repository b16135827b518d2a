"""Run the bank test: `python -m bench.bank --help`. Exit 0 only with 0 violations and every planned fault injected."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from ..system import REPO, load_with_postgres, manage
from .cluster import API_KEY_NAME, ClusterError, Gunicorn, create_api_key, server_env
from .faults import FaultInjector, plan
from .jobs import Jobs
from .workload import CURRENCIES, Budget, Client, History, Http, Op, World, send_until_answered

FUNDING = 1_000_000  # minor units per account, deposited at setup


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m bench.bank", description=__doc__)
    parser.add_argument("--ops", type=int, default=20_000, help="operations the clients send (setup excluded)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client threads")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn sync workers (>= 2)")
    parser.add_argument("--accounts", type=int, default=20, help="customer accounts (2/3 USD, 1/3 EUR)")
    parser.add_argument("--kills", type=int, default=10, help="gunicorn workers to SIGKILL mid-request")
    parser.add_argument("--pg-restarts", type=int, default=1, help="PostgreSQL restarts (pg_ctl restart -m fast)")
    parser.add_argument("--kills-between", type=float, nargs=2, default=(0.05, 0.8), metavar=("FROM", "TO"),
                        help="fractions of the run over which the kills are spread")
    parser.add_argument("--restart-at", type=float, default=0.5, help="fraction of the run when PostgreSQL restarts")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-seconds", type=float, default=1200, help="stop sending new operations after this")
    parser.add_argument("--max-op-seconds", type=float, default=180,
                        help="an operation unanswered this long is indeterminate (a violation); > the 60 s key lease")
    parser.add_argument("--max-attempts", type=int, default=200)
    parser.add_argument("--request-timeout", type=float, default=15)
    parser.add_argument("--fee-bps", type=int, default=250, help="MINTGUARD_PLATFORM_FEE_BPS for seller orders")
    parser.add_argument("--expire-every", type=float, default=4,
                        help="seconds between `manage.py expire_holds` runs during the test (0: none)")
    parser.add_argument("--authorization-ttl", type=int, default=5,
                        help="MINTGUARD_AUTHORIZATION_TTL, seconds: short, so authorizations expire during the run")
    parser.add_argument("--sample-every", type=float, default=1,
                        help="seconds between reads of every account's `available` during the test (0: none)")
    parser.add_argument("--json", type=Path, help="also write the report here as JSON")
    parser.add_argument("--progress-every", type=float, default=15, help="seconds between progress lines (0: none)")
    args = parser.parse_args(argv)
    if args.workers < 2 or args.accounts < 4 or args.ops < 1:
        parser.error("need at least 2 workers, 4 accounts and 1 operation")
    return args


def setup_accounts(client: Client, world: World, count: int, run_id: str) -> None:
    """Open the customer accounts and fund each with FUNDING: the known starting total."""
    for i in range(count):
        currency = CURRENCIES[0] if i < count * 2 // 3 else CURRENCIES[1]
        op = send_until_answered(client, Op(
            -i, "account_create", f"{run_id}-setup-account-{i}", "/api/v1/accounts",
            {"owner_name": f"Bank customer {i}", "currency": currency}, setup=True))
        if op.outcome != "acked":
            raise ClusterError(f"could not open account {i}: {op.status} {op.response}")
        account = op.response["id"]
        world.accounts[currency].append(account)
        funded = send_until_answered(client, Op(
            -i, "deposit", f"{run_id}-setup-fund-{i}", f"/api/v1/accounts/{account}/deposit", {"amount": FUNDING},
            meta={"account": account, "currency": currency}, setup=True))
        if funded.outcome != "acked":
            raise ClusterError(f"could not fund account {i}: {funded.status} {funded.response}")


def run(args) -> dict:
    run_id = f"bank{args.seed}"
    workdir = Path(tempfile.mkdtemp(prefix="mintguard-bank-"))
    with_postgres = load_with_postgres()
    try:
        with with_postgres.private_postgres() as pg:
            env = server_env(database_url=pg.url, workdir=workdir, workers=args.workers, fee_bps=args.fee_bps,
                             authorization_ttl=args.authorization_ttl)
            migrated = manage(env, "migrate", "--noinput")
            if migrated.returncode != 0:
                raise ClusterError(f"migrate failed:\n{migrated.stdout}{migrated.stderr}")
            api_key = create_api_key(env)
            gunicorn = Gunicorn(env=env, workers=args.workers, log_path=workdir / "gunicorn.log")
            try:
                gunicorn.start()
                return _run_against(args, run_id, pg, env, gunicorn, api_key)
            finally:
                gunicorn.stop()
                _close_django_connections()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run_against(args, run_id, pg, env, gunicorn, api_key) -> dict:
    http = Http(port=gunicorn.port, api_key=api_key, timeout=args.request_timeout)
    world, history = World(), History()
    budget = Budget(total=args.ops, max_seconds=args.max_seconds)

    def client(number: int) -> Client:
        return Client(number=number, http=http, world=world, budget=budget, history=history,
                      seed=args.seed * 1000 + number, max_op_seconds=args.max_op_seconds,
                      max_attempts=args.max_attempts, run_id=run_id, authorization_ttl=args.authorization_ttl)

    setup_accounts(client(0), world, args.accounts, run_id)
    faults = plan(kills=args.kills, pg_restarts=args.pg_restarts, kills_between=tuple(args.kills_between),
                  restarts_at=args.restart_at)
    injector = FaultInjector(faults=faults, gunicorn=gunicorn, pg=pg, budget=budget, history=history, seed=args.seed)
    clients = [client(n) for n in range(1, args.clients + 1)]
    jobs = Jobs(env=env, http=http, expire_every=args.expire_every, sample_every=args.sample_every)
    started = time.monotonic()
    injector.started_at = started
    injector.start()
    jobs.start()
    for c in clients:
        c.start()
    deadline = started + args.max_seconds + args.max_op_seconds + 120
    for c in clients:
        while c.is_alive() and time.monotonic() < deadline:
            c.join(timeout=min(args.progress_every or 1.0, max(deadline - time.monotonic(), 0.1)))
            if c.is_alive() and args.progress_every:
                _progress(started, budget, history, injector)
    injector.join(timeout=max(deadline - time.monotonic(), 1))
    jobs.stop()
    duration = time.monotonic() - started
    stuck = [t.name for t in (*clients, injector, jobs) if t.is_alive()]
    errors = [f"{t.name}: {t.error!r}" for t in (*clients, injector, jobs) if t.error]
    if not gunicorn.alive():
        errors.append(f"gunicorn's master died:\n{gunicorn.log_tail()}")

    # The checker reads the database through the ORM, as the server's own code would.
    os.environ.update(env)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from mintguard_site.api.models import ApiClient

    from .checker import check_all

    owner = ApiClient.objects.get(name=API_KEY_NAME).owner
    with history.lock:
        ops = list(history.ops)
    findings = check_all(ops=ops, accounts=world.accounts, owner=owner, http=http, env=env,
                         fault_windows=injector.log.windows, server_errors=history.stats.server_error_samples,
                         jobs=jobs.log, authorization_ttl=args.authorization_ttl)
    sending = (budget.exhausted_at or time.monotonic()) - started
    report = build_report(args, ops, history, injector, findings, duration, sending, stuck, errors, gunicorn)
    report["jobs"] = jobs_report(jobs.log)
    return report


def jobs_report(log) -> dict:
    from ledger.models import Hold
    from payments.models import Payment

    statuses = Payment.objects.filter(kind="authorization").values_list("status", flat=True)
    return {"expire_holds_runs": len(log.runs), "expire_holds_failed": sum(1 for r in log.runs if r.returncode),
            "expire_authorizations_runs": len(log.authorization_runs),
            "expire_authorizations_failed": sum(1 for r in log.authorization_runs if r.returncode),
            "authorizations_by_final_status": dict(sorted(Counter(statuses).items())),
            "expired_by_the_runs": sum(r.expired or 0 for r in log.runs),
            "holds_by_final_status": dict(sorted(Counter(Hold.objects.values_list("status", flat=True)).items())),
            "available_samples": log.samples, "available_reads_failed": log.sample_failures}


def _progress(started, budget, history, injector) -> None:
    with history.lock:
        settled = sum(1 for op in history.ops if op.outcome != "pending")
        inflight = history.inflight
    print(f"bank test: {time.monotonic() - started:6.1f}s  {budget.taken}/{budget.total} sent, {settled} settled "
          f"(incl. setup), {inflight} in flight, {injector.log.worker_kills} kills, "
          f"{injector.log.pg_restarts} pg restarts", file=sys.stderr, flush=True)


def _close_django_connections() -> None:
    if "django.db" in sys.modules:
        from django.db import connections

        connections.close_all()


def build_report(args, ops, history, injector, findings, duration, sending, stuck, errors, gunicorn) -> dict:
    work = [op for op in ops if not op.setup]
    outcomes = Counter(op.outcome for op in work)
    kinds = Counter(op.kind for op in work)
    acked_kinds = Counter(op.kind for op in work if op.outcome == "acked")
    refusals = Counter(f"{op.kind}:{op.code}" for op in work if op.outcome == "refused")
    retried = [op for op in work if op.attempts > 1]
    failures = Counter()
    for op in work:
        failures.update(op.failures)
    stats = history.stats
    log = injector.log
    fault_plan_met = log.worker_kills >= args.kills and log.pg_restarts >= args.pg_restarts
    paid_orders = sum(1 for op in work if op.kind in ("pay", "order_capture") and op.outcome == "acked"
                      and op.response["payment"]["status"] == "SUCCEEDED")
    return {
        "config": {"ops": args.ops, "clients": args.clients, "workers": args.workers, "accounts": args.accounts,
                   "kills": args.kills, "pg_restarts": args.pg_restarts, "seed": args.seed,
                   "fee_bps": args.fee_bps},
        "operations": {
            "attempted": len(work),
            "setup": len(ops) - len(work),
            "acknowledged": outcomes["acked"] + outcomes["refused"],
            "acknowledged_ok": outcomes["acked"],
            "acknowledged_refused": outcomes["refused"],
            "indeterminate": outcomes["indeterminate"],
            "by_kind": dict(sorted(kinds.items())),
            "ok_by_kind": dict(sorted(acked_kinds.items())),
            "refusals": dict(sorted(refusals.items())),
            "orders_paid": paid_orders,
        },
        "retries": {
            "operations_retried": len(retried),
            "resends": sum(op.attempts - 1 for op in work),
            "max_attempts_of_one_operation": max((op.attempts for op in work), default=0),
            "answers_replayed": sum(1 for op in work if op.replayed),
            "why": dict(sorted(failures.items())),
        },
        "requests": {"total": stats.requests, "cut": stats.cut, "timeouts": stats.timeouts,
                     "server_errors": stats.server_errors, "in_use": stats.in_use, "rate_limited": stats.rate_limited,
                     "refused_connections": stats.refused_connections},
        "faults": {"worker_kills": log.worker_kills, "kills_with_requests_in_flight": log.kills_with_requests_in_flight,
                   "kills_inside_provider_call": log.kills_inside_provider_call,
                   "pg_restarts": log.pg_restarts, "pg_restart_seconds": log.pg_restart_seconds,
                   "plan_met": fault_plan_met, "events": log.events},
        "violations": {"total": findings.total, "by_check": dict(findings.counts), "first": findings.violations},
        "checks": findings.checks,
        # Sending: until the last new operation was handed out. The rest of the run is the clients
        # waiting out the 60 s leases of keys whose requests died with a worker, then resending.
        "throughput": {"seconds": round(duration, 1), "sending_seconds": round(sending, 1),
                       "ops_per_second_sending": round(len(work) / max(sending, 0.001), 1),
                       "ops_per_second": round(len(work) / duration, 1),
                       "requests_per_second": round(stats.requests / duration, 1)},
        "driver_errors": errors + [f"still running at the deadline: {', '.join(stuck)}"] * bool(stuck),
        "gunicorn_log_tail": gunicorn.log_tail(3000) if findings.total or errors else "",
    }


def format_report(report: dict) -> str:
    o, r, q, f, v, t = (report[k] for k in ("operations", "retries", "requests", "faults", "violations", "throughput"))
    c = report["config"]
    lines = [
        f"Bank test: {c['clients']} clients, {c['workers']} gunicorn workers, {c['accounts']} accounts (USD, EUR), "
        f"seed {c['seed']}",
        f"operations   attempted {o['attempted']} (+{o['setup']} setup), acknowledged {o['acknowledged']} "
        f"({o['acknowledged_ok']} ok, {o['acknowledged_refused']} refused), indeterminate {o['indeterminate']}",
        f"  by kind    {o['by_kind']}",
        f"  ok         {o['ok_by_kind']}",
        f"  refusals   {o['refusals']}",
        f"retries      {r['operations_retried']} operations retried, {r['resends']} resends, "
        f"{r['answers_replayed']} answers replayed, at most {r['max_attempts_of_one_operation']} attempts",
        f"  why        {r['why']}",
        f"requests     {q['total']} sent: {q['cut']} cut, {q['timeouts']} timed out, {q['server_errors']} 5xx, "
        f"{q['in_use']} idempotency_key_in_use, {q['rate_limited']} 429",
        f"faults       {f['worker_kills']} worker kills ({f['kills_with_requests_in_flight']} with requests in flight, "
        f"{f['kills_inside_provider_call']} of them inside a pay's provider call), "
        f"{f['pg_restarts']} PostgreSQL restarts {f['pg_restart_seconds']}; plan met: {f['plan_met']}",
        *[f"  {event}" for event in f["events"]],
        *([f"jobs         {report['jobs']}"] if "jobs" in report else []),
        f"checks       {len(report['checks'])}: " + "; ".join(report["checks"]),
        f"violations   {v['total']}" + (f" {v['by_check']}" if v["total"] else ""),
        *[f"  {line}" for line in v["first"]],
        f"throughput   {t['ops_per_second_sending']} ops/s while sending ({t['sending_seconds']} s); "
        f"{t['ops_per_second']} ops/s and {t['requests_per_second']} requests/s over the whole run of {t['seconds']} s "
        "(which ends waiting out the 60 s key leases of requests that died with their worker)",
    ]
    if report["driver_errors"]:
        lines += ["driver errors", *[f"  {e}" for e in report["driver_errors"]]]
    if report["gunicorn_log_tail"]:
        lines += ["gunicorn log (tail)", report["gunicorn_log_tail"]]
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        report = run(args)
    except (ClusterError, load_with_postgres().PostgresUnavailable) as exc:
        print(f"bank test: could not set up the system under test: {exc}", file=sys.stderr)
        return 2
    print(format_report(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    passed = not report["violations"]["total"] and report["faults"]["plan_met"] and not report["driver_errors"]
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
