"""Root URLconf: admin, API (v1 + schema and docs) and dashboard routes."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from mintguard_site.api.errors import api_not_found

api_v1 = [
    path("", include("ledger.api.urls")),
    path("wallets/", include("wallets.api.urls")),
    path("", include("payments.api.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("api-auth/", include("rest_framework.urls")),
    # Unknown API paths answer in problem+json even with DEBUG on.
    re_path(r"^api/", api_not_found),
]

handler400 = "mintguard_site.api.errors.handler400"
handler404 = "mintguard_site.api.errors.handler404"
handler500 = "mintguard_site.api.errors.handler500"
