"""The dashboard's roles: Django groups holding Django permissions.

    viewer    reads everything: view_* on every model of ledger, payments, wallets, events and the audit log
    operator  viewer + refund orders, resolve pending payments, run reconciliation, void holds,
              resend webhook deliveries, enable or disable webhook endpoints, import settlement
              files and resolve their breaks
    admin     operator + manage API keys (api.view/add/change_apiclient), reverse a client's deposit,
              withdrawal or transfer (ledger.reverse_transaction)

Every view checks a permission, never a group name, so a superuser (who has every permission)
passes every check and a custom group works as well as these three.
"""

from django.apps import apps as global_apps
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Q

VIEWER, OPERATOR, ADMIN = "viewer", "operator", "admin"

VIEWED_APPS = ("ledger", "payments", "wallets", "events", "audit")
# Each app declares its dashboard actions in its models' Meta.permissions.
OPERATOR_PERMISSIONS = ("payments.refund_order", "payments.resolve_pending", "ledger.run_reconciliation",
                        "ledger.void_hold", "events.resend_delivery", "events.change_endpoint_state",
                        "payments.import_settlement", "payments.resolve_settlement_break")
ADMIN_PERMISSIONS = ("api.view_apiclient", "api.add_apiclient", "api.change_apiclient", "ledger.reverse_transaction")


def role_permissions(Permission, role: str):
    """Return the Permission rows of a role, as a queryset of the given Permission model."""
    granted = Q(content_type__app_label__in=VIEWED_APPS, codename__startswith="view_")
    named = (*OPERATOR_PERMISSIONS, *ADMIN_PERMISSIONS) if role == ADMIN else OPERATOR_PERMISSIONS
    if role in (OPERATOR, ADMIN):
        for perm in named:
            app_label, codename = perm.split(".")
            granted |= Q(content_type__app_label=app_label, codename=codename)
    return Permission.objects.filter(granted)


def roles_sync(*, apps=global_apps, using: str = DEFAULT_DB_ALIAS) -> None:
    """Create the three groups and grant them every permission of their role that is missing.

    Grants only add: permissions an administrator gave a group by hand stay.
    """
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role in (VIEWER, OPERATOR, ADMIN):
        group, _ = Group.objects.using(using).get_or_create(name=role)
        group.permissions.add(*role_permissions(Permission, role).using(using))


def roles_sync_after_migrate(sender, using=DEFAULT_DB_ALIAS, apps=global_apps, **kwargs) -> None:
    """Sync the roles once per `migrate`, after the last app's permissions exist.

    post_migrate comes once per app with models, in INSTALLED_APPS order, each creating its own
    permissions; so the roles are synced when it comes for the last of them.
    """
    with_models = [config for config in global_apps.get_app_configs() if config.models_module is not None]
    if sender is with_models[-1]:
        roles_sync(apps=apps, using=using)
