"""Seed demo data through the same services the API uses. Running it twice changes nothing."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from ledger.models import Account
from ledger.services import account_create, deposit

DEMO_OWNER = "demo"
DEMO_PASSWORD = "mintguard-demo"  # noqa: S105 - demo data only, printed for the operator
DEMO_CUSTOMERS = [("Alice", "USD", 50_000), ("Bob", "USD", 12_000), ("Chiyo", "JPY", 30_000), ("Dmitri", "GOLD", 40)]


class Command(BaseCommand):
    help = "Create demo operators and funded demo accounts (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        admin, created = User.objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True, "email": "admin@example.com"}
        )
        if created:
            admin.set_password(DEMO_PASSWORD)
            admin.save()

        for name, currency, opening in DEMO_CUSTOMERS:
            account = Account.objects.filter(owner=DEMO_OWNER, name=name, currency=currency).first()
            if account is None:
                account = account_create(owner=DEMO_OWNER, name=name, currency=currency)
            deposit(account=account, amount=opening, reference=f"seed:opening:{name}", owner=DEMO_OWNER,
                    description="Opening balance")

        self.stdout.write(f"Demo accounts: {', '.join(name for name, *_ in DEMO_CUSTOMERS)}")
        self.stdout.write(f"Operator login: admin / {DEMO_PASSWORD}  (http://127.0.0.1:8000/admin/)")
