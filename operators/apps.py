from django.apps import AppConfig
from django.db.models.signals import post_migrate


class OperatorsConfig(AppConfig):
    name = "operators"
    verbose_name = "Operators' dashboard"

    def ready(self):
        from .roles import roles_sync_after_migrate

        # Models added after the roles migration (by any app) get their view permission into the
        # roles too: this runs after every `migrate`, once all apps' permissions exist.
        post_migrate.connect(roles_sync_after_migrate, sender=self, dispatch_uid="operators.roles_sync")
