from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "mintguard_site.api"
    label = "api"
    verbose_name = "API platform"

    def ready(self):
        from . import schema  # noqa: F401 - registers the OpenAPI security scheme
