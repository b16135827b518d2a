"""docs/benchmarks.md shows hold + capture in transfers moved per second, next to the plain transfers
it is judged against, and issue 18's target beside issue 15's."""

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
        "hold_capture": run({"title": "Hold + capture between random customer accounts (spread)", "rps": 270.0,
                             "transfers_per_s": 135.0, "p50_ms": 35.0, "p99_ms": 60.0, "errors": 0}),
    }


def test_the_hold_capture_row_counts_transfers_moved_and_divides_them_by_plain_transfers():
    table = report.rows(results(), {}, judge(results(), {}, {}))
    names = [row["name"] for row in table]
    assert names == ["sql_spread", "transfers", "hold_capture"]
    row = table[2]
    assert row["rps"] == 270.0 and row["transfers_per_s"] == 135.0
    assert row["ratios"] == [("API transfers", 0.45)]
    assert row["target"]["number"] == 9 and row["target"]["met"] is True


def test_the_markdown_shows_the_hold_capture_row_and_issue_18s_target():
    judged = judge(results(), {}, {})
    text = report.markdown(report.rows(results(), {}, judged), MACHINE, judged, {})
    assert "## Targets (issues 15 and 18)" in text
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
