"""Turn the runs' medians into the comparison rows, the console table, docs/benchmarks.md and the chart."""

import datetime
import importlib.metadata
import os
import platform
import subprocess
import sys

from .targets import shown, summary

# Ratios shown for information: scenario -> the rows it is divided by (requests/s).
COMPARED_WITH = {
    "healthz": ["sql_spread"],
    "transfers": ["sql_spread", "healthz"],
    "transfers_no_events": ["sql_spread"],
    "hold_capture": ["transfers"],
    "topup": ["transfers", "sql_hot"],
    "topup_one_bucket": ["transfers", "topup"],
    "pay": ["sql_spread", "transfers", "sql_hot"],
    "spend": ["transfers", "sql_hot"],
    "contended": ["transfers", "sql_spread"],
    "batch": ["sql_spread"],
    "replay": ["healthz"],
    "sql_hot": ["sql_spread"],
}
SHORT = {
    "sql_spread": "raw SQL spread", "sql_hot": "raw SQL hot", "transfers": "API transfers",
    "transfers_no_events": "transfers with events off",
    "statement_page_1": "page 1", "topup": "top-ups over buckets", "healthz": "/healthz",
}
TRANSFER_SCENARIOS = {"transfers", "transfers_no_events", "topup", "topup_one_bucket", "pay", "spend", "contended",
                      "sql_spread", "sql_hot"}
ORDER = ["sql_spread", "sql_hot", "healthz", "transfers", "transfers_no_events", "hold_capture", "topup",
         "topup_one_bucket", "pay", "spend", "contended", "replay", "statement_page_1", "statement_deep", "batch"]
TITLES = {
    "batch": "Batch transfers (POST /transfers/batch)",
}


def rows(results: dict, notes: dict, targets: list[dict]) -> list[dict]:
    """One row per scenario in ORDER, with its ratios and the targets (issue 15, 18 or 19) judged on it, if any:
    `targets`, in their order (transfers has two: 1, and 10 against transfers_no_events), `target` the first."""
    by_scenario: dict[str, list[dict]] = {}
    for target in targets:
        if target["scenario"]:
            by_scenario.setdefault(target["scenario"], []).append(target)
    out = []
    for name in ORDER:
        result = results.get(name)
        if result is None:
            if name in notes:
                out.append({"name": name, "title": TITLES.get(name, name), "missing": notes[name]})
            continue
        median = result["median"]
        row = {
            "name": name, "title": result["title"], "rps": median.get("rps", 0.0), "p50_ms": median.get("p50_ms"),
            "p99_ms": median.get("p99_ms"), "errors": median.get("errors", 0), "requests": median.get("requests", 0),
            "runs": [run["rps"] for run in result["runs"]], "baseline": name.startswith("sql_"),
        }
        if name in TRANSFER_SCENARIOS:
            row["transfers_per_s"] = row["rps"]
        if "transfers_per_s" in median:
            row["transfers_per_s"] = median["transfers_per_s"]
            row["batch_size"] = result.get("batch_size")
        if name == "replay":
            row["replayed"] = median.get("replayed", 0)
        row["ratios"] = []
        for other in COMPARED_WITH.get(name, []):
            if other in results and results[other]["median"].get("rps"):
                value = row.get("transfers_per_s", row["rps"]) / results[other]["median"]["rps"]
                row["ratios"].append((SHORT.get(other, other), value))
        if name in by_scenario:
            row["targets"] = by_scenario[name]
            row["target"] = by_scenario[name][0]
        out.append(row)
    return out


