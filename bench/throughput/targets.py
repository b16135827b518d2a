"""Issue 15's "done means" (targets 1-8), issue 18's (target 9) and issue 19's (target 10), judged
from one run: every target with its figure and met or missed.

Ratios divide two rows of the same run (medians of its runs), so the machine's speed cancels out.
Target 5 is bench/profile_request.py's in-process CPU per transfer; target 7 is `manage.py
reconcile`, run after the seeding and after every API scenario. Target 9 is issue 18's "cost per
transfer moved of hold + capture within 2.5 x a plain transfer": at the same concurrency, a hold +
capture pair moves its transfer in at most 2.5 x the time a plain transfer takes, that is
hold_capture's transfers/s >= 1 / 2.5 = 0.4 x the transfers scenario's requests/s. Target 10 is
issue 19's cost of events on the money path: transfers with events on (and a webhook endpoint
subscribed to every event) reach at least 0.85 x the requests/s of the same transfers on a gunicorn
started with MINTGUARD_EVENTS=false (transfers_no_events: same data, same connections). Its two
rows are measured in alternation, in slices of about 2 s (bench/throughput/harness.py,
`control_of`), so its figure is the paired one: the median of the slice-by-slice ratios, each from
two runs seconds apart, which a machine whose speed drifts skews far less than a ratio of medians.
"""

import statistics
from dataclasses import dataclass

CPU_PER_TRANSFER_MS = 2.0
HOLD_CAPTURE_COST = 2.5  # issue 18: a transfer moved by hold + capture costs at most this many plain transfers
EVENTS_SHARE = 0.85  # issue 19: transfers with events keep at least this share of the rate without


@dataclass(frozen=True)
class Ratio:
    number: int  # the target's number: issue 15 numbers 1-8, issue 18's is 9, issue 19's 10
    what: str
    scenario: str  # the row judged
    metric: str
    base: str  # the row it is divided by
    base_metric: str
    threshold: float
    sense: str  # ">=" or "<="
    unit: str  # what the ratio is a multiple of
    issue: int = 15  # the issue whose "done means" states it
    paired: bool = False  # the two rows ran in alternation: judge the median of the run-by-run ratios

    @property
    def text(self) -> str:
        return f"{self.sense} {self.threshold:g} x {self.unit}"


RATIOS = [
    Ratio(1, "API transfers", "transfers", "rps", "sql_spread", "rps", 0.20, ">=", "raw SQL spread"),
    Ratio(2, "Pays", "pay", "rps", "sql_spread", "rps", 0.18, ">=", "raw SQL spread"),
    Ratio(3, "Idempotent replays", "replay", "rps", "healthz", "rps", 0.5, ">=", "/healthz"),
    Ratio(4, "Batch, in transfers/s", "batch", "transfers_per_s", "sql_spread", "rps", 3.0, ">=", "raw SQL spread"),
    Ratio(6, "Hot wallet top-ups", "topup", "rps", "transfers", "rps", 0.9, ">=", "API transfers"),
    Ratio(6, "Deep statement page (1,000 unless --deep-page), p50", "statement_deep", "p50_ms",
          "statement_page_1", "p50_ms", 1.5, "<=", "page-1 p50 latency"),
    Ratio(8, "/healthz through the middleware stack", "healthz", "rps", "sql_spread", "rps", 1.0, ">=",
          "raw SQL spread"),
    Ratio(9, f"Issue 18: hold + capture, in transfers moved/s (cost per transfer moved <= {HOLD_CAPTURE_COST:g} x "
             "a plain transfer)", "hold_capture", "transfers_per_s", "transfers", "rps",
          1 / HOLD_CAPTURE_COST, ">=", "API transfers", issue=18),
    Ratio(10, "Issue 19: transfers with events on (a webhook endpoint subscribed to every event)", "transfers",
          "rps", "transfers_no_events", "rps", EVENTS_SHARE, ">=", "transfers with events off", issue=19,
          paired=True),
]
NOT_MEASURED = "not measured in this run"


def bases_of(scenarios: set[str]) -> set[str]:
    """The rows the targets of `scenarios` are divided by: a ratio needs both sides from one run."""
    return {ratio.base for ratio in RATIOS if ratio.scenario in scenarios}


