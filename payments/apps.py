from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"
    verbose_name = "Payments"

    def ready(self) -> None:
        from . import checks, reconciliation  # noqa: F401 - checks registers the system checks

        reconciliation.register()
