"""Reversals: a `Reversal` row links a transaction to the one that reverses it (model invariant 10).

A table of its own, not a column on `ledger_transaction`: the posting function `ledger_post`
inserts the transaction row and transactions are append-only, so nothing could set such a column
afterwards. The row's primary key is the original transaction: a second reversal fails on it.
On PostgreSQL the row is append-only, as the transactions it links (`ledger_forbid_change`, 0002).
"""

from importlib import import_module

import django.db.models.deletion
from django.db import migrations, models

posting_function = import_module("ledger.migrations.0006_posting_function")

FORWARD = """
CREATE TRIGGER ledger_reversal_append_only
    BEFORE UPDATE OR DELETE ON ledger_reversal
    FOR EACH ROW EXECUTE FUNCTION ledger_forbid_change();
"""

BACKWARD = "DROP TRIGGER IF EXISTS ledger_reversal_append_only ON ledger_reversal;"


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0013_hold_capture_locks_first'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='transaction',
            options={'permissions': [('reverse_transaction', 'Can reverse a transaction')]},
        ),
        migrations.CreateModel(
            name='Reversal',
            fields=[
                ('original', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, primary_key=True, related_name='reversed_by', serialize=False, to='ledger.transaction')),
                ('reversal', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='reverses', to='ledger.transaction')),
            ],
            options={
                'constraints': [models.CheckConstraint(condition=models.Q(('original', models.F('reversal')), _negated=True), name='ledger_reversal_not_itself')],
            },
        ),
        migrations.RunPython(posting_function.run_on_postgresql(FORWARD), posting_function.run_on_postgresql(BACKWARD),
                             elidable=False),
    ]
