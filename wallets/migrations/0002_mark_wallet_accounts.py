"""Mark every wallet's ledger account as managed by the wallets app.

From now on `wallet_get_or_create` opens them so; the generic account routes refuse to move them.
"""

from django.db import migrations


def mark_wallet_accounts(apps, schema_editor):
    Account = apps.get_model("ledger", "Account")
    Wallet = apps.get_model("wallets", "Wallet")
    Account.objects.filter(pk__in=Wallet.objects.values("account_id")).update(managed_by="wallet")


def unmark_wallet_accounts(apps, schema_editor):
    Account = apps.get_model("ledger", "Account")
    Account.objects.filter(managed_by="wallet").update(managed_by="")


class Migration(migrations.Migration):

    dependencies = [
        ("ledger", "0005_reference_namespace_and_managed_accounts"),
        ("wallets", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(mark_wallet_accounts, unmark_wallet_accounts, elidable=False),
    ]
