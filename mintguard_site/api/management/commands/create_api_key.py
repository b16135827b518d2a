from django.core.management.base import BaseCommand, CommandError

from mintguard_site.api.models import ApiClient
from mintguard_site.api.services import api_client_create


class Command(BaseCommand):
    help = "Create an API client and print its key once (the last line of output is the key alone)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="A unique name for the client, e.g. checkout-service.")

    def handle(self, *args, name: str, **options):
        name = name.strip()
        if not name or len(name) > 64:
            raise CommandError("--name must be 1 to 64 characters.")
        if ApiClient.objects.filter(name=name).exists():
            raise CommandError(
                f"An API client named {name!r} already exists; revoke it in the admin or pick another name."
            )
        client, key = api_client_create(name=name)
        self.stdout.write(f"Created API client {client.name} ({client.id}). Store this key now; it is not shown again:")
        self.stdout.write(key)
