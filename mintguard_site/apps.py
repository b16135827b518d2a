from django.apps import AppConfig


class MintguardSiteConfig(AppConfig):
    name = "mintguard_site"
    verbose_name = "MintGuard site"

    def ready(self) -> None:
        # Connect the metrics and logs to the ledger's signals in every process, requests or not,
        # and stamp every sign-in (dashboard, admin, browsable API) for the session lifetime limits.
        from . import security  # noqa: F401
        from .observability import receivers  # noqa: F401
