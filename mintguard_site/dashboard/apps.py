from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """Installed for the dashboard's template tags (`{% load dashboard %}`); it has no models."""

    name = "mintguard_site.dashboard"
    label = "dashboard"
    verbose_name = "Dashboard frame"
