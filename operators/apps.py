from django.apps import AppConfig
from django.db.models.signals import post_migrate


class OperatorsConfig(AppConfig):
    name = "operators"
    verbose_name = "Operators' dashboard"

    def ready(self):
        from .roles import roles_sync_after_migrate

        # Models added after the roles migration (by any app) get their view permission into the
        # roles too: this runs after every `migrate` (and test flush), once all apps' permissions
        # exist. Not tied to this app as sender: Django sends post_migrate only for apps with models.
        post_migrate.connect(roles_sync_after_migrate, dispatch_uid="operators.roles_sync")
