"""Each app's dashboard permissions move to its own models; the unmanaged `DashboardPermission` goes.

    operators.refund_order        -> payments.refund_order       (on Order)
    operators.resolve_pending     -> payments.resolve_pending    (on Order)
    operators.run_reconciliation  -> ledger.run_reconciliation   (on ReconciliationRun)
    operators.view_auditentry     -> audit.view_auditentry       (the model moved to `audit`)

Every group and user holding an old permission gets the new one before the old row goes, so an
upgraded database keeps every role's rights, hand-made groups' too. The new rows are created here
because Django creates permissions only after all migrations ran.
"""

from django.conf import settings
from django.db import migrations

MOVES = [
    (("operators", "dashboardpermission", "refund_order"), ("payments", "order", "Can refund paid orders")),
    (("operators", "dashboardpermission", "resolve_pending"),
     ("payments", "order", "Can mark pending payments paid or failed")),
    (("operators", "dashboardpermission", "run_reconciliation"),
     ("ledger", "reconciliationrun", "Can run a reconciliation")),
    (("operators", "auditentry", "view_auditentry"), ("audit", "auditentry", "Can view audit entry")),
]
STALE_MODELS = ("dashboardpermission", "auditentry")


def move_permissions(apps, schema_editor):
    using = schema_editor.connection.alias
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    User = apps.get_model(settings.AUTH_USER_MODEL)
    for (old_app, old_model, codename), (app, model, name) in MOVES:
        content_type, _ = ContentType.objects.using(using).get_or_create(app_label=app, model=model)
        new, _ = Permission.objects.using(using).get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        old = Permission.objects.using(using).filter(
            content_type__app_label=old_app, content_type__model=old_model, codename=codename
        ).first()
        if old is None:
            continue
        for group in Group.objects.using(using).filter(permissions=old):
            group.permissions.add(new)
        for user in User.objects.using(using).filter(user_permissions=old):
            user.user_permissions.add(new)
        old.delete()
    ContentType.objects.using(using).filter(app_label="operators", model__in=STALE_MODELS).delete()


class Migration(migrations.Migration):

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("operators", "0003_audit_entry_moves_to_audit"),
        ("audit", "0001_initial"),
        ("ledger", "0008_reconciliation_run_permission"),
        ("payments", "0004_order_permissions"),
    ]

    operations = [
        # Grants only move forward; undoing leaves the permissions where they are now.
        migrations.RunPython(move_permissions, migrations.RunPython.noop, elidable=False),
        migrations.DeleteModel(name="DashboardPermission"),
    ]
