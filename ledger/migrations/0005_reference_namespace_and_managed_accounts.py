"""System references get their own namespace; accounts say which app alone may move them.

- `Transaction.namespace`: existing payment and refund transactions carry references our code
  derived (`payment:<id>`, `refund:<id>`), so they are `system`; every other kind carries a value
  a client chose (an idempotency key, a wallet `reference_id`, a seed's fixed key), so `client`.
  The reference is then unique per (owner, namespace, reference).
- `Account.managed_by`: blank here; the wallets app marks its accounts in its own migration
  (the ledger knows no wallet).
"""

from django.db import migrations, models

SYSTEM_KINDS = ("payment", "refund")


def classify_references(apps, schema_editor):
    Transaction = apps.get_model("ledger", "Transaction")
    postgresql = schema_editor.connection.vendor == "postgresql"
    # Transactions are append-only (0002's trigger); this one-off classification is the exception.
    if postgresql:
        schema_editor.execute("ALTER TABLE ledger_transaction DISABLE TRIGGER ledger_transaction_append_only")
    Transaction.objects.filter(kind__in=SYSTEM_KINDS).update(namespace="system")
    if postgresql:
        schema_editor.execute("ALTER TABLE ledger_transaction ENABLE TRIGGER ledger_transaction_append_only")


class Migration(migrations.Migration):

    dependencies = [
        ("ledger", "0004_balance_buckets"),
    ]

    operations = [
        migrations.AddField(
            model_name="account",
            name="managed_by",
            field=models.CharField(blank=True, choices=[("", "None"), ("wallet", "Wallet")], default="",
                                   max_length=16),
        ),
        migrations.AddField(
            model_name="transaction",
            name="namespace",
            field=models.CharField(choices=[("client", "Client"), ("system", "System")], default="client",
                                   max_length=6),
            preserve_default=False,
        ),
        migrations.RunPython(classify_references, migrations.RunPython.noop, elidable=False),
        migrations.RemoveConstraint(model_name="transaction", name="ledger_transaction_reference_unique"),
        migrations.AddConstraint(
            model_name="transaction",
            constraint=models.UniqueConstraint(fields=("owner", "namespace", "reference"),
                                               name="ledger_transaction_reference_unique"),
        ),
        migrations.AddConstraint(
            model_name="transaction",
            constraint=models.CheckConstraint(condition=models.Q(("namespace__in", ["client", "system"])),
                                              name="ledger_transaction_namespace_valid"),
        ),
    ]
