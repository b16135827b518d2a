"""The dashboard's "run a reconciliation" permission, declared on the model it concerns.

It was `operators.run_reconciliation` (on an unmanaged model); `operators` migration 0004 moves
every group's and user's grant to this one.
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0007_posting_function_by_index'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='reconciliationrun',
            options={'ordering': ['-started_at', '-id'], 'permissions': [('run_reconciliation', 'Can run a reconciliation')]},
        ),
    ]
