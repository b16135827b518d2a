from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from mintguard_site.api.models import ApiClient
from mintguard_site.api.services import API_KEY_ROTATION_GRACE, api_key_rotate


class Command(BaseCommand):
    help = (
        "Give an API client a new key and print it once (the last line of output is the key alone). "
        "The old key keeps working for --grace-hours, so the client's services can switch over."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="The API client's name.")
        parser.add_argument(
            "--grace-hours", type=float, default=API_KEY_ROTATION_GRACE.total_seconds() / 3600,
            help="Hours the old key keeps working (default 24; 0 retires it at once, e.g. after a leak).",
        )

    def handle(self, *args, name: str, grace_hours: float, **options):
        if not 0 <= grace_hours <= 24 * 30:
            raise CommandError("--grace-hours must be from 0 to 720.")
        client = ApiClient.objects.filter(name=name.strip(), is_active=True).first()
        if client is None:
            raise CommandError(f"No active API client is named {name!r}.")
        client, key = api_key_rotate(client_id=client.pk, grace=timedelta(hours=grace_hours))
        until = client.previous_key_expires_at
        self.stdout.write(
            f"Rotated the key of {client.name} ({client.id}); "
            + (f"the old key works until {until:%Y-%m-%d %H:%M:%S} UTC. " if until else "the old key no longer works. ")
            + "Store this key now; it is not shown again:"
        )
        self.stdout.write(key)
