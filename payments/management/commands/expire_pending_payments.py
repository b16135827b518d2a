"""manage.py expire_pending_payments --older-than 24h: settle pending payments no webhook confirmed."""

import re
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from payments.services import pending_payments_expire

_AGE = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(value: str) -> timedelta:
    """Parse `30m`, `24h`, `2d` or `90s` into a timedelta."""
    match = _AGE.match(value or "")
    if not match:
        raise ValueError(f"{value!r} is not an age like 30m, 24h or 2d")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()])


class Command(BaseCommand):
    help = (
        "For each PENDING_PAYMENT order whose payment has waited longer than --older-than, ask the provider "
        "what became of the charge: succeeded -> PAID (booked once), anything else -> FAILED with "
        "failure_reason pending_expired. Idempotent: a second run finds nothing left to do. Each payment is "
        "settled on its own: one that fails is reported and left PENDING, the others are settled, and the "
        "command exits 1."
    )

    def add_arguments(self, parser):
        parser.add_argument("--older-than", default="24h", help="Age like 30m, 24h or 2d (default 24h).")

    def handle(self, *args, **options):
        try:
            age = parse_age(options["older_than"])
        except ValueError as exc:
            raise CommandError(f"--older-than: {exc}") from None
        report = pending_payments_expire(older_than=age)
        self.stdout.write(
            f"Pending payments older than {options['older_than'].strip()}: {report.checked} checked, "
            f"{len(report.paid)} paid (the provider had charged), {len(report.failed)} failed (pending_expired), "
            f"{len(report.ignored)} already settled meanwhile."
        )
        if report.provider_unreachable:
            self.stdout.write(f"The provider could not answer for {report.provider_unreachable} of them; "
                              "a later PAID webhook can still pay those.")
        for label, order_ids in (("paid", report.paid), ("failed", report.failed)):
            for order_id in order_ids:
                self.stdout.write(f"  {label:<6} {order_id}")
        if report.errors:
            for order_id, error in report.errors:
                self.stderr.write(f"  error  {order_id}: {error}")
            # CommandError: manage.py prints it to stderr and exits with its returncode.
            raise CommandError(f"{len(report.errors)} of {report.checked} pending payment(s) could not be settled; "
                               "they stay PENDING for the next run.", returncode=1)
