"""manage.py send_provider_webhook ORDER_ID PAID|FAILED: sign and send a provider webhook, like the provider would."""

import json
import urllib.error
import urllib.request
import uuid

from django.core.management.base import BaseCommand, CommandError

from payments import webhooks

DEFAULT_URL = "http://127.0.0.1:8000/api/v1/webhooks/provider"


class Command(BaseCommand):
    help = (
        "Sign a provider event with the first MINTGUARD_PROVIDER_WEBHOOK_SECRET (Standard Webhooks) and POST it "
        "to a running server; print the HTTP status and body. Exit 1 unless the server answered 2xx."
    )

    def add_arguments(self, parser):
        parser.add_argument("order_id")
        parser.add_argument("outcome", choices=["PAID", "FAILED"])
        parser.add_argument("--url", default=DEFAULT_URL, help=f"Webhook URL (default {DEFAULT_URL}).")
        parser.add_argument("--event-id", help="The event id (the dedupe key); default: a new one.")
        parser.add_argument("--webhook-id", help="The webhook-id header; default: a new one.")
        parser.add_argument("--timeout", type=float, default=10.0, help="Seconds to wait for the server.")

    def handle(self, *args, **options):
        url = options["url"]
        if not url.startswith(("http://", "https://")):
            raise CommandError("--url must be an http:// or https:// URL.")
        secrets = webhooks.configured_secrets()
        if not secrets:
            raise CommandError("MINTGUARD_PROVIDER_WEBHOOK_SECRET is not set.")
        event_id = options["event_id"] or f"evt_{uuid.uuid4().hex}"
        body = json.dumps(
            {"event_id": event_id, "order_id": options["order_id"], "outcome": options["outcome"]},
            separators=(",", ":"),
        ).encode()
        try:
            headers = webhooks.sign(
                secret=secrets[0], webhook_id=options["webhook_id"] or f"msg_{uuid.uuid4().hex}", body=body
            )
        except ValueError as exc:
            raise CommandError(f"MINTGUARD_PROVIDER_WEBHOOK_SECRET: {exc}") from None
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            url, data=body, method="POST", headers={**headers, "Content-Type": "application/json"},
        )
        self.stdout.write(f"POST {url} event_id={event_id} outcome={options['outcome']}")
        try:
            # The URL scheme is checked above (http/https only).
            with urllib.request.urlopen(request, timeout=options["timeout"]) as response:  # noqa: S310  # nosec B310
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, payload = error.code, error.read()
        except (urllib.error.URLError, OSError) as error:
            raise CommandError(f"could not reach {url}: {getattr(error, 'reason', error)}") from None
        self.stdout.write(f"{status} {payload.decode('utf-8', errors='replace')}")
        if not 200 <= status < 300:
            raise CommandError(f"the server answered {status}", returncode=1)
