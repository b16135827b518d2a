"""manage.py reconcile: run every reconciliation check, store the run, exit 1 on any drift."""

import json

from django.core.management.base import BaseCommand, CommandError

from ledger.reconciliation import reconcile_run


class Command(BaseCommand):
    help = (
        "Check that the books balance: transactions, account balances, entry numbers, currency totals, "
        "customer balances and every check other apps registered. Stores the run for the dashboard and "
        "/metrics. Exit status 0 when clean, 1 when any drift is found."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the run as one JSON object.")

    def handle(self, *args, **options):
        run = reconcile_run()
        if options["json"]:
            self.stdout.write(json.dumps(run_as_dict(run), indent=2))
        else:
            self._write_report(run)
        if not run.ok:
            # CommandError: manage.py prints it to stderr and exits with its returncode.
            raise CommandError(f"reconciliation found {run.drift_count} drift(s)", returncode=1)

    def _write_report(self, run) -> None:
        width = max(len(check["name"]) for check in run.checks) if run.checks else 0
        self.stdout.write(f"Reconciliation run {run.pk} at {run.started_at:%Y-%m-%d %H:%M:%S} UTC, "
                          f"{run.duration_ms} ms")
        for check in run.checks:
            outcome = "ok" if not check["drift_count"] else f"{check['drift_count']} drift(s)"
            self.stdout.write(f"  {check['name']:<{width}}  {outcome:<12}  {check.get('duration_ms', 0)} ms")
        if run.ok:
            self.stdout.write(self.style.SUCCESS("Clean: the books balance."))
            return
        self.stdout.write(self.style.ERROR(f"{run.drift_count} drift(s):"))
        for drift in run.drifts:
            self.stdout.write(f"  [{drift['check']}] {drift['message']}")
        if run.drifts_truncated:
            self.stdout.write(f"  ... and {run.drift_count - len(run.drifts)} more (only the first "
                              f"{len(run.drifts)} are kept).")


def run_as_dict(run) -> dict:
    return {
        "id": run.pk,
        "ok": run.ok,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat(),
        "duration_ms": run.duration_ms,
        "drift_count": run.drift_count,
        "drifts_truncated": run.drifts_truncated,
        "checks": run.checks,
        "drifts": run.drifts,
    }
