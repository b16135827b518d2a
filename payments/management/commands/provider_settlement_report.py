"""manage.py provider_settlement_report --date YYYY-MM-DD: the provider's settlement file of a UTC day."""

import re
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from payments.providers import get_provider
from payments.services.settlements import settlement_csv

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_day(value: str) -> date:
    """Parse a UTC day written YYYY-MM-DD, or raise ValueError saying what is wrong."""
    if not _DAY.fullmatch(value or ""):
        raise ValueError(f"{value!r} is not a day written YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a day of the calendar") from None


class Command(BaseCommand):
    help = (
        "Print the payment provider's settlement report of a UTC day as CSV on stdout (header "
        "provider_reference,type,amount,currency,fee,settled_at): every charge, capture and refund it settled "
        "that day, with its fee. The simulated provider settles at once. Import it with import_settlement."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", required=True, help="The UTC day, YYYY-MM-DD.")

    def handle(self, *args, **options):
        try:
            day = parse_day(options["date"])
        except ValueError as error:
            raise CommandError(f"--date: {error}.", returncode=2) from None
        try:
            items = get_provider().settlement_report(day=day)
        except NotImplementedError as error:
            raise CommandError(str(error), returncode=2) from None
        self.stdout.write(settlement_csv(items), ending="")
