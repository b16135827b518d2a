"""Root URLconf: admin, API (v1 + schema and docs) and dashboard routes."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from mintguard_site import health
from mintguard_site.api.errors import api_not_found
from mintguard_site.observability.views import metrics_view
from operators import views as operators_views

api_v1 = [
    path("", include("ledger.api.urls")),
    path("wallets/", include("wallets.api.urls")),
    path("", include("payments.api.urls")),
    path("", include("events.api.urls")),
]

# The browsable API links to `rest_framework:login` and `rest_framework:logout`: both are the
# dashboard's own views, so there is one sign-in, guarded by django-axes like every other.
browsable_api_auth = ([
    path("login/", operators_views.login_view, name="login"),
    path("logout/", operators_views.logout_view, name="logout"),
], "rest_framework")

urlpatterns = [
    # Operations: public probes, and metrics behind MINTGUARD_METRICS_TOKEN when it is set.
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script for the CSP.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("api-auth/", include(browsable_api_auth)),
    # Unknown API paths answer in problem+json even with DEBUG on.
    re_path(r"^api/", api_not_found),
    # The operators' dashboard: server-rendered pages with htmx.
    path("", include("operators.urls")),
    path("", include("payments.urls")),
    path("", include("ledger.urls")),
    path("", include("wallets.urls")),
    path("", include("events.urls")),
]

handler400 = "mintguard_site.api.errors.handler400"
handler404 = "mintguard_site.api.errors.handler404"
handler500 = "mintguard_site.api.errors.handler500"
