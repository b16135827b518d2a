"""Seed demo data through the same services the API uses. Running it twice changes nothing."""

import logging

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from ledger.models import Account, ReconciliationRun
from ledger.reconciliation import reconcile_run
from ledger.services import account_create, deposit
from mintguard_site.api.models import ApiClient, hash_api_key
from mintguard_site.api.services import api_client_create
from operators.seed import seed_demo_activity, seed_demo_users
from payments.seed import seed_demo_orders
from wallets.seed import seed_demo_wallets

logger = logging.getLogger(__name__)

# Demo credentials: fixed so the README can show them and re-seeding keeps them valid.
DEMO_API_KEY = "mg_demo_local_only_key_do_not_use_in_production"  # noqa: S105
DEMO_PASSWORD = "mintguard-demo"  # noqa: S105  # nosec B105 - a documented demo login
DEMO_CUSTOMERS = [("Alice", "USD", 50_000), ("Bob", "USD", 12_000), ("Chiyo", "JPY", 30_000), ("Dmitri", "GOLD", 40)]


class Command(BaseCommand):
    help = (
        "Create a demo API client, operators and funded demo accounts (idempotent). Each demo item is seeded "
        "in its own transaction: one that fails is reported and skipped, the rest are seeded, and the command "
        "exits 1."
    )

    def handle(self, *args, **options):
        # The API client and the superuser come first: every item below needs them.
        with transaction.atomic():
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

        self.failures = []
        for name, currency, opening in DEMO_CUSTOMERS:
            self._seed(f"demo account {name}", self._demo_account, owner=owner, name=name, currency=currency,
                       opening=opening)
        self.stdout.write(f"Demo accounts: {', '.join(name for name, *_ in DEMO_CUSTOMERS)}")
        for line in self._seed("demo wallets", seed_demo_wallets, owner=owner) or []:
            self.stdout.write(line)
        logins = self._seed("demo users", seed_demo_users, password=DEMO_PASSWORD) or []
        orders = self._seed("demo orders", seed_demo_orders, owner=owner) or []
        if logins:
            orders += self._seed("demo activity", seed_demo_activity, owner=owner,
                                 operator=User.objects.get(username="operator")) or []
        self.stdout.write(f"Demo orders: {len(orders)} (paid, refunded, declined, pending, unpaid)")
        if not ReconciliationRun.objects.exists():
            run = reconcile_run()
            self.stdout.write(f"Reconciliation: {'clean' if run.ok else f'{run.drift_count} drift(s)'}")
        self.stdout.write("Dashboard:      http://127.0.0.1:8000/  (admin: http://127.0.0.1:8000/admin/)")
        for username, role in logins:
            self.stdout.write(f"Login ({role + '):':<10} {username} / {DEMO_PASSWORD}")
        self.stdout.write(f"Demo API key:   {DEMO_API_KEY}")
        if self.failures:
            # CommandError: manage.py prints it to stderr and exits with its returncode.
            raise CommandError(f"{len(self.failures)} demo item(s) could not be seeded: {', '.join(self.failures)}; "
                               "running seed_demo again retries them.", returncode=1)

    def _seed(self, label: str, seed, **kwargs):
        """Seed one item in its own transaction; a failure is logged, counted and skipped (returns None)."""
        try:
            with transaction.atomic():
                return seed(**kwargs)
        except Exception as exc:
            logger.exception("seeding %s failed", label)
            self.stderr.write(f"Could not seed {label}: {type(exc).__name__}: {exc}")
            self.failures.append(label)
            return None

    @staticmethod
    def _demo_account(*, owner: str, name: str, currency: str, opening: int) -> None:
        account = Account.objects.filter(owner=owner, name=name, currency=currency).first()
        if account is None:
            account = account_create(owner=owner, name=name, currency=currency)
        deposit(account_id=account.id, amount=opening, reference=f"seed:opening:{name}", owner=owner,
                description="Opening balance")
