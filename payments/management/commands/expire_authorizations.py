"""manage.py expire_authorizations: expire authorizations past MINTGUARD_AUTHORIZATION_TTL, finish abandoned ones."""

from django.core.management.base import BaseCommand, CommandError

from payments.services import authorizations_expire


class Command(BaseCommand):
    help = (
        "Release at the provider every authorization not captured within MINTGUARD_AUTHORIZATION_TTL seconds: "
        "payment EXPIRED, order CANCELED (if the provider says it was captured after all, the capture is booked "
        "instead). Captures and voids whose request died are finished as the request would have. Idempotent: "
        "a second run finds nothing left to do. One that fails is reported and left for the next run, and the "
        "command exits 1."
    )

    def handle(self, *args, **options):
        report = authorizations_expire()
        self.stdout.write(
            f"Authorizations: {report.checked} checked, {len(report.expired)} expired, {len(report.captured)} "
            f"captured, {len(report.voided)} voided, {len(report.ignored)} already settled meanwhile."
        )
        if report.provider_unreachable:
            self.stdout.write(f"The provider could not be reached for {len(report.provider_unreachable)} of them; "
                              "they are left for the next run.")
        for label, order_ids in (("expired", report.expired), ("captured", report.captured),
                                 ("voided", report.voided)):
            for order_id in order_ids:
                self.stdout.write(f"  {label:<8} {order_id}")
        if report.errors:
            for order_id, error in report.errors:
                self.stderr.write(f"  error    {order_id}: {error}")
            # CommandError: manage.py prints it to stderr and exits with its returncode.
            raise CommandError(f"{len(report.errors)} of {report.checked} authorization(s) could not be settled; "
                               "they are left for the next run.", returncode=1)
