"""docs/benchmarks.md shows hold + capture in transfers moved per second, next to the plain transfers
it is judged against, transfers with events off next to transfers with events on, and issue 18's and
issue 19's targets beside issue 15's."""

from bench.throughput import report
from bench.throughput.targets import judge

MACHINE = {
    "date": "2026-12-02 13:05 UTC", "cpu_model": "Test CPU", "cores": 2, "ram_gb": "8", "os": "Linux",
    "postgresql": "15", "python": "3.11", "django": "5.2", "gunicorn": "23", "wrk": "wrk 4.1.0",
    "pgbench": "pgbench 15", "mode": "full", "runs": 3, "seconds": "10", "warmup": "2", "connections": 10,
    "workers": 5, "accounts": 1000, "max_batch": 1000, "wallet_users": 1000, "total_seconds": 500,
}


def run(figures: dict) -> dict:
    return {"title": figures.pop("title"), "runs": [{"rps": figures["rps"]}], "median": figures}


def results() -> dict:
    return {
        "sql_spread": run({"title": "Raw SQL", "rps": 2000.0, "p50_ms": 4.0, "p99_ms": 9.0, "errors": 0}),
        "transfers": run({"title": "Transfers", "rps": 300.0, "p50_ms": 30.0, "p99_ms": 50.0, "errors": 0}),
        "transfers_no_events": run({"title": "Transfers, events off (control)", "rps": 320.0, "p50_ms": 28.0,
                                    "p99_ms": 48.0, "errors": 0}),
        "hold_capture": run({"title": "Hold + capture between random customer accounts (spread)", "rps": 270.0,
                             "transfers_per_s": 135.0, "p50_ms": 35.0, "p99_ms": 60.0, "errors": 0}),
    }


def test_the_hold_capture_row_counts_transfers_moved_and_divides_them_by_plain_transfers():
    table = report.rows(results(), {}, judge(results(), {}, {}))
    names = [row["name"] for row in table]
    assert names == ["sql_spread", "transfers", "transfers_no_events", "hold_capture"]
    row = table[3]
    assert row["rps"] == 270.0 and row["transfers_per_s"] == 135.0
    assert row["ratios"] == [("API transfers", 0.45)]
    assert row["target"]["number"] == 9 and row["target"]["met"] is True


def test_the_markdown_shows_the_hold_capture_row_and_issue_18s_target():
    judged = judge(results(), {}, {})
    text = report.markdown(report.rows(results(), {}, judged), MACHINE, judged, {})
    assert "## Targets (issues 15, 18 and 19)" in text
    target_line = next(line for line in text.splitlines() if line.startswith("| 9 |"))
    assert "Issue 18" in target_line and ">= 0.4 x API transfers" in target_line
    assert "| 0.45 | yes |" in target_line
    row_line = next(line for line in text.splitlines() if line.startswith("| Hold + capture"))
    assert "| 270 |" in row_line and "135 (a hold + a capture each)" in row_line
    assert "0.45 x API transfers" in row_line and "target 9: >= 0.4 x API transfers: 0.45 met" in row_line


def test_a_run_without_hold_capture_leaves_its_target_not_applicable():
    partial = results()
    del partial["hold_capture"]
    judged = judge(partial, {}, {})
    target = next(target for target in judged if target["number"] == 9)
    assert target["met"] is None and "hold_capture not measured" in target["figure"]


def test_the_transfers_row_carries_target_1_and_issue_19s_target_10():
    judged = judge(results(), {}, {})
    table = report.rows(results(), {}, judged)
    transfers = next(row for row in table if row["name"] == "transfers")
    assert [target["number"] for target in transfers["targets"]] == [1, 10]
    assert transfers["target"]["number"] == 1
    control = next(row for row in table if row["name"] == "transfers_no_events")
    assert control["transfers_per_s"] == 320.0 and control["ratios"] == [("raw SQL spread", 0.16)]
    text = report.markdown(table, MACHINE, judged, {})
    target_line = next(line for line in text.splitlines() if line.startswith("| 10 |"))
    assert "Issue 19" in target_line and ">= 0.85 x transfers with events off" in target_line
    assert "| 0.94 | yes |" in target_line
    row_line = next(line for line in text.splitlines() if line.startswith("| Transfers |"))
    assert "target 1: >= 0.2 x raw SQL spread: 0.15 MISSED" in row_line
    assert "target 10: >= 0.85 x transfers with events off: 0.94 met" in row_line
    assert next(line for line in text.splitlines() if line.startswith("| Transfers, events off (control) |"))
    console = report.console(table, {**MACHINE, "cpu_model": "Test CPU"}, judged)
    assert "Targets (issues 15, 18 and 19)" in console and "10. Issue 19" in console


def test_a_run_without_the_events_off_control_leaves_target_10_not_applicable():
    partial = results()
    del partial["transfers_no_events"]
    judged = judge(partial, {}, {})
    target = next(target for target in judged if target["number"] == 10)
    assert target["met"] is None and "transfers_no_events not measured" in target["figure"]
