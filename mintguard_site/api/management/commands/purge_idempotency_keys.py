from django.core.management.base import BaseCommand

from mintguard_site.api.services import idempotency_keys_purge


class Command(BaseCommand):
    help = "Delete idempotency keys older than MINTGUARD_IDEMPOTENCY_TTL."

    def handle(self, *args, **options):
        self.stdout.write(f"Purged {idempotency_keys_purge()} expired idempotency keys.")
