"""The audit log moves to the `audit` app: removed from this app's state only.

The table (`operators_auditentry`), its rows and its append-only trigger stay; `audit` 0001 takes
the model into its state with the same table.
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("operators", "0002_roles_and_append_only_audit"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="AuditEntry")],
            database_operations=[],
        ),
    ]
