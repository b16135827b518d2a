from django.core.management.base import BaseCommand, CommandError

from mintguard_site.api.models import ApiClient, Scope, scopes_normalise
from mintguard_site.api.services import api_client_create


class Command(BaseCommand):
    help = "Create an API client and print its key once (the last line of output is the key alone)."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="A unique name for the client, e.g. checkout-service.")
        parser.add_argument(
            "--scopes", help=f"Comma-separated scopes the key may use, of {','.join(Scope.values)} (default: all).",
        )

    def handle(self, *args, name: str, scopes: str | None, **options):
        name = name.strip()
        if not name or len(name) > 64:
            raise CommandError("--name must be 1 to 64 characters.")
        if ApiClient.objects.filter(name=name).exists():
            raise CommandError(
                f"An API client named {name!r} already exists; revoke it in the admin or pick another name."
            )
        if scopes is not None:
            try:
                scopes = scopes_normalise([scope.strip() for scope in scopes.split(",") if scope.strip()])
            except ValueError as exc:
                raise CommandError(f"--scopes: {exc}") from None
        client, key = api_client_create(name=name, scopes=scopes)
        self.stdout.write(
            f"Created API client {client.name} ({client.id}) with scopes {', '.join(client.scopes)}. "
            "Store this key now; it is not shown again:"
        )
        self.stdout.write(key)