def judge(results: dict, notes: dict, checks: dict) -> list[dict]:
    """Return the targets in their order (issue 15's, then 18's and 19's): number, issue, what, target, scenario,
    value, figure, met.

    `met` is True or False, or None when the run did not measure it (`figure` says why).
    """
    judged = [_ratio(ratio, results, notes) for ratio in RATIOS]
    judged += [_cpu(checks), _reconciled(checks, results)]
    return sorted(judged, key=lambda target: target["number"])


def _ratio(ratio: Ratio, results: dict, notes: dict) -> dict:
    judged = {"number": ratio.number, "issue": ratio.issue, "what": ratio.what, "target": ratio.text,
              "scenario": ratio.scenario}
    value = results.get(ratio.scenario, {}).get("median", {}).get(ratio.metric)
    base = results.get(ratio.base, {}).get("median", {}).get(ratio.base_metric)
    if value is None or not base:
        missing = ratio.scenario if value is None else ratio.base
        # A scenario the harness tried and could not run (no batch endpoint) misses its target.
        if missing in notes:
            return {**judged, "value": None, "figure": f"{missing}: {notes[missing]}", "met": False}
        return {**judged, "value": None, "figure": f"{missing} {NOT_MEASURED}", "met": None}
    share, figure = value / base, f"{value / base:.2f}"
    runs = [run.get(ratio.metric) for run in results[ratio.scenario].get("runs", [])]
    base_runs = [run.get(ratio.base_metric) for run in results[ratio.base].get("runs", [])]
    if ratio.paired and len(runs) > 1 and len(runs) == len(base_runs) and all(base_runs):
        pairs = [run / base_run for run, base_run in zip(runs, base_runs, strict=True)]
        share = statistics.median(pairs)
        low, _, high = statistics.quantiles(pairs, n=4, method="inclusive")
        figure = (f"{share:.2f} (median of {len(pairs)} paired runs, middle half {low:.2f}-{high:.2f}; "
                  f"ratio of the medians {value / base:.2f})")
    met = share >= ratio.threshold if ratio.sense == ">=" else share <= ratio.threshold
    return {**judged, "value": share, "figure": figure, "met": met}


def _cpu(checks: dict) -> dict:
    judged = {"number": 5, "issue": 15, "what": "In-process CPU per transfer (bench/profile_request.py, PostgreSQL)",
              "target": f"<= {CPU_PER_TRANSFER_MS:g} ms", "scenario": None}
    cpu = checks.get("cpu")
    if cpu is None:
        error = checks.get("cpu_error")
        figure = f"failed: {error}" if error else "not measured in this run: `bench/profile_request.py transfer`"
        return {**judged, "value": None, "figure": figure, "met": False if error else None}
    value = cpu["cpu_ms_median"]
    figure = f"{value:.2f} ms (median of {cpu['requests']}; mean {cpu['cpu_ms_mean']:.2f} ms)"
    return {**judged, "value": value, "figure": figure, "met": value <= CPU_PER_TRANSFER_MS}


def _reconciled(checks: dict, results: dict) -> dict:
    judged = {"number": 7, "issue": 15, "what": "`reconcile` clean after every scenario", "target": "0 drifts",
              "scenario": None}
    runs = checks.get("reconciliations", [])
    checked = {run["after"] for run in runs}
    unchecked = sorted(name for name in results if not name.startswith("sql_") and name not in checked)
    if not runs:
        return {**judged, "value": None, "figure": NOT_MEASURED, "met": None}
    if any(run["drift_count"] is None for run in runs):
        failed = [run["after"] for run in runs if run["drift_count"] is None]
        return {**judged, "value": None, "figure": f"reconcile failed after {', '.join(failed)}", "met": False}
    drifts = sum(run["drift_count"] for run in runs)
    dirty = [run["after"] for run in runs if not run["clean"]]
    figure = f"{drifts} drifts in {len(runs)} runs" + (f" (not clean after {', '.join(dirty)})" if dirty else "")
    if unchecked:
        figure += f"; no reconcile after {', '.join(unchecked)}"
    return {**judged, "value": drifts, "figure": figure, "met": not dirty and not unchecked}


def summary(judged: list[dict]) -> str:
    """One line: how many targets this run met, and which it missed or did not measure."""
    def numbers(met):
        # Target 6 has two parts: name it once.
        return ", ".join(dict.fromkeys(str(target["number"]) for target in judged if target["met"] is met)) or "none"

    met = sum(1 for target in judged if target["met"] is True)
    return f"{met} of {len(judged)} met; missed: {numbers(False)}; not measured: {numbers(None)}"


def shown(met: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "n/a"}[met]
