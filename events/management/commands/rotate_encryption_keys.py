from django.core.management.base import BaseCommand, CommandError

from events.services import secrets_reencrypt
from mintguard_site.secrets_at_rest import SecretUndecryptable


class Command(BaseCommand):
    help = ("Re-encrypt every stored secret with the first key of MINTGUARD_ENCRYPTION_KEYS. Run it after "
            "putting a new key first; then the old keys can be removed.")

    def handle(self, *args, **options):
        try:
            count = secrets_reencrypt()
        except SecretUndecryptable as exc:
            raise CommandError(f"{exc} Nothing was changed: keep every key that encrypted a stored secret.") from None
        self.stdout.write(f"Re-encrypted {count} secrets with the first encryption key.")