def _cell(text: str) -> str:
    """Keep an error message inside its markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _met_cell(met: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "n/a"}[met]


def _fmt(value, digits=0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _ratio_text(row) -> str:
    return "; ".join(f"{value:.2f} x {label}" for label, value in row.get("ratios", []))


def _target_text(row) -> str:
    targets = row.get("targets") or ([row["target"]] if row.get("target") else [])
    return "; ".join(f"target {target['number']}: {target['target']}: {target['figure']} {shown(target['met'])}"
                     for target in targets)


def console(table: list[dict], machine: dict, targets: list[dict]) -> str:
    lines = [f"\nMintGuard benchmark ({machine['mode']}: {machine['runs']} x {machine['seconds']} s, "
             f"{machine['connections']} connections, {machine['workers']} gunicorn workers, "
             f"{machine['cpu_model']}, {machine['cores']} cores)"]
    header = (f"{'scenario':<18} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'transfers/s':>12} {'err':>5}  "
              "ratios / target")
    lines += [header, "-" * len(header)]
    for row in table:
        if "missing" in row:
            lines.append(f"{row['name']:<18} {row['missing']}")
            continue
        extra = "; ".join(part for part in (_ratio_text(row), _target_text(row)) if part)
        lines.append(f"{row['name']:<18} {_fmt(row['rps']):>9} {_fmt(row['p50_ms'], 1):>8} {_fmt(row['p99_ms'], 1):>8} "
                     f"{_fmt(row.get('transfers_per_s')):>12} {row['errors']:>5}  {extra}")
    lines += ["", f"Targets (issues 15, 18 and 19): {summary(targets)}"]
    for target in targets:
        lines.append(f"{target['number']}. {target['what']} {target['target']}: {target['figure']}  "
                     f"{shown(target['met'])}")
    return "\n".join(lines)


def markdown(table: list[dict], machine: dict, targets: list[dict], checks: dict) -> str:
    out = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`python -m bench.throughput`); do not edit by hand. "
        f"Run {machine['date']}, {machine['mode']} plan, {machine['total_seconds']} s in all.",
        "",
        "## Machine and method",
        "",
        f"- CPU: {machine['cpu_model']}, {machine['cores']} cores; RAM {machine['ram_gb']} GB; {machine['os']}",
        f"- PostgreSQL {machine['postgresql']} (private throwaway cluster: fsync, synchronous_commit and "
        "full_page_writes off, as scripts/with_postgres.py sets them, for the API and the baseline alike)",
        f"- Python {machine['python']}, Django {machine['django']}, gunicorn {machine['gunicorn']} with "
        f"{machine['workers']} sync workers (gunicorn.conf.py), DEBUG off, LOG_LEVEL=WARNING, loopback HTTP",
        f"- Load: {machine['wrk']} with bench/throughput/lua/scenario.lua (fresh Idempotency-Key / reference_id "
        f"per request, random accounts and users), {machine['connections']} connections; baseline: "
        f"{machine['pgbench']} (`-M extended`), {machine['connections']} clients, the same durations",
        f"- Every figure is the median of {machine['runs']} runs of {machine['seconds']} s, each after a "
        f"{machine['warmup']} s warm-up. Load generator, server and database share the same "
        f"{machine['cores']} cores. The 1-minute load average before the run was {machine.get('load_before', '?')}: "
        "anything well above 0 means other work competed for these cores and the figures are low.",
        f"- Data: {machine['accounts']:,} funded customer accounts (spread), 4 (contended), "
        f"{machine['wallet_users']:,} funded wallet users, a statement of {machine.get('deep_seed', '-')}, "
        "a fresh unpaid order per pay request; the simulated provider is told to succeed "
        "(`X-Provider-Simulate: success`).",
        "- Requests/s counts 2xx responses only; `errors` counts every other response or socket error.",
        "- Batch: the largest of 1,000 / 500 / 250 / 100 transfers per request "
        f"(at most {machine.get('max_batch', 1000):,}) that the endpoint accepts "
        f"(probe answers: {machine.get('batch_probe', '-')}); each wrk connection sends random transfers among its "
        "own slice of the 1,000 accounts, like separate clients batching their own accounts.",
        "- Hold + capture (issue 18): each transfer is two requests, `POST /api/v1/holds` between two random "
        "customer accounts, then `POST /api/v1/holds/{id}/capture` of the whole hold, each with its own "
        "Idempotency-Key; requests/s and latencies count both, transfers/s counts the captures that succeeded "
        "(one transfer moved each). The holds a run stops before capturing are voided before the books are "
        "reconciled.",
        "- Events (issue 19): `transfers` runs with events on, as production does: each transfer records its "
        "`transfer.created` event and enqueues its dispatch in the transfer's transaction, and the bench client "
        "has a webhook endpoint subscribed to every event (a loopback URL; no task worker runs, so nothing is "
        "delivered). `transfers_no_events` is the same load, data and connections on a second gunicorn started with "
        "`MINTGUARD_EVENTS=false` (same settings otherwise), in alternation with `transfers`: "
        f"{machine.get('paired', 'each run cut into slices of about 2 s, the two turn about')}, each slice counted "
        "as a run of its own, so drift in how busy the machine is weighs on both alike. Target 10 is the median of "
        "the slice-by-slice ratios (with the ratio of the two medians beside it).",
        "- healthz: `GET /healthz` without credentials, through every middleware, touching no database: the "
        "framework's floor, which replays are judged against.",
        "- After the seeding and after every API scenario, `manage.py reconcile` checks the books the scenario "
        "left (Reconciliation, below). Last, `bench/profile_request.py transfer` measures the in-process CPU of "
        "API transfers on the same database (time.process_time() around the WSGI application gunicorn serves, "
        "called in-process, no profiler).",
        "",
        "## Targets (issues 15, 18 and 19)",
        "",
        f"{summary(targets)} (issue 15 numbers 1-8, 6 has two parts; 9 is issue 18's, 10 issue 19's).",
        "",
        "| # | target | figure | met |",
        "| --- | --- | --- | --- |",
        *(f"| {target['number']} | {target['what']}: {target['target']} | {_cell(target['figure'])} | "
          f"{_met_cell(target['met'])} |" for target in targets),
        "",
        "## Results",
        "",
        "| scenario | requests/s | p50 ms | p99 ms | transfers/s | errors | ratio to baseline | target |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for row in table:
        if "missing" in row:
            out.append(f"| {row['title']} | {row['missing']} | | | | | | |")
            continue
        transfers = _fmt(row.get("transfers_per_s"))
        if row.get("batch_size"):
            transfers += f" ({row['batch_size']:,} per request)"
        if row["name"] == "hold_capture":
            transfers += " (a hold + a capture each)"
        ratio = _ratio_text(row)
        if row["name"] == "statement_deep" and row.get("target", {}).get("value") is not None:
            ratio = f"p50 {row['target']['value']:.2f} x page 1"
        if row["name"] == "replay":
            ratio = "; ".join(part for part in (ratio, f"{row.get('replayed', 0):,} responses marked "
                                                       "Idempotent-Replayed") if part)
        out.append(f"| {row['title']} | {_fmt(row['rps'])} | {_fmt(row['p50_ms'], 1)} | {_fmt(row['p99_ms'], 1)} | "
                   f"{transfers} | {row['errors']} | {ratio} | {_target_text(row)} |")
    out += ["", "## Reconciliation", "", "| after | drifts | seconds |", "| --- | ---: | ---: |"]
    for run in checks.get("reconciliations", []):
        drifts = _cell("failed: " + run.get("detail", "")) if run["drift_count"] is None else run["drift_count"]
        out.append(f"| {run['after']} | {drifts} | {run['seconds']} |")
    cpu = checks.get("cpu")
    if cpu:
        out += ["", "## In-process CPU per transfer", "",
                f"`bench/profile_request.py transfer` on this run's database: {cpu['cpu_ms_median']:.2f} ms CPU "
                f"per request (median of {cpu['requests']} after {cpu['warmup']} of warm-up; mean "
                f"{cpu['cpu_ms_mean']:.2f} ms), {cpu['wall_ms_median']:.2f} ms wall time, {cpu['queries']} queries "
                f"and {cpu['commits']} commits per transfer."]
    out += ["", "## Every run (requests/s)", "", "| scenario | runs |", "| --- | --- |"]
    for row in table:
        if "runs" in row:
            out.append(f"| {row['name']} | {', '.join(_fmt(value) for value in row['runs'])} |")
    out += [
        "", "![requests per second by scenario](benchmarks.png)", "",
        "## Running it", "",
        "- `make bench`: this file and the chart, about 10 minutes; `make bench BENCH_ARGS=--quick` (1 run of 3 s "
        "per scenario, written to var/bench-quick/) to iterate; `BENCH_ARGS=\"--only healthz,transfers,replay\"` "
        "`--only hold_capture` or `--only transfers_no_events` to narrow (the rows their targets divide by run too); "
        "`.venv/bin/python -m bench.throughput --help` for every knob.",
        "- `.venv/bin/python bench/profile_request.py transfer` (or topup, spend, pay, replay, statement, batch, "
        "healthz): the in-process CPU per request, the queries of one request with their times, and a cProfile of a "
        "few hundred, on a private PostgreSQL (`make profile PROFILE_ARGS=replay`).",
        "",
    ]
    return "\n".join(out)


def chart(table: list[dict], path) -> str | None:
    """Bar chart of requests/s per scenario (batch, hold + capture: transfers/s), raw SQL baselines in grey."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    shown = [row for row in table if "missing" not in row]
    labels, values, colors = [], [], []
    for row in shown:
        if row["name"] == "batch":
            labels.append(f"batch (transfers/s, {row.get('batch_size')}/req)")
            values.append(row["transfers_per_s"])
            colors.append("#2a9d8f")
        elif row["name"] == "hold_capture":
            labels.append("hold + capture (transfers/s)")
            values.append(row["transfers_per_s"])
            colors.append("#2a9d8f")
        else:
            labels.append(row["name"].replace("_", " "))
            values.append(row["rps"])
            colors.append("#9e9e9e" if row["baseline"] else "#3d5a80")
    figure, axis = plt.subplots(figsize=(9, 0.45 * len(shown) + 1.5))
    positions = range(len(shown))[::-1]
    axis.barh(list(positions), values, color=colors)
    axis.set_yticks(list(positions), labels)
    for position, value in zip(positions, values, strict=True):
        axis.text(value, position, f" {value:,.0f}", va="center", fontsize=8)
    axis.set_xlabel("requests per second (median of runs); grey: raw SQL baseline (pgbench)")
    axis.set_title("MintGuard API vs raw PostgreSQL, same machine, same run")
    axis.set_xlim(0, max(values + [1]) * 1.18)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return str(path)


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):  # noqa: SIM115
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gb() -> str:
    try:
        for line in open("/proc/meminfo"):  # noqa: SIM115
            if line.startswith("MemTotal"):
                return f"{int(line.split()[1]) / 1024 / 1024:.0f}"
    except OSError:
        pass
    return "?"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _pgbench_version(bin_dir) -> str:
    try:
        result = subprocess.run([f"{bin_dir}/pgbench", "--version"], capture_output=True, text=True)
        return result.stdout.strip() or "pgbench"
    except OSError:
        return "pgbench"


def machine_info(*, plan, pg_version: str, wrk_version: str, extra: dict, pg_bin: str = "") -> dict:
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gb": _ram_gb(),
        "os": f"{platform.system()} {platform.release()}",
        "postgresql": pg_version,
        "python": sys.version.split()[0],
        "django": _version("Django"),
        "gunicorn": _version("gunicorn"),
        "wrk": wrk_version,
        "pgbench": _pgbench_version(pg_bin) if pg_bin else "pgbench",
        "mode": plan.mode,
        "runs": plan.runs,
        "seconds": f"{plan.seconds:g}",
        "warmup": f"{plan.warmup:g}",
        "connections": plan.connections,
        "workers": plan.workers,
        "accounts": plan.accounts,
        "max_batch": plan.max_batch,
        "wallet_users": plan.wallet_users,
        **extra,
    }
