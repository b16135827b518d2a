"""Balances move from one `AccountBalance` row per account to `BalanceBucket` rows.

Every existing balance becomes bucket 0 of its account, with its entry numbers; postings so far
are all in bucket 0. System accounts get their other buckets on first use.
"""

import django.db.models.deletion
from django.db import migrations, models


def copy_balances(apps, schema_editor):
    AccountBalance = apps.get_model("ledger", "AccountBalance")
    BalanceBucket = apps.get_model("ledger", "BalanceBucket")
    rows = AccountBalance.objects.order_by("account_id").values_list(
        "account_id", "balance", "last_entry_number", "allow_negative"
    )
    BalanceBucket.objects.bulk_create(
        (BalanceBucket(account_id=account_id, bucket=0, balance=balance, last_entry_number=last_entry,
                       allow_negative=allow_negative)
         for account_id, balance, last_entry, allow_negative in rows.iterator(chunk_size=2000)),
        batch_size=2000,
    )


class Migration(migrations.Migration):

    dependencies = [
        ("ledger", "0003_reconciliation_run"),
    ]

    operations = [
        migrations.CreateModel(
            name="BalanceBucket",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("account", models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT,
                                              related_name="balance_buckets", to="ledger.account")),
                ("bucket", models.PositiveSmallIntegerField(default=0)),
                ("balance", models.BigIntegerField(default=0)),
                ("last_entry_number", models.BigIntegerField(default=0)),
                ("allow_negative", models.BooleanField(default=False)),
            ],
        ),
        migrations.RunPython(copy_balances, migrations.RunPython.noop),
        migrations.DeleteModel(name="AccountBalance"),
        migrations.AddConstraint(
            model_name="balancebucket",
            constraint=models.UniqueConstraint(fields=("account", "bucket"), name="ledger_balance_bucket_unique"),
        ),
        migrations.AddConstraint(
            model_name="balancebucket",
            constraint=models.CheckConstraint(condition=models.Q(("allow_negative", True), ("bucket", 0), _connector="OR"),
                                              name="ledger_balance_one_bucket"),
        ),
        migrations.AddConstraint(
            model_name="balancebucket",
            constraint=models.CheckConstraint(
                condition=models.Q(("allow_negative", True), ("balance__gte", 0), _connector="OR"),
                name="ledger_balance_not_negative"),
        ),
        migrations.AddConstraint(
            model_name="balancebucket",
            constraint=models.CheckConstraint(
                condition=models.Q(("balance__gte", -9000000000000000000), ("balance__lte", 9000000000000000000)),
                name="ledger_balance_within_limit"),
        ),
        migrations.AddConstraint(
            model_name="balancebucket",
            constraint=models.CheckConstraint(condition=models.Q(("last_entry_number__gte", 0)),
                                              name="ledger_balance_entry_number"),
        ),
        migrations.RemoveConstraint(model_name="posting", name="ledger_posting_entry_unique"),
        migrations.AddField(
            model_name="posting",
            name="bucket",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddConstraint(
            model_name="posting",
            constraint=models.UniqueConstraint(fields=("account", "bucket", "entry_number"),
                                               name="ledger_posting_entry_unique"),
        ),
    ]
