"""The roles (groups viewer, operator, admin with their permissions) and, on PostgreSQL, a trigger
that makes audit entries append-only (UPDATE and DELETE raise).

Permissions are normally created after all migrations ran (post_migrate); the groups need them
now, so they are created here first. Later models get into the roles through the post_migrate
hook in `operators.apps` (the same `roles_sync`).
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from operators.roles import roles_sync

APPEND_ONLY = """
CREATE OR REPLACE FUNCTION operators_audit_forbid_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'operators: the audit log is append-only'
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER operators_auditentry_append_only
    BEFORE UPDATE OR DELETE ON operators_auditentry
    FOR EACH ROW EXECUTE FUNCTION operators_audit_forbid_change();
"""
DROP_APPEND_ONLY = """
DROP TRIGGER IF EXISTS operators_auditentry_append_only ON operators_auditentry;
DROP FUNCTION IF EXISTS operators_audit_forbid_change();
"""


def create_roles(apps, schema_editor):
    using = schema_editor.connection.alias
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=using)
        app_config.models_module = None
    roles_sync(apps=apps, using=using)


def on_postgresql(sql: str):
    def operation(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return operation


class Migration(migrations.Migration):
    dependencies = [
        ("operators", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("api", "0001_initial"),
        ("ledger", "0003_reconciliation_run"),
        ("payments", "0001_initial"),
        ("wallets", "0001_initial"),
    ]

    operations = [
        # Roles only add permissions; undoing the migration leaves the groups to the administrator.
        migrations.RunPython(create_roles, migrations.RunPython.noop, elidable=False),
        migrations.RunPython(on_postgresql(APPEND_ONLY), on_postgresql(DROP_APPEND_ONLY), elidable=False),
    ]
