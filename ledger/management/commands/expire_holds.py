"""manage.py expire_holds: record as EXPIRED the HELD holds past `expires_at` and release their `held`."""

from django.core.management.base import BaseCommand, CommandError

from ledger.services import holds_expire


class Command(BaseCommand):
    help = (
        "Record as EXPIRED every HELD hold whose expires_at has passed, giving back what its account's "
        "bucket counted as held. Such a hold already reserves nothing from the instant it expires; this "
        "only tidies its status. One short transaction per hold, so it may run while the API serves "
        "(a capture racing it: whichever locks the hold first wins). Idempotent; run it from cron."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch", type=int, default=1000, help="Holds per batch (default 1000).")

    def handle(self, *args, **options):
        batch = options["batch"]
        if batch < 1:
            raise CommandError("--batch must be at least 1.")
        total = 0
        while True:
            expired = holds_expire(limit=batch)
            total += len(expired)
            if len(expired) < batch:
                break
        self.stdout.write(f"Expired {total} hold(s).")
