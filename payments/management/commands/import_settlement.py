"""manage.py import_settlement FILE: reconcile a provider's settlement file; exit 1 with breaks, 2 if refused."""

import getpass
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from payments.exceptions import SettlementFileInvalid
from payments.services.settlements import SETTLEMENT_FILE_MAX_BYTES, SettlementImport, settlement_import


def _who() -> str:
    try:
        return f"manage.py import_settlement ({getpass.getuser()})"
    except (KeyError, OSError):  # no name for this uid (a container)
        return "manage.py import_settlement"


def summary(result: SettlementImport) -> list[str]:
    """The lines that tell an operator what an import found."""
    run = result.run
    fees = ", ".join(f"{total} {currency}" for currency, total in run.fees.items()) or "none"
    lines = [
        f"Settlement run {run.pk} ({run.file_name}, sha256 {run.file_sha256[:12]}): {run.lines} line(s), "
        f"{run.matched} matched, {result.break_count} break(s); fees posted: {fees} (minor units).",
    ]
    lines += [f"  {kind:<20} {count}" for kind, count in sorted(result.breaks.items())]
    return lines


class Command(BaseCommand):
    help = (
        "Import a provider settlement file (CSV: provider_reference,type,amount,currency,fee,settled_at): match "
        "every line to a payment or refund, record breaks, post the matched lines' fees once (DR provider_fees, "
        "CR cash). Exit 0 when everything matched, 1 when the run has breaks (resolve them on the dashboard, "
        "/settlements/), 2 when the file is refused (nothing stored). Importing the same file again stores and "
        "posts nothing and exits as the first import did."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path of the settlement CSV file.")

    def handle(self, *args, **options):
        path = Path(options["file"])
        try:
            with path.open("rb") as stream:
                # One byte more than allowed is enough to refuse a file that is too large.
                content = stream.read(SETTLEMENT_FILE_MAX_BYTES + 1)
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror or error}.", returncode=2) from None
        try:
            result = settlement_import(content=content, file_name=path.name, created_by=_who())
        except SettlementFileInvalid as error:
            for line, message in error.errors:
                self.stderr.write(f"  line {line}: {message}" if line else f"  {message}")
            raise CommandError(f"{path.name} refused: {len(error.errors)} problem(s); nothing was stored or "
                               "posted.", returncode=2) from None
        if not result.created:
            self.stdout.write(f"{path.name} was imported before, on {result.run.created_at:%Y-%m-%d %H:%M:%S} UTC: "
                              "nothing was stored or posted this time.")
        for line in summary(result):
            self.stdout.write(line)
        if result.exit_code:
            raise CommandError(f"{result.break_count} break(s) to resolve at /settlements/{result.run.pk}/.",
                               returncode=result.exit_code)
