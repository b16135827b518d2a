"""Seed demo data through the same services the API uses. Running it twice changes nothing."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from ledger.models import Account, ReconciliationRun
from ledger.reconciliation import reconcile_run
from ledger.services import account_create, deposit
from mintguard_site.api.models import ApiClient, hash_api_key
from mintguard_site.api.services import api_client_create
from operators.seed import seed_demo_activity, seed_demo_users
from payments.seed import seed_demo_orders
from wallets.seed import seed_demo_wallets

# Demo credentials: fixed so the README can show them and re-seeding keeps them valid.
DEMO_API_KEY = "mg_demo_local_only_key_do_not_use_in_production"  # noqa: S105
DEMO_PASSWORD = "mintguard-demo"  # noqa: S105  # nosec B105 - a documented demo login
DEMO_CUSTOMERS = [("Alice", "USD", 50_000), ("Bob", "USD", 12_000), ("Chiyo", "JPY", 30_000), ("Dmitri", "GOLD", 40)]


class Command(BaseCommand):
    help = "Create a demo API client, operators and funded demo accounts (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        client = ApiClient.objects.filter(key_hash=hash_api_key(DEMO_API_KEY)).first()
        if client is None:
            client, _ = api_client_create(name="demo", key=DEMO_API_KEY)
        owner = client.owner

        User = get_user_model()
        admin, created = User.objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True, "email": "admin@example.com"}
        )
        if created:
            admin.set_password(DEMO_PASSWORD)
            admin.save()

        for name, currency, opening in DEMO_CUSTOMERS:
            account = Account.objects.filter(owner=owner, name=name, currency=currency).first()
            if account is None:
                account = account_create(owner=owner, name=name, currency=currency)
            deposit(account=account, amount=opening, reference=f"seed:opening:{name}", owner=owner,
                    description="Opening balance")

        self.stdout.write(f"Demo accounts: {', '.join(name for name, *_ in DEMO_CUSTOMERS)}")
        for line in seed_demo_wallets(owner=owner):
            self.stdout.write(line)
        logins = seed_demo_users(password=DEMO_PASSWORD)
        orders = seed_demo_orders(owner=owner)
        orders += seed_demo_activity(owner=owner, operator=User.objects.get(username="operator"))
        self.stdout.write(f"Demo orders: {len(orders)} (paid, refunded, declined, pending, unpaid)")
        if not ReconciliationRun.objects.exists():
            run = reconcile_run()
            self.stdout.write(f"Reconciliation: {'clean' if run.ok else f'{run.drift_count} drift(s)'}")
        self.stdout.write("Dashboard:      http://127.0.0.1:8000/  (admin: http://127.0.0.1:8000/admin/)")
        for username, role in logins:
            self.stdout.write(f"Login ({role + '):':<10} {username} / {DEMO_PASSWORD}")
        self.stdout.write(f"Demo API key:   {DEMO_API_KEY}")
